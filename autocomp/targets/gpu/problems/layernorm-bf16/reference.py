import torch.nn.functional as F


def reference(X, weight, bias):
    """LayerNorm over the last dimension, eps = 1e-5, in bf16 (PyTorch keeps the statistics in fp32)."""
    return F.layer_norm(X, (X.shape[-1],), weight, bias, eps=1e-5)
