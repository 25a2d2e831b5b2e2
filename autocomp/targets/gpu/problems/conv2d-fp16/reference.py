import torch.nn.functional as F


def reference(X, Wt):
    """3x3 convolution, stride 1, zero padding 1, no bias, in fp16 (NCHW)."""
    return F.conv2d(X, Wt, padding=1)
