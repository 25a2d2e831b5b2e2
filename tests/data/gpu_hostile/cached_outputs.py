# Cheat: compute once, then replay the first call's output (runtime: every trial draws fresh
# inputs and poisons the outputs, so the replay is a wrong answer on the second trial).
import torch
import triton
import triton.language as tl

memo = {}


@triton.jit
def softmax_row(X, Y, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(X + row * N + cols, mask=cols < N, other=-float("inf")).to(tl.float32)
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(Y + row * N + cols, (e / tl.sum(e, axis=0)).to(Y.dtype.element_ty), mask=cols < N)


def kernel(X, Y):
    if "Y" not in memo:
        softmax_row[(X.shape[0],)](X, Y, X.shape[1], BLOCK=triton.next_power_of_2(X.shape[1]))
        memo["Y"] = Y.clone()
    else:
        softmax_row[(1,)](X, torch.empty_like(Y), X.shape[1], BLOCK=triton.next_power_of_2(X.shape[1]))
        Y.copy_(memo["Y"])
