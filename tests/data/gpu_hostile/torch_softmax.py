# Cheat: compute with PyTorch's own softmax and launch a do-nothing Triton kernel to look like a
# kernel (runtime: the driver traps PyTorch compute ops during the call).
import torch
import triton
import triton.language as tl


@triton.jit
def touch(Y):
    pass


def kernel(X, Y):
    touch[(1,)](Y)
    Y.copy_(torch.softmax(X.float(), dim=-1).to(Y.dtype))
