# @template family=gemm shapes="A[M][K] B[K][N] C[M][N]"
"""Tunable Triton GEMM, C = A @ B (fp16 / bf16 / fp32 in, fp32 accumulation, C's dtype out), for the
offline tuner: tile sizes, grouped launch order, warps and pipeline stages are knobs.

The sizes are read from the tensors at each call, so the same instance runs at a problem's real
shapes on a GPU and at its small [check] shapes under Triton's interpreter; M, N and K below are
the real shapes, used by the constraints and presets only. Edges are masked, so no knob setting
needs the sizes to divide evenly.
"""

import torch
import triton
import triton.language as tl

M = 4096  # @param
N = 4096  # @param
K = 4096  # @param

BLOCK_M = 128  # @knob values=16,32,64,128,256 menu="tile sizes"
BLOCK_N = 128  # @knob values=32,64,128,256 menu="tile sizes"
BLOCK_K = 64  # @knob values=32,64,128 menu="tile sizes"
GROUP_M = 8  # @knob values=1,4,8,16 menu="grouped (swizzled) launch order for L2 reuse"
NUM_WARPS = 4  # @knob values=4,8 menu="num_warps and num_stages"
NUM_STAGES = 3  # @knob values=2,3,4,5 menu="num_warps and num_stages"

# at most 128 fp32 accumulator registers per thread (a tile of BLOCK_M x BLOCK_N over 32 * NUM_WARPS threads)
# @constraint BLOCK_M * BLOCK_N <= 4096 * NUM_WARPS
# the pipelined A and B tiles (2-byte elements) fit Hopper's 227 KB of shared memory per block
# @constraint NUM_STAGES * (BLOCK_M + BLOCK_N) * BLOCK_K * 2 <= 232448
# no tile taller than the whole matrix (M = 16 decode GEMMs take BLOCK_M = 16)
# @constraint BLOCK_M <= M || BLOCK_M == 16
# @preset large if="M >= 1024 && N >= 1024" BLOCK_M=128 BLOCK_N=256 BLOCK_K=64 GROUP_M=8 NUM_WARPS=8 NUM_STAGES=3
# @preset skinny if="M <= 64" BLOCK_M=16 BLOCK_N=64 BLOCK_K=128 GROUP_M=1 NUM_WARPS=4 NUM_STAGES=4


@triton.jit
def _matmul(A, B, C, m, n, k,
            stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
            BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    # grouped order: GROUP_M rows of tiles are walked column by column, so programs running at
    # the same time share rows of A and columns of B in L2
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(m, BLOCK_M)
    tiles_n = tl.cdiv(n, BLOCK_N)
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    group_rows = tl.minimum(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % per_group) % group_rows
    pid_n = (pid % per_group) // group_rows
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for start in range(0, k, BLOCK_K):
        a = tl.load(A + rm[:, None] * stride_am + (start + rk)[None, :] * stride_ak,
                    mask=(rm[:, None] < m) & ((start + rk)[None, :] < k), other=0.0)
        b = tl.load(B + (start + rk)[:, None] * stride_bk + rn[None, :] * stride_bn,
                    mask=((start + rk)[:, None] < k) & (rn[None, :] < n), other=0.0)
        acc += tl.dot(a, b)
    tl.store(C + rm[:, None] * stride_cm + rn[None, :] * stride_cn, acc.to(C.dtype.element_ty),
             mask=(rm[:, None] < m) & (rn[None, :] < n))


def kernel(A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> None:
    m, k = A.shape
    n = B.shape[1]
    grid = (triton.cdiv(m, BLOCK_M) * triton.cdiv(n, BLOCK_N),)
    _matmul[grid](A, B, C, m, n, k,
                  A.stride(0), A.stride(1), B.stride(0), B.stride(1), C.stride(0), C.stride(1),
                  BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, GROUP_M=GROUP_M,
                  num_warps=NUM_WARPS, num_stages=NUM_STAGES)
