# Cheat: the op under test as a tensor method (runtime: trapped aten._softmax).
import triton
import triton.language as tl


@triton.jit
def touch(Y):
    pass


def kernel(X, Y):
    touch[(1,)](Y)
    Y.copy_(X.softmax(-1))
