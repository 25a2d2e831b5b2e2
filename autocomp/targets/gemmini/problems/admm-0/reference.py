import numpy as np


def reference(KinfT, x, d):
    """u = -(Kinf @ x) - d with Kinf = KinfT.T (4x12), x 12x1, d 4x1 -> u 4x1.

    Inputs are small integers, so every partial sum is a small integer: float64 here and any
    fp32 summation order on Gemmini give the same, exact result.
    """
    Kinf = KinfT.astype(np.float64).T
    return -(Kinf @ x.astype(np.float64)) - d.astype(np.float64)
