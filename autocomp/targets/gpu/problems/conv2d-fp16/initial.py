"""A straightforward implicit-GEMM convolution in Triton: the output pixels (n, oh, ow) are the
GEMM's rows, the filters its columns and (c, r, s) its reduction; each program gathers a
BLOCK_P x BLOCK_K patch of X (zero outside the padded border) and a BLOCK_K x BLOCK_F slice of
the filters per step and accumulates their tl.dot in fp32. NCHW in and out, stride 1, padding
(R - 1) / 2. Shapes are read from the tensors; edges are masked."""

import torch
import triton
import triton.language as tl

BLOCK_P = 64
BLOCK_F = 64
BLOCK_K = 32


@triton.jit
def _conv2d(X, Wt, Y, N, C, H, W, F,
            R: tl.constexpr, S: tl.constexpr, PAD: tl.constexpr,
            BLOCK_P: tl.constexpr, BLOCK_F: tl.constexpr, BLOCK_K: tl.constexpr):
    rp = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)  # output pixel: n*H*W + oh*W + ow
    rf = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    n = rp // (H * W)
    oh = (rp % (H * W)) // W
    ow = rp % W
    KG = C * R * S
    acc = tl.zeros((BLOCK_P, BLOCK_F), dtype=tl.float32)
    for k0 in range(0, KG, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)  # reduction index: c*R*S + r*S + s
        c = rk // (R * S)
        r = (rk % (R * S)) // S
        s = rk % S
        ih = oh[:, None] + r[None, :] - PAD
        iw = ow[:, None] + s[None, :] - PAD
        inside = (rp[:, None] < N * H * W) & (rk[None, :] < KG) & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
        a = tl.load(X + n[:, None] * (C * H * W) + c[None, :] * (H * W) + ih * W + iw, mask=inside, other=0.0)
        b = tl.load(Wt + rf[None, :] * KG + rk[:, None], mask=(rk[:, None] < KG) & (rf[None, :] < F), other=0.0)
        acc += tl.dot(a, b)
    out = Y + n[:, None] * (F * H * W) + rf[None, :] * (H * W) + (rp % (H * W))[:, None]
    tl.store(out, acc.to(Y.dtype.element_ty), mask=(rp[:, None] < N * H * W) & (rf[None, :] < F))


def kernel(X: torch.Tensor, Wt: torch.Tensor, Y: torch.Tensor) -> None:
    N, C, H, W = X.shape
    F, _, R, S = Wt.shape
    grid = (triton.cdiv(N * H * W, BLOCK_P), triton.cdiv(F, BLOCK_F))
    _conv2d[grid](X, Wt, Y, N, C, H, W, F, R=R, S=S, PAD=(R - 1) // 2,
                  BLOCK_P=BLOCK_P, BLOCK_F=BLOCK_F, BLOCK_K=BLOCK_K)
