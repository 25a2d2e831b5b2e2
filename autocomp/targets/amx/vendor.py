"""Vendor baselines for AMX problems: oneDNN (through PyTorch CPU) on the same shapes.

Run as a child process (`python -m autocomp.targets.amx.vendor PROBLEM_DIR`), pinned to the
same core and single-threaded like our kernels. Prints one JSON object: every vendor path
that exists for the problem's family, with median latency and the relative error against
the problem's reference on the same inputs. Needs the extra `autocomp[baselines]`
(torch==2.13.0); without it the paths are reported unavailable, never faked.

Quirks recorded with each path (see shared/reference/amx.md section 5): torch.matmul on
bf16 writes a bf16 C (half the output bytes of our fp32 C); oneDNN's quantized linear
writes fp32 from int32 accumulators.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

from autocomp.evaluation.checks import Trial
from autocomp.problem import Problem, load_problem

Path_ = tuple[str, str, Callable[[], Any]]  # (name, note, call returning the output tensor)


def median_latency(fn: Callable[[], Any], min_time: float = 0.5, min_reps: int = 10) -> tuple[float, int]:
    for _ in range(3):
        fn()
    times: list[float] = []
    end = time.perf_counter() + min_time
    while time.perf_counter() < end or len(times) < min_reps:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def _bf16(torch, values: np.ndarray):  # type: ignore[no-untyped-def]
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).bfloat16()


def gemm_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[Path_]:  # type: ignore[no-untyped-def]
    a, b = _bf16(torch, x["A"]), _bf16(torch, x["B"])
    w = b.t().contiguous()
    return [
        ("torch.matmul", "oneDNN AMX; writes a bf16 C", lambda: torch.matmul(a, b)),
        ("mkldnn linear", "oneDNN brgemm linear, weight given as [N][K]; bf16 C", lambda: torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")),
    ]


def gemm_i8(torch, p: Problem, x: dict[str, np.ndarray]) -> list[Path_]:  # type: ignore[no-untyped-def]
    a, b = torch.from_numpy(x["A"].astype(np.int8)), torch.from_numpy(x["B"].astype(np.int8))
    m, k = a.shape
    n = b.shape[1]
    packed = torch.ops.onednn.qlinear_prepack(b.t().contiguous(), [m, k])
    ones, zeros = torch.ones(n), torch.zeros(n, dtype=torch.int64)
    paths: list[Path_] = [
        ("oneDNN qlinear s8s8", "prepacked weight (packing untimed), fp32 C from int32 accumulators",
         lambda: torch.ops.onednn.qlinear_pointwise(a, 1.0, 0, packed, ones, zeros, None, 1.0, 0, torch.float32, "none", [], "")),
    ]
    if m % 8 == 0 and n % 8 == 0 and k % 8 == 0 and m > 16:
        paths.append(("torch._int_mm", "oneDNN/MKL int8 GEMM, int32 C", lambda: torch._int_mm(a, b)))
    return paths


def linear_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[Path_]:  # type: ignore[no-untyped-def]
    xa, w = _bf16(torch, x["X"]), _bf16(torch, x["W"]).t().contiguous()
    bias = torch.from_numpy(x["b"].astype(np.float32)).bfloat16()
    return [("mkldnn linear+relu", "oneDNN linear with fused ReLU post-op; bf16 bias and output",
             lambda: torch.ops.mkldnn._linear_pointwise(xa, w, bias, "relu", [], ""))]


def bmm_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[Path_]:  # type: ignore[no-untyped-def]
    q, kt = _bf16(torch, x["Q"]), _bf16(torch, x["Kmat"]).transpose(1, 2)
    return [("torch.bmm", "oneDNN batched matmul then scale; bf16 output", lambda: torch.bmm(q, kt) * 0.125)]


def conv_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[Path_]:  # type: ignore[no-untyped-def]
    xin = _bf16(torch, x["X"]).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    wt = _bf16(torch, x["Wt"]).permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    conv = torch.nn.functional.conv2d
    return [("torch conv2d", "oneDNN, channels_last bf16, padding 1; bf16 output, NCHW-logical",
             lambda: conv(xin, wt, padding=1).permute(0, 2, 3, 1))]


FAMILIES = {"gemm-bf16": gemm_bf16, "gemm-i8": gemm_i8, "linear-bf16": linear_bf16, "bmm-bf16": bmm_bf16,
            "conv-bf16": conv_bf16}


def measure(problem: Problem) -> dict[str, Any]:
    family = problem.spec.family
    if family not in FAMILIES:
        return {"available": False, "reason": f"no vendor path for family {family!r}", "paths": []}
    try:
        import torch
    except ImportError:
        return {"available": False, "reason": "PyTorch is not installed: pip install 'autocomp[baselines]' (torch==2.13.0, CPU)", "paths": []}
    torch.set_num_threads(1)
    trial = Trial(problem, seed=20261125, extreme=False)
    expected = next(iter(trial.expected.values())).astype(np.float64)
    results = []
    with torch.no_grad():
        for name, note, fn in FAMILIES[family](torch, problem, trial.logical):
            try:
                out = fn().float().numpy().astype(np.float64).reshape(expected.shape)
                rel_err = float(np.linalg.norm(out - expected) / (np.linalg.norm(expected) or 1.0))
                latency, reps = median_latency(fn)
            except Exception as exc:  # a path this torch build lacks is unavailable, not fatal
                results.append({"name": name, "available": False, "reason": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            results.append({"name": name, "note": note, "available": True, "latency_s": latency, "reps": reps,
                            "gflops": problem.spec.flops / latency / 1e9, "rel_err": rel_err})
    ok = [r for r in results if r["available"] and r["rel_err"] < 1e-2]
    best = min(ok, key=lambda r: r["latency_s"]) if ok else None
    return {"available": best is not None, "torch": torch.__version__, "paths": results, "best": best,
            "reason": None if best else "no vendor path ran correctly"}


if __name__ == "__main__":
    print(json.dumps(measure(load_problem(sys.argv[1]))))
