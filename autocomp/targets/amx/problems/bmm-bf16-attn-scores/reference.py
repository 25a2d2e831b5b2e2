import numpy as np


def reference(Q, Kmat):
    """Sc[h] = Q[h] @ Kmat[h]^T * 0.125, in float64 from the exact bf16 values."""
    return np.einsum("hid,hjd->hij", Q.astype(np.float64), Kmat.astype(np.float64)) * 0.125
