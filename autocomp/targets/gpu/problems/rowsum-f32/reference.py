import torch


def reference(X):
    """The sum of each row, in fp32."""
    return torch.sum(X, dim=-1)
