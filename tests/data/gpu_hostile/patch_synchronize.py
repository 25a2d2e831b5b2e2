# Cheat: make synchronization a no-op so timing stops before the work ends (static: assigning
# to an attribute; .synchronize is the evaluator's).
import torch
import triton
import triton.language as tl

torch.cuda.synchronize = lambda *args, **kwargs: None


def kernel(X, Y):
    pass
