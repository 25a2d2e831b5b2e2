import numpy as np


def requantize(acc, scale=1.0):
    """Gemmini int8 16x16 acc -> int8 (docs/gemmini-spec.md §3): float32(acc) * float32(scale), round half to
    even, saturate to [-128, 127] (no activation here)."""
    x = acc.astype(np.float32) * np.float32(scale)
    return np.clip(np.rint(x), -128, 127).astype(np.int8)


def reference(A, B):
    """C = requantize(A @ B) with int32 accumulation. Computed with float64 BLAS: every partial
    sum is an integer far below 2**53, so the result is exact."""
    acc = np.rint(A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64)
    assert np.abs(acc).max(initial=0) < 2**31
    return requantize(acc)
