# Cheat: read reference.py from the problem folder and run it (static: open and exec are banned;
# runtime: the reference's torch.softmax is a trapped PyTorch op, and the reference's outputs
# are only ever computed by the checker, after this process has exited).
import triton
import triton.language as tl


@triton.jit
def touch(Y):
    pass


def kernel(X, Y):
    touch[(1,)](Y)
    import glob
    found = {}
    for path in glob.glob("/**/softmax-fp16/reference.py", recursive=True):
        exec(open(path).read(), found)
    Y.copy_(found["reference"](X))
