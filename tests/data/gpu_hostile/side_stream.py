# Cheat (GPU): launch on a side stream and return at once, so the work escapes the timed region
# (static: streams belong to the evaluator; on a GPU the driver also synchronizes the whole
# device after each timed call and refuses work still running).
import torch
import triton
import triton.language as tl


@triton.jit
def softmax_row(X, Y, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(X + row * N + cols, mask=cols < N, other=-float("inf")).to(tl.float32)
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(Y + row * N + cols, (e / tl.sum(e, axis=0)).to(Y.dtype.element_ty), mask=cols < N)


side = torch.cuda.Stream()


def kernel(X, Y):
    with torch.cuda.stream(side):
        softmax_row[(X.shape[0],)](X, Y, X.shape[1], BLOCK=triton.next_power_of_2(X.shape[1]))
