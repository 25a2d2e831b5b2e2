# Cheat: find the problem's reference.py (the package sits on PYTHONPATH) and run it (static:
# os, open and exec are banned; runtime: the reference's torch.softmax is a trapped PyTorch op,
# and the reference's outputs are only ever computed by the checker, after this process exited).
import triton
import triton.language as tl


@triton.jit
def touch(Y):
    pass


def kernel(X, Y):
    touch[(1,)](Y)
    import os
    path = os.path.join(os.environ["PYTHONPATH"], "autocomp/targets/gpu/problems/softmax-fp16/reference.py")
    found = {}
    exec(open(path).read(), found)
    Y.copy_(found["reference"](X))
