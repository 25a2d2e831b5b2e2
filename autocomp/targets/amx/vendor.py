"""Vendor baselines for AMX problems: oneDNN (through PyTorch CPU) and oneMKL on the same shapes.

The machinery (child process, timing, correctness, same-work vs prepacked) is shared:
`autocomp.targets.vendor`. This module lists the AMX families' paths and is the child
(`python -m autocomp.targets.amx.vendor [--mkl] PROBLEM_DIR`). Needs the extra
`autocomp[baselines]` (torch==2.13.0, mkl==2026.2.0). MKL paths exist for the GEMM families
only (gemm-bf16, gemm-i8); linear/bmm/conv keep oneDNN.

Quirks recorded with each path: torch.matmul on
bf16 writes a bf16 C (half the output bytes of our fp32 C); oneDNN's quantized linear
writes fp32 from int32 accumulators; MKL's int8 GEMM is mixed-sign (A u8 x B s8), so it
gets A's values mapped into 0..127 and is checked against the problem's reference on the
inputs it was actually given.

Prepacked paths here: oneDNN's prepacked qlinear, MKL's packed-B compute, the [N][K] weight
of mkldnn linear, conv weights reordered to channels_last; each also runs with that step
inside the timed call.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np

from autocomp.evaluation.checks import Trial, reference_outputs
from autocomp.problem import Problem
from autocomp.targets.vendor import (B_MATRIX, FIX_OFFSET, NO_TRANS, PACKED, ROW_MAJOR, VendorPath, VendorSuite,
                                     aligned, bind, float_gemm_buffers, gemm_shape, main, packed_b_paths)


def _bf16(torch, values: np.ndarray):  # type: ignore[no-untyped-def]
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).bfloat16()


def gemm_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    a, b = _bf16(torch, x["A"]), _bf16(torch, x["B"])
    w = b.t().contiguous()
    linear = torch.ops.mkldnn._linear_pointwise
    return [
        VendorPath("torch.matmul", "oneDNN AMX; writes a bf16 C", lambda: torch.matmul(a, b)),
        VendorPath("mkldnn linear", "oneDNN brgemm linear, B transposed to [N][K] in the timed call; bf16 C",
                   lambda: linear(a, b.t().contiguous(), None, "none", [], "")),
        VendorPath("mkldnn linear, [N][K] weight", "oneDNN brgemm linear, weight transposed to [N][K] outside the timed call; bf16 C",
                   lambda: linear(a, w, None, "none", [], ""), prepacked=True),
    ]


def gemm_i8(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    a, b = torch.from_numpy(x["A"].astype(np.int8)), torch.from_numpy(x["B"].astype(np.int8))
    m, k = a.shape
    n = b.shape[1]
    prepack, qlinear = torch.ops.onednn.qlinear_prepack, torch.ops.onednn.qlinear_pointwise
    packed = prepack(b.t().contiguous(), [m, k])
    ones, zeros = torch.ones(n), torch.zeros(n, dtype=torch.int64)
    paths: list[VendorPath] = [
        VendorPath("oneDNN qlinear s8s8", "weight transposed and prepacked in the timed call; fp32 C from int32 accumulators",
                   lambda: qlinear(a, 1.0, 0, prepack(b.t().contiguous(), [m, k]), ones, zeros, None, 1.0, 0, torch.float32, "none", [], "")),
        VendorPath("oneDNN qlinear s8s8, prepacked", "weight prepacked outside the timed call; fp32 C from int32 accumulators",
                   lambda: qlinear(a, 1.0, 0, packed, ones, zeros, None, 1.0, 0, torch.float32, "none", [], ""), prepacked=True),
    ]
    if m % 8 == 0 and n % 8 == 0 and k % 8 == 0 and m > 16:
        paths.append(VendorPath("torch._int_mm", "oneDNN/MKL int8 GEMM, int32 C", lambda: torch._int_mm(a, b)))
    return paths


def linear_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    xa, wk = _bf16(torch, x["X"]), _bf16(torch, x["W"])
    w = wk.t().contiguous()
    bias = torch.from_numpy(x["b"].astype(np.float32)).bfloat16()
    linear = torch.ops.mkldnn._linear_pointwise
    return [VendorPath("mkldnn linear+relu", "oneDNN linear with fused ReLU post-op, W transposed in the timed call; bf16 bias and output",
                       lambda: linear(xa, wk.t().contiguous(), bias, "relu", [], "")),
            VendorPath("mkldnn linear+relu, [N][K] weight", "as above, W transposed to [N][K] outside the timed call",
                       lambda: linear(xa, w, bias, "relu", [], ""), prepacked=True)]


def bmm_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    q, kt = _bf16(torch, x["Q"]), _bf16(torch, x["Kmat"]).transpose(1, 2)  # a view: no data moves
    return [VendorPath("torch.bmm", "oneDNN batched matmul then scale; bf16 output", lambda: torch.bmm(q, kt) * 0.125)]


def conv_bf16(torch, p: Problem, x: dict[str, np.ndarray]) -> list[VendorPath]:  # type: ignore[no-untyped-def]
    xin = _bf16(torch, x["X"]).permute(0, 3, 1, 2)  # NHWC data seen as channels_last NCHW: a view
    wraw = _bf16(torch, x["Wt"]).permute(3, 2, 0, 1)  # [KH][KW][Cin][Cout] seen as OIHW: a view
    wt = wraw.contiguous(memory_format=torch.channels_last)
    conv = torch.nn.functional.conv2d
    return [VendorPath("torch conv2d", "oneDNN, channels_last bf16, padding 1, weights reordered in the timed call; bf16 output",
                       lambda: conv(xin, wraw.contiguous(memory_format=torch.channels_last), padding=1).permute(0, 2, 3, 1)),
            VendorPath("torch conv2d, reordered weights", "as above, weights reordered to channels_last outside the timed call",
                       lambda: conv(xin, wt, padding=1).permute(0, 2, 3, 1), prepacked=True)]


BF16_MKL = ("MKL cblas_gemm_bf16bf16f32", "MKL bf16 GEMM, pack + compute", "MKL bf16 GEMM, packed B")
S8U8_MKL = ("MKL s8u8 (mixed sign)", "MKL s8u8 (mixed sign), pack + compute", "MKL s8u8 (mixed sign), packed B")


def gemm_bf16_mkl(lib: Any, problem: Problem, trial: Trial) -> tuple[list[VendorPath], np.ndarray, np.ndarray]:
    """cblas_gemm_bf16bf16f32 on the exact bf16 bit patterns our kernels get."""
    m, n, k = gemm_shape(problem)
    a, b, c = float_gemm_buffers(problem, trial)
    I, F, P = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
    gemm = bind(lib, "cblas_gemm_bf16bf16f32", [I, I, I, I, I, I, F, P, I, P, I, F, P, I])
    size = bind(lib, "cblas_gemm_bf16bf16f32_pack_get_size", [I, I, I, I], ctypes.c_size_t)
    pack = bind(lib, "cblas_gemm_bf16bf16f32_pack", [I, I, I, I, I, I, P, I, P])
    compute = bind(lib, "cblas_gemm_bf16bf16f32_compute", [I, I, I, I, I, I, F, P, I, P, I, F, P, I])
    bp = aligned(np.zeros(size(B_MATRIX, m, n, k), np.uint8))
    # raw addresses keep the timed calls lean; the paths keep a, b and bp alive, the caller c
    pa, pb, pbp, pc = a.ctypes.data, b.ctypes.data, bp.ctypes.data, c.ctypes.data
    paths = packed_b_paths(
        BF16_MKL, ("oneMKL AMX bf16 GEMM, plain row-major B (any packing inside the timed call); fp32 C",
                   "cblas_gemm_bf16bf16f32_pack then _compute, both in the timed call; fp32 C",
                   "cblas_gemm_bf16bf16f32_compute; B prepacked outside the timed call; fp32 C"),
        plain=lambda: gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, m, n, k, 1.0, pa, k, pb, n, 0.0, pc, n),
        pack=lambda: pack(ROW_MAJOR, B_MATRIX, NO_TRANS, m, n, k, pb, n, pbp),
        compute=lambda: compute(ROW_MAJOR, NO_TRANS, PACKED, m, n, k, 1.0, pa, k, pbp, n, 0.0, pc, n),
        keep=(a, b, bp))
    return paths, c, trial.expected["C"]


def gemm_i8_mkl(lib: Any, problem: Problem, trial: Trial) -> tuple[list[VendorPath], np.ndarray, np.ndarray]:
    """cblas_gemm_s8u8s32. MKL reads A as unsigned (A u8 x B s8): give it A's low 7 bits (0..127,
    still random, and still valid s8 inputs of the problem) and B unchanged, then check against
    the problem's reference on exactly these inputs (exact int32 either way)."""
    m, n, k = gemm_shape(problem)
    a_7bit = (trial.logical["A"].astype(np.int64) & 0x7F).astype(np.int8)
    b_s8 = trial.logical["B"].astype(np.int8)
    a, b = aligned(a_7bit), aligned(b_s8)
    c = aligned(np.zeros((m, n), np.int32))
    I, F, P, I8 = ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int8
    gemm = bind(lib, "cblas_gemm_s8u8s32", [I, I, I, I, I, I, I, F, P, I, I8, P, I, I8, F, P, I, P])
    size = bind(lib, "cblas_gemm_s8u8s32_pack_get_size", [I, I, I, I], ctypes.c_size_t)
    pack = bind(lib, "cblas_gemm_s8u8s32_pack", [I, I, I, I, I, I, P, I, P])
    compute = bind(lib, "cblas_gemm_s8u8s32_compute", [I, I, I, I, I, I, I, F, P, I, I8, P, I, I8, F, P, I, P])
    co = aligned(np.zeros(1, np.int32))
    bp = aligned(np.zeros(size(B_MATRIX, m, n, k), np.uint8))
    pa, pb, pbp, pc, pco = a.ctypes.data, b.ctypes.data, bp.ctypes.data, c.ctypes.data, co.ctypes.data
    paths = packed_b_paths(
        S8U8_MKL, ("cblas_gemm_s8u8s32, A u8 x B s8 (A given values 0..127), no offsets; int32 C",
                   "cblas_gemm_s8u8s32_pack then _compute, both in the timed call, A u8 (values 0..127) x B s8; int32 C",
                   "cblas_gemm_s8u8s32_compute, A u8 (values 0..127) x B s8; B prepacked outside the timed call; int32 C"),
        plain=lambda: gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, FIX_OFFSET, m, n, k, 1.0, pa, k, 0, pb, n, 0, 0.0, pc, n, pco),
        pack=lambda: pack(ROW_MAJOR, B_MATRIX, NO_TRANS, m, n, k, pb, n, pbp),
        compute=lambda: compute(ROW_MAJOR, NO_TRANS, PACKED, FIX_OFFSET, m, n, k, 1.0, pa, k, 0, pbp, n, 0, 0.0, pc, n, pco),
        keep=(a, b, bp, co))
    return paths, c, reference_outputs(problem, {"A": a_7bit, "B": b_s8})["C"]


SUITE = VendorSuite(
    module="autocomp.targets.amx.vendor",
    torch_families={"gemm-bf16": gemm_bf16, "gemm-i8": gemm_i8, "linear-bf16": linear_bf16, "bmm-bf16": bmm_bf16,
                    "conv-bf16": conv_bf16},
    mkl_families={"gemm-bf16": gemm_bf16_mkl, "gemm-i8": gemm_i8_mkl},
    mkl_names={"gemm-bf16": list(BF16_MKL), "gemm-i8": list(S8U8_MKL)},
)


if __name__ == "__main__":
    main(SUITE, sys.argv[1:])
