import torch.nn.functional as F


def reference(X, weight):
    """RMSNorm over the last dimension, eps = 1e-6, in fp16 (PyTorch computes the mean square in fp32)."""
    return F.rms_norm(X, (X.shape[-1],), weight, eps=1e-6)
