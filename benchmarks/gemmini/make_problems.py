"""Generate the gemmini problem folders (problem.toml, initial.c, reference.py) and the
library baselines (baselines/<name>/fsm.c, sw.c). Run from the repo root:

    .venv/bin/python benchmarks/gemmini/make_problems.py

Shapes from the Autocomp benchmarks (spec gemmini.md §10): the six `exo` GEMMs and the four
`exo-conv` convolutions, int8 on the 16x16 configuration.
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "autocomp" / "targets" / "gemmini"
PROBLEMS = ROOT / "problems"
BASELINES = ROOT / "baselines"

# (exo test, I, K, J)
GEMMS = [(0, 512, 512, 512), (1, 12544, 64, 256), (2, 12544, 256, 64),
         (3, 3136, 128, 512), (4, 3136, 512, 128), (5, 784, 256, 1024)]
# (exo-conv test, P = Q, C = K)
CONVS = [(0, 56, 64), (1, 28, 128), (2, 14, 256), (3, 14, 128)]
BATCH = 4

GEMM_REFERENCE = '''import numpy as np


def requantize(acc, scale=1.0):
    """Gemmini int8 16x16 acc -> int8 (docs/gemmini-spec.md §3): float32(acc) * float32(scale), round half to
    even, saturate to [-128, 127] (no activation here)."""
    x = acc.astype(np.float32) * np.float32(scale)
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def reference(A, B):
    """C = requantize(A @ B) with int32 accumulation. Computed with float64 BLAS: every partial
    sum is an integer far below 2**53, so the result is exact."""
    acc = np.rint(A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64)
    assert np.abs(acc).max(initial=0) < 2**31
    return requantize(acc)
'''

CONV_REFERENCE = '''import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def requantize(acc, scale=1.0):
    """Gemmini int8 16x16 acc -> int8 (docs/gemmini-spec.md §3): float32(acc) * float32(scale), round half to
    even, saturate to [-128, 127] (no activation here)."""
    x = acc.astype(np.float32) * np.float32(scale)
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def reference(input, weights, bias):
    """3x3 stride-1 convolution of the pre-padded NHWC input (padding 0), int32 accumulation
    plus the int32 bias, then requantize. Float64 BLAS is exact at these magnitudes."""
    R, S, C, K = weights.shape
    win = sliding_window_view(input.astype(np.float64), (R, S), axis=(1, 2))  # [N][P][Q][C][R][S]
    acc = np.einsum("npqcrs,rsck->npqk", win, weights.astype(np.float64), optimize=True)
    acc = np.rint(acc).astype(np.int64) + bias.astype(np.int64).reshape(1, 1, 1, K)
    assert np.abs(acc).max(initial=0) < 2**31
    return requantize(acc)
'''


def gemm_range(K: int) -> int:
    # keep the int32 sums' std at ~30-45 so outputs are informative (a few % saturate)
    return 3 if K <= 128 else 2


def gemm_problem(test: int, I: int, K: int, J: int) -> tuple[str, dict[str, str]]:
    name = f"gemm-{I}x{K}x{J}"
    r = gemm_range(K)
    toml = f'''name = "{name}"
target = "gemmini"
family = "gemm"
config = "int8_16x16"
params = {{ I = {I}, K = {K}, J = {J} }}
description = "Gemmini int8 GEMM (Autocomp exo test {test}, a ResNet-50 1x1 conv at batch 4): C = requantize(A @ B), I = {I}, K = {K}, J = {J}; A int8 [I][K], B int8 [K][J], C int8 [I][J], all row-major; int32 accumulation, no bias, no activation, scale 1 (acc -> int8 = round half to even, saturate to [-128, 127]); inputs drawn in [-{r}, {r}] so the sums are mostly inside the int8 range"
flops = {2 * I * K * J}   # 2*I*K*J
bytes = {I * K + K * J + I * J}   # A + B + C, int8

[kernel]
entry = "gemm"
args = ["A", "B", "C"]

[[inputs]]
name = "A"
dtype = "i8"
shape = [{I}, {K}]
distribution = {{ kind = "randint", low = -{r}, high = {r} }}

[[inputs]]
name = "B"
dtype = "i8"
shape = [{K}, {J}]
distribution = {{ kind = "randint", low = -{r}, high = {r} }}

[[outputs]]
name = "C"
dtype = "i8"
shape = [{I}, {J}]
'''
    initial = f'''/* Exo-style unoptimized Gemmini GEMM (the starting point of the search):
 * C[I][J] = A[I][K] @ B[K][J], I = {I}, K = {K}, J = {J}, int8 in and out, int32 accumulation.
 * For every 16-row x 64-column block of C: zero a 16 x 64 accumulator region, then for every
 * 64-wide chunk of K load a 16 x 64 A tile (spad rows 0..63) and a 64 x 64 B tile (spad rows
 * 512..767, the same rows every time, no reuse across blocks) and run 16 preload + compute
 * pairs; then move the four 16 x 16 result blocks out. One fence at the end. */
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {{
  const int I = {I}, K = {K}, J = {J};
  gemmini_extended_config_st(J * sizeof(int8_t), NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(J * sizeof(int8_t), 1.0f, false, 2);
  gemmini_extended3_config_ld(K * sizeof(int8_t), 1.0f, false, 1);
  gemmini_extended3_config_ld(0, 1.0f, false, 0);
  for (int io = 0; io < I / 16; io++) {{
    for (int jo = 0; jo < J / 64; jo++) {{
      for (int jb = 0; jb < 4; jb++)
        gemmini_extended_mvin(0, 0x80000000u | (uint32_t)(jb * 16), 16, 16);
      for (int ko = 0; ko < K / 64; ko++) {{
        gemmini_extended_mvin2(&A[(size_t)(16 * io) * K + 64 * ko], 0, 64, 16);
        for (int kb = 0; kb < 4; kb++)
          gemmini_extended_mvin3(&B[(size_t)(64 * ko + 16 * kb) * J + 64 * jo], 512 + kb * 64, 64, 16);
        for (int kb = 0; kb < 4; kb++) {{
          for (int jb = 0; jb < 4; jb++) {{
            gemmini_extended_preload(512 + kb * 64 + jb * 16, 0xC0000000u | (uint32_t)(jb * 16), 16, 16, 16, 16);
            gemmini_extended_compute_preloaded(kb * 16, GARBAGE_ADDR, 16, 16, 16, 16);
          }}
        }}
      }}
      for (int jb = 0; jb < 4; jb++)
        gemmini_extended_mvout(&C[(size_t)(16 * io) * J + 64 * jo + 16 * jb], 0x80000000u | (uint32_t)(jb * 16), 16, 16);
    }}
  }}
  gemmini_fence();
}}
'''
    call = f"({I}, {J}, {K}, A, B, NULL, C, {K}, {J}, {J}, {J}, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false, false, false, false, 0, WS)"
    baseline = lambda fn, what: f'''/* Library baseline for {name}: {what}
 * (our own library, emulator/library.c; tiling rule in include/gemmini_lib.h). */
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {{
  {fn}{call};
  gemmini_fence();
}}
'''
    return name, {
        "problem.toml": toml, "initial.c": initial, "reference.py": GEMM_REFERENCE,
        "fsm.c": baseline("tiled_matmul_auto", "one gemmini_loop_ws (hardware matmul FSM) per tile, the \"HW FSM\" reference point."),
        "sw.c": baseline("tiled_matmul_auto_sw", "the same tiling with CPU-issued mvin/preload/compute/mvout loops, our stand-in for the\n * paper's \"SW lib\" baseline (which of the two the paper used cannot be verified)."),
    }


def conv_problem(test: int, P: int, C: int) -> tuple[str, dict[str, str]]:
    name = f"conv-{test}"
    N, K, H = BATCH, C, P + 2
    macs = N * P * P * K * C * 9
    toml = f'''name = "{name}"
target = "gemmini"
family = "conv"
config = "int8_16x16"
params = {{ N = {N}, P = {P}, Q = {P}, C = {C}, K = {K}, R = 3, S = 3 }}
description = "Gemmini int8 3x3 stride-1 convolution (Autocomp exo-conv test {test}): batch {N}, output {P}x{P}, {C} -> {K} channels; input int8 NHWC [{N}][{H}][{H}][{C}] already padded (padding 0 here), weights int8 [3][3][{C}][{K}] (kh, kw, in ch, out ch), bias int32 [{K}], output int8 NHWC [{N}][{P}][{P}][{K}] = requantize(bias + conv) with int32 accumulation, scale 1, no activation (round half to even, saturate to [-128, 127]); input in [-2, 2], weights in [-1, 1], bias in [-64, 64] so outputs are mostly unsaturated"
flops = {2 * macs}   # 2 * N*P*Q*K*C*9
bytes = {N * H * H * C + 9 * C * K + 4 * K + N * P * P * K}   # input + weights + bias (int32) + output

[kernel]
entry = "conv"
args = ["input", "weights", "bias", "output"]

[[inputs]]
name = "input"
dtype = "i8"
shape = [{N}, {H}, {H}, {C}]
distribution = {{ kind = "randint", low = -2, high = 2 }}

[[inputs]]
name = "weights"
dtype = "i8"
shape = [3, 3, {C}, {K}]
distribution = {{ kind = "randint", low = -1, high = 1 }}

[[inputs]]
name = "bias"
dtype = "i32"
shape = [{K}]
distribution = {{ kind = "randint", low = -64, high = 64 }}

[[outputs]]
name = "output"
dtype = "i8"
shape = [{N}, {P}, {P}, {K}]
'''
    initial = f'''/* Exo-style unoptimized Gemmini convolution (the starting point of the search):
 * output[{N}][{P}][{P}][{K}] = requantize(bias + conv3x3(input[{N}][{H}][{H}][{C}], weights[3][3][{C}][{K}])).
 * For every batch, output row, block of up to 16 output pixels and 64 output channels: the
 * bias is moved in with stride 0 into 4 accumulator blocks; for every (krow, kcol) the
 * 3x3 weights slice is reloaded (no reuse across output blocks), the input pixels are moved in
 * (with a config_ld for mvin3's block stride inside the loop), and one preload + compute pair
 * runs per (input-channel block, output-channel block); then 4 mvouts. One fence at the end. */
void conv(const int8_t *restrict input, const int8_t *restrict weights, const int32_t *restrict bias,
          int8_t *restrict output) {{
  const int N = {N}, P = {P}, Q = {P}, C = {C}, K = {K}, H = {H}, W = {H};
  gemmini_extended_config_st(K * sizeof(int8_t), NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(0, 1.0f, false, 0);
  gemmini_extended3_config_ld(K * sizeof(int8_t), 1.0f, false, 1);
  for (int b = 0; b < N; b++) {{
    for (int orow = 0; orow < P; orow++) {{
      for (int ocol = 0; ocol < Q; ocol += 16) {{
        int px = Q - ocol < 16 ? Q - ocol : 16;
        for (int och = 0; och < K; och += 64) {{
          for (int ob = 0; ob < 4; ob++)
            gemmini_extended_mvin(&bias[och + 16 * ob], 0x80000000u | (uint32_t)(ob * 16), 16, px);
          for (int kr = 0; kr < 3; kr++) {{
            for (int kc = 0; kc < 3; kc++) {{
              for (int cb = 0; cb < C / 16; cb++)
                gemmini_extended_mvin2(&weights[((size_t)(kr * 3 + kc) * C + 16 * cb) * K + och], 1024 + cb * 64, 64, 16);
              gemmini_extended4_config_ld(C * sizeof(int8_t), 1.0f, false, 16, 2);
              for (int cc = 0; cc < C; cc += 64)
                gemmini_extended_mvin3(&input[(((size_t)b * H + orow + kr) * W + ocol + kc) * C + cc], (uint32_t)(cc / 16 * 16), C - cc < 64 ? C - cc : 64, px);
              for (int cb = 0; cb < C / 16; cb++) {{
                for (int ob = 0; ob < 4; ob++) {{
                  gemmini_extended_preload(1024 + cb * 64 + ob * 16, 0xC0000000u | (uint32_t)(ob * 16), 16, 16, 16, px);
                  gemmini_extended_compute_preloaded(cb * 16, GARBAGE_ADDR, 16, px, 16, 16);
                }}
              }}
            }}
          }}
          for (int ob = 0; ob < 4; ob++)
            gemmini_extended_mvout(&output[(((size_t)b * P + orow) * Q + ocol) * K + och + 16 * ob], 0x80000000u | (uint32_t)(ob * 16), 16, px);
        }}
      }}
    }}
  }}
  gemmini_fence();
}}
'''
    args = (f"({N}, {H}, {H}, {C}, {K}, {P}, {P}, 1, 1, 1, 0, 3, false, false, false, false, false, "
            f"input, weights, bias, output, NO_ACTIVATION, ACC_SCALE_IDENTITY, 0, 0, 0, WS)")
    baseline = lambda fn, what: f'''/* Library baseline for {name}: {what}
 * (our own library, emulator/library.c; tiling rule in include/gemmini_lib.h). */
void conv(const int8_t *restrict input, const int8_t *restrict weights, const int32_t *restrict bias,
          int8_t *restrict output) {{
  {fn}{args};
  gemmini_fence();
}}
'''
    return name, {
        "problem.toml": toml, "initial.c": initial, "reference.py": CONV_REFERENCE,
        "fsm.c": baseline("tiled_conv_auto", "one gemmini_loop_conv_ws (hardware conv FSM) per tile, the \"HW FSM\" reference point."),
        "sw.c": baseline("tiled_conv_auto_sw", "the same tiling with CPU-issued instruction loops, our stand-in for the paper's\n * \"SW lib\" baseline (which of the two the paper used cannot be verified)."),
    }


def main() -> None:
    items = [gemm_problem(*g) for g in GEMMS] + [conv_problem(*c) for c in CONVS]
    for name, files in items:
        (PROBLEMS / name).mkdir(parents=True, exist_ok=True)
        (BASELINES / name).mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            folder = BASELINES if fname in ("fsm.c", "sw.c") else PROBLEMS
            (folder / name / fname).write_text(text)
        print(name)


if __name__ == "__main__":
    main()
