"""The `gpu` target: Triton (default) or CUDA C++ kernels for NVIDIA GPUs, KernelBench-style.

A problem is a PyTorch `reference()` plus real shapes and small `[check]` shapes. With a CUDA
GPU, kernels are checked at the real shapes and timed against the initial code, PyTorch eager
and torch.compile (evaluator.py). Without one, `emulated_evaluator()` checks Triton kernels
under Triton's interpreter on the small shapes: correct or not, never timed (`--emulate`).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from autocomp.errors import UserError
from autocomp.evaluation.result import EvalResult
from autocomp.problem import Problem
from autocomp.targets.base import HardwareFacts, Target
from autocomp.targets.gpu.evaluator import GpuEvaluator
from autocomp.targets.gpu.job import UNTIMED
from autocomp.targets.gpu.languages import CUDA, TRITON

HERE = Path(__file__).parent
INSTALL = "pip install -e '.[gpu]'"


def missing_packages() -> str | None:
    """Why the gpu extra is not usable here (torch or triton missing), or None."""
    absent = [m for m in ("torch", "triton") if importlib.util.find_spec(m) is None]
    return f"the gpu target needs {' and '.join(absent)}: {INSTALL}" if absent else None


@lru_cache(maxsize=1)
def cuda_device() -> dict[str, Any] | None:
    """The first CUDA device's facts, or None without one (torch imported only here)."""
    if missing_packages():
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {"name": props.name, "sms": props.multi_processor_count, "memory_gb": props.total_memory / 1e9,
            "capability": f"{props.major}.{props.minor}"}


def nominal_specs(device_name: str) -> dict[str, Any] | None:
    """The devices.toml row whose `match` is in `device_name` (nominal datasheet numbers)."""
    table = tomllib.loads((HERE / "devices.toml").read_text())["device"]
    return next((row for row in table if row["match"] in device_name), None)


class GpuTarget(Target):
    name = "gpu"
    root = HERE
    languages = (TRITON, CUDA)

    def unavailable_reason(self) -> str | None:
        missing = missing_packages()
        if missing:
            return missing
        if cuda_device() is None:
            return ("no CUDA GPU (torch.cuda.is_available() is False); without one, `autocomp eval gpu/NAME --emulate` "
                    "and `autocomp optimize gpu/NAME --emulate` check Triton kernels under Triton's interpreter on small "
                    "shapes (correctness only, not timed)")
        return None

    def resources(self, problem: Problem) -> dict[str, float]:
        """On Ray, only nodes with a GPU."""
        return {"CPU": 1, "GPU": 1}

    def hardware(self) -> HardwareFacts:
        device = cuda_device()
        if device is None:
            return HardwareFacts(description="no CUDA GPU on this machine: kernels are checked under Triton's interpreter "
                                             "on small shapes (correctness only, never timed)", peak_flops={})
        specs = nominal_specs(device["name"])
        text = (f"{device['name']}: {device['sms']} SMs, compute capability {device['capability']}, "
                f"{device['memory_gb']:.0f} GB device memory")
        if specs is None:
            return HardwareFacts(description=text + "; no peak figures known for it (utilization not reported)", peak_flops={})
        peaks = ", ".join(f"{k} {v:g}" for k, v in specs["tflops"].items())
        text += (f"; nominal (datasheet, not measured) dense tensor-core peaks in TFLOP/s: {peaks}; "
                 f"nominal HBM bandwidth {specs['hbm_tb_s']} TB/s, L2 {specs['l2_mb']} MB")
        return HardwareFacts(description=text, peak_flops={k: v * 1e12 for k, v in specs["tflops"].items()})

    def evaluator(self, problem: Problem, settings: Any) -> GpuEvaluator:
        """The GPU evaluator (real shapes, timed); callers check `unavailable_reason` first."""
        return GpuEvaluator(problem, settings, "cuda", self.hardware().peak_for(problem))

    def emulated_evaluator(self, problem: Problem, settings: Any = None) -> GpuEvaluator:
        """Triton's interpreter on CPU tensors at the problem's [check] shapes: correctness only
        (settings: [eval]'s, default ones when None). A CUDA C++ kernel is compiled, not run."""
        from autocomp.config import EvalConfig

        settings = settings if settings is not None else EvalConfig()
        missing = missing_packages()
        if missing:
            raise UserError(missing)
        if problem.spec.check is None and problem.language is TRITON:
            raise UserError(f"{problem.name} has no [check] table of small shapes, which the interpreter needs "
                            "(docs/problem-format.md)")
        return GpuEvaluator(problem, settings.model_copy(update={"time": False}), "interpret")

    def feedback(self, problem: Problem, result: EvalResult) -> str:
        if not result.correct:
            return f"The code is incorrect: {result.summary()}"
        d = result.details
        if not d.get("timed"):
            return f"The code is correct ({d.get('untimed', UNTIMED)}); no performance figures exist for it."
        lines = [f"Latency: {result.latency_s * 1e3:.4g} ms on {d.get('device')} (median of interleaved rounds, CUDA "
                 f"events, {d.get('caches')}).", f"Throughput: {d.get('tflops', 0):.4g} TFLOP/s."]
        if result.utilization is not None:
            lines.append(f"Utilization: {result.utilization * 100:.1f}% of the device's nominal dense peak.")
        if result.speedup:
            lines.append(f"Speedup over the initial code: {result.speedup:.2f}x (same run, interleaved).")
        for key, label in (("speedup_vs_eager", "PyTorch eager"), ("speedup_vs_compile", "torch.compile")):
            if d.get(key):
                lines.append(f"Versus {label}: {d[key]:.2f}x.")
        return "\n".join(lines)
