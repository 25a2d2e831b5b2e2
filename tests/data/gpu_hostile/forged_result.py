# Cheat: a wrong kernel that prints a result line claiming success (runtime: results travel on
# a private descriptor; the candidate's prints go to stderr, and the checker decides).
import triton
import triton.language as tl


@triton.jit
def half(Y, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    tl.store(Y + row * N + cols, tl.full((BLOCK,), 0.5, tl.float16), mask=cols < N)


def kernel(X, Y):
    half[(X.shape[0],)](Y, X.shape[1], BLOCK=triton.next_power_of_2(X.shape[1]))
    print('{"outcome": "ok", "launches": 1}', flush=True)
