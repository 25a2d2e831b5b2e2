"""The gpu target's evaluator: static policy, (for CUDA C++) a compile check, then the trusted
driver in sandboxed children: the candidate's process, and a checker that never loads it.

Two modes share every step:
- `interpret` (no GPU needed): Triton's interpreter on CPU tensors at the problem's `[check]`
  shapes; correct or not, never timed (`UNTIMED` says so in every result).
- `cuda`: the real shapes on the GPU, checked the same way, then timed against the initial
  code (the score's baseline, as on every target), eager `reference()` and
  `torch.compile(reference)` (in `details`).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from autocomp.evaluation import sandbox, scratch
from autocomp.evaluation.result import EvalResult, MetricKind, Outcome
from autocomp.problem import Problem
from autocomp.targets.gpu import policy
from autocomp.targets.gpu.driver import tail
from autocomp.targets.gpu.job import CANDIDATE_FILE, JOB_FILE, OUTPUTS_DIR, RIVAL_FILE, UNTIMED, Job, TensorArg

DRIVER = "autocomp.targets.gpu.driver"
NO_GPU = "compiled; not run (no GPU): a CUDA C++ kernel runs only on a CUDA GPU, so nothing checked its answers"
# what torch's inline loader puts ahead of CUDA sources, and the flags it compiles them with
CUDA_PRELUDE = "#include <torch/types.h>\n#include <cuda.h>\n#include <cuda_runtime.h>\n"
NVCC_FLAGS = ("-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__", "-D__CUDA_NO_BFLOAT16_CONVERSIONS__",
              "-D__CUDA_NO_HALF2_OPERATORS__", "--expt-relaxed-constexpr", "-std=c++17")
NVCC_TIMEOUT_S = 600.0  # torch's headers take nvcc minutes on a loaded two-core machine
_gpu_timing = threading.Lock()  # one timed GPU child at a time in this process


class GpuEvaluator:
    """Evaluates Triton (or CUDA C++) candidates for one problem; see the module docstring."""

    metric = MetricKind.LATENCY  # CUDA-event time on a GPU; no value at all under the interpreter

    def __init__(self, problem: Problem, settings: Any, mode: str, peak_flops: float | None = None) -> None:
        self.problem, self.settings, self.mode, self.peak_flops = problem, settings, mode, peak_flops
        self.language = problem.language.key
        self.exclusive_timing = mode == "cuda" and bool(settings.time)
        self.workdir = scratch.make("autocomp-eval-")
        self._count = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def evaluate(self, code: str, seed: int | None = None) -> EvalResult:
        return self._evaluate(code, self.problem.initial_code, seed)

    def duel(self, code: str, rival: str) -> EvalResult:
        """`code` timed against `rival` in one child; untimed (speedup None) under the interpreter."""
        if not self.exclusive_timing:
            return EvalResult(outcome=Outcome.OK, details={"timed": False, "untimed": self.untimed_note})
        return self._evaluate(code, rival, None)

    @property
    def untimed_note(self) -> str:
        return UNTIMED if self.mode == "interpret" else "correctness only ([eval] time = false); not timed"

    # ---- the steps ---------------------------------------------------------------------------

    def _evaluate(self, code: str, rival: str, seed: int | None) -> EvalResult:
        static = policy.check_cuda(code) if self.language == "cuda" else policy.check_triton(code)
        if static is not None:
            return EvalResult(outcome=Outcome(static[0]), error=static[1])
        folder = self._folder()
        try:
            if self.language == "cuda":
                failure = self._compile_cuda(code, folder)
                if failure is not None:
                    return failure
                if self.mode == "interpret":
                    return EvalResult(outcome=Outcome.UNVERIFIED, error=NO_GPU, details={"compiled": True})
            (folder / CANDIDATE_FILE).write_text(code)
            (folder / RIVAL_FILE).write_text(rival)
            job = self._job(seed)
            (folder / JOB_FILE).write_text(job.model_dump_json())
            with _gpu_timing if self.exclusive_timing else contextlib.nullcontext():
                report, failure = self._child("run", folder, job)
            if failure is not None:
                return failure
            labels = {f"t{i}": s for i, s in enumerate(job.seeds)}
            timing = report.get("timing")
            if timing is not None:
                labels["timed"] = timing["checked_seed"]
            (folder / "check.json").write_text(json.dumps(labels))
            job = job.model_copy(update={"nonce": secrets.token_hex(16)})
            (folder / JOB_FILE).write_text(job.model_dump_json())  # ours again, whatever the candidate's process did
            verdict, failure = self._child("check", folder, job)
            if failure is not None:
                return failure.model_copy(update={"outcome": Outcome.HARNESS_ERROR})
            if verdict["outcome"] != "ok":
                return EvalResult(outcome=Outcome(verdict["outcome"]), error=verdict.get("error"))
            return self._result(job, report)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _folder(self) -> Path:
        with self._lock:
            self._count += 1
            folder = self.workdir / f"c{self._count}"
        folder.mkdir()
        return folder

    def _job(self, seed: int | None) -> Job:
        """The shapes, seeds and settings of one evaluation (fresh seeds unless given)."""
        rng = random.Random(seed) if seed is not None else random.SystemRandom()
        spec = self.problem.spec
        check = spec.check if self.mode == "interpret" else None
        tensors = []
        for t in spec.inputs:
            tensors.append(TensorArg(name=t.name, role="input", dtype=t.dtype, shape=_shape(t.name, t.shape, check),
                                     distribution=t.distribution.model_dump()))
        for t in spec.outputs:
            tensors.append(TensorArg(name=t.name, role="output", dtype=t.dtype, shape=_shape(t.name, t.shape, check),
                                     tolerance=t.tolerance.model_dump()))
        scalars = {**spec.scalars, **(check.scalars if check is not None else {})}
        timed = self.mode == "cuda" and bool(self.settings.time)
        return Job(mode=self.mode, language=self.language, problem_dir=str(self.problem.root), entry=spec.kernel.entry,
                   args=list(spec.kernel.args), tensors=tensors, scalars=scalars,
                   seeds=[rng.randrange(2**31) for _ in range(self.settings.trials)], time=timed,
                   timing_seeds=[rng.randrange(2**31) for _ in range(3)] if timed else [],
                   checked_call=rng.randrange(self.settings.min_reps) if timed else 0,
                   warmup=max(1, self.settings.warmup), reps_per_round=max(1, self.settings.min_reps),
                   min_time_s=self.settings.min_time_s, flops=spec.flops, peak_flops=self.peak_flops,
                   nonce=secrets.token_hex(16))

    def _child(self, role: str, folder: Path, job: Job) -> tuple[dict[str, Any], EvalResult | None]:
        """Run the driver as a sandboxed child; (its report, or the failure it amounts to)."""
        env = {"TRITON_INTERPRET": "1"} if job.mode == "interpret" else gpu_env()
        limits = sandbox.Limits(timeout_s=max(self.settings.timeout_s, 120.0 if job.mode == "interpret" else 300.0),
                                # CUDA reserves address space for the whole device and host memory
                                address_space_bytes=(16 << 30) if job.mode == "interpret" else (1 << 47),
                                open_files=1024)
        devices = sorted(Path("/dev").glob("nvidia*")) if job.mode == "cuda" else []
        libraries = [Path(p) for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
        res = sandbox.run_python(DRIVER, [role, str(folder)], folder, limits, readable=(self.problem.root, *libraries),
                                 extra_env=env, devices=devices)
        lines = [line.removeprefix(job.nonce + " ") for line in res.stdout.splitlines() if line.startswith(job.nonce + " {")]
        if res.timed_out:
            return {}, EvalResult(outcome=Outcome.TIMEOUT, error=f"the {role} step ran past {limits.timeout_s:.0f} s; killed")
        if res.signal_name:
            return {}, EvalResult(outcome=Outcome.CRASH, error=f"the {role} step died with {res.signal_name}\n{tail(res.stderr, 20)}")
        if not lines:
            return {}, EvalResult(outcome=Outcome.CRASH, error=f"the {role} step exited ({res.returncode}) without a result\n"
                                                              f"{tail(res.stderr, 20)}")
        report = json.loads(lines[-1])
        if role == "run" and report.get("outcome") != "ok":
            return report, EvalResult(outcome=Outcome(report["outcome"]), error=report.get("error"))
        return report, None

    def _compile_cuda(self, code: str, folder: Path) -> EvalResult | None:
        """nvcc on the code as torch's inline loader would build it (compile only; no GPU needed)."""
        nvcc = shutil.which("nvcc", path=sandbox.SAFE_PATH)
        if nvcc is None:
            return EvalResult(outcome=Outcome.HARNESS_ERROR, error="nvcc is not on PATH (/usr/local/bin, /usr/bin, /bin): "
                                                                   "install the CUDA toolkit to build CUDA C++ kernels")
        includes = torch_includes()
        if not includes:
            return EvalResult(outcome=Outcome.HARNESS_ERROR,
                              error="torch's C++ headers were not found: pip install -e '.[gpu]'")
        source = folder / "candidate.cu"
        source.write_text(CUDA_PRELUDE + code)
        argv = [nvcc, "-c", *NVCC_FLAGS, *(f"-I{p}" for p in includes), str(source), "-o", str(folder / "candidate.o")]
        res = sandbox.run(argv, folder, sandbox.Limits(timeout_s=NVCC_TIMEOUT_S, address_space_bytes=32 << 30),
                          readable=sandbox.python_folders())
        if res.timed_out:
            return EvalResult(outcome=Outcome.TIMEOUT, error=f"nvcc ran past {NVCC_TIMEOUT_S:.0f} s")
        if res.returncode != 0:
            lines = CUDA_PRELUDE.count("\n")
            return EvalResult(outcome=Outcome.COMPILE_ERROR,
                              error=f"nvcc failed (line numbers are the kernel's plus {lines}):\n{tail(res.stderr, 40)}")
        return None

    def _result(self, job: Job, report: dict[str, Any]) -> EvalResult:
        timing = report.get("timing")
        if timing is None:
            return EvalResult(outcome=Outcome.OK, details={"timed": False, "untimed": self.untimed_note,
                                                           "shapes": "check" if job.mode == "interpret" else "real",
                                                           "trials": len(job.seeds), "launches": report.get("launches")})
        med = timing["median_s"]
        cand, rival = med["candidate"], med["rival"]
        details: dict[str, Any] = {"timed": True, "device": timing["device"], "rounds": timing["rounds"],
                                   "calls": timing["calls"], "trials": len(job.seeds), "caches": "L2 flushed before every call",
                                   "median_s": med,  # candidate, rival (initial code or duel leader), eager, compile
                                   "eager_latency_s": med.get("eager"), "compile_latency_s": med.get("compile"),
                                   "speedup_vs_eager": med["eager"] / cand if med.get("eager") else None,
                                   "speedup_vs_compile": med["compile"] / cand if med.get("compile") else None,
                                   "tflops": job.flops / cand / 1e12, "baseline_tflops": job.flops / rival / 1e12,
                                   "gflops": job.flops / cand / 1e9, "baseline_gflops": job.flops / rival / 1e9,
                                   **({"notes": timing["notes"]} if timing.get("notes") else {})}
        utilization = job.flops / cand / self.peak_flops if self.peak_flops else None
        unreliable = None
        if utilization is not None and utilization > 1.0:
            unreliable = (f"{utilization * 100:.0f}% of the device's nominal peak: impossible, so this timing is wrong; "
                          "rerun it, and report it as a bug if it stays")
        return EvalResult(outcome=Outcome.OK, latency_s=cand, baseline_latency_s=rival, speedup=rival / cand,
                          utilization=utilization, unreliable=unreliable, details=details)


def gpu_env() -> dict[str, str]:
    """What a GPU child needs from our environment (no secrets): which GPUs, where the driver's
    libraries are on machines that name them only there; torch.compile without a worker pool."""
    keep = {k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "CUDA_HOME") if k in os.environ}
    return {**keep, "TORCHINDUCTOR_COMPILE_THREADS": "1"}


def _shape(name: str, real: tuple[int, ...], check: Any) -> list[int]:
    return list(check.shapes[name]) if check is not None else list(real)


def torch_includes() -> list[str]:
    """torch's C++ include folders and Python's, found without importing torch here."""
    import importlib.util
    import sysconfig

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(list(spec.submodule_search_locations)[0]) / "include"
    if not root.is_dir():
        return []
    return [str(root), str(root / "torch" / "csrc" / "api" / "include"), sysconfig.get_paths()["include"]]
