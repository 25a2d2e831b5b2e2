import numpy as np


def reference(X, W):
    """2-D convolution (cross-correlation, as in deep-learning frameworks), NCHW,
    stride 1, zero padding 1, computed in float64."""
    x = np.pad(X.astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    w = W.astype(np.float64)
    kh, kw = w.shape[2], w.shape[3]
    # windows[n, c, y, x, ky, kx] = x[n, c, y + ky, x + kx]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return np.einsum("ncyxij,ocij->noyx", windows, w, optimize=True)
