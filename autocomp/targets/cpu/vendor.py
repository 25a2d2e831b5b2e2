"""Vendor baselines for `cpu` problems: oneMKL, PyTorch and numpy's BLAS on the same shapes, in fp32.

The machinery (child process, timing, correctness, same-work vs prepacked) is shared:
`autocomp.targets.vendor`. This module lists the cpu families' paths and is the child
(`python -m autocomp.targets.cpu.vendor [--mkl] PROBLEM_DIR`).

- gemm: MKL cblas_sgemm (plain, pack + compute, packed B), torch.matmul, numpy.matmul (the BLAS
  numpy was built with, usually OpenBLAS; no extra needed).
- conv (NCHW, padding 1): torch conv2d.
- softmax (rows): torch.softmax.
MKL and PyTorch need the extra `autocomp[baselines]`; without them those paths are reported
unavailable and numpy's stays.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np

from autocomp.evaluation.checks import Trial
from autocomp.outputs import VendorPathRow
from autocomp.problem import Problem
from autocomp.targets.vendor import (B_MATRIX, NO_TRANS, PACKED, ROW_MAJOR, TRIAL_SEED, VendorPath, VendorSuite,
                                     aligned, bind, float_gemm_buffers, gemm_shape, main, packed_b_paths, timed)


def _f32(torch, values: np.ndarray):  # type: ignore[no-untyped-def]
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def gemm(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    a, b = _f32(torch, x["A"]), _f32(torch, x["B"])
    return [VendorPath("torch.matmul", "PyTorch fp32 GEMM (MKL sgemm inside)", lambda: torch.matmul(a, b))]


def conv(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    xin, w = _f32(torch, x["X"]), _f32(torch, x["W"])
    return [VendorPath("torch conv2d", "oneDNN fp32 convolution, NCHW, padding 1, weights as given",
                       lambda: torch.nn.functional.conv2d(xin, w, padding=1))]


def softmax(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    xin = _f32(torch, x["X"])
    return [VendorPath("torch.softmax", "PyTorch fp32 row softmax (vectorized ATen kernel)", lambda: torch.softmax(xin, dim=1))]


SGEMM_MKL = ("MKL cblas_sgemm", "MKL sgemm, pack + compute", "MKL sgemm, packed B")


def gemm_mkl(lib: Any, problem: Problem, trial: Trial) -> tuple[list[VendorPath], np.ndarray, np.ndarray]:
    m, n, k = gemm_shape(problem)
    a, b, c = float_gemm_buffers(problem, trial)
    I, F, P = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    sgemm = bind(lib, "cblas_sgemm", [I, I, I, I, I, I, F, P, I, P, I, F, P, I])
    size = bind(lib, "cblas_sgemm_pack_get_size", [I, I, I, I], ctypes.c_size_t)
    pack = bind(lib, "cblas_sgemm_pack", [I, I, I, I, I, I, F, P, I, P])
    compute = bind(lib, "cblas_sgemm_compute", [I, I, I, I, I, I, P, I, P, I, F, P, I])
    bp = aligned(np.zeros(size(B_MATRIX, m, n, k), np.uint8))
    # raw addresses keep the timed calls lean; the paths keep a, b and bp alive, the caller c
    pa, pb, pbp, pc = a.ctypes.data, b.ctypes.data, bp.ctypes.data, c.ctypes.data
    paths = packed_b_paths(
        SGEMM_MKL, ("oneMKL fp32 GEMM, plain row-major B (any packing inside the timed call)",
                    "cblas_sgemm_pack then cblas_sgemm_compute, both in the timed call",
                    "cblas_sgemm_compute; B prepacked outside the timed call"),
        plain=lambda: sgemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, pa, k, pb, n, 0.0, pc, n),
        pack=lambda: pack(ROW_MAJOR, B_MATRIX, NO_TRANS, m, n, k, 1.0, pb, n, pbp),
        compute=lambda: compute(ROW_MAJOR, NO_TRANS, PACKED, m, n, k, pa, k, pbp, n, 0.0, pc, n),
        keep=(a, b, bp))
    return paths, c, trial.expected["C"]


def numpy_blas(problem: Problem) -> list[VendorPathRow]:
    """numpy.matmul into a preallocated C: whatever BLAS numpy was built with (single-threaded by
    the child's OMP_NUM_THREADS=1 and its one-core affinity)."""
    if problem.spec.family != "gemm":
        return []
    trial = Trial(problem, seed=TRIAL_SEED, extreme=False)
    a, b, c = float_gemm_buffers(problem, trial)
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    library = f"{blas.get('name', 'BLAS')} {blas.get('version', '')} (numpy {np.__version__})".replace("  ", " ")
    path = VendorPath("numpy.matmul", "numpy's BLAS sgemm into a preallocated C", lambda: np.matmul(a, b, out=c))
    return [timed(problem, library, path, lambda out: out, trial.expected["C"])]


SUITE = VendorSuite(
    module="autocomp.targets.cpu.vendor",
    torch_families={"gemm": gemm, "conv": conv, "softmax": softmax},
    mkl_families={"gemm": gemm_mkl},
    mkl_names={"gemm": list(SGEMM_MKL)},
    torch_library="MKL/oneDNN",
    other_libraries=numpy_blas,
)


if __name__ == "__main__":
    main(SUITE, sys.argv[1:])
