import numpy as np

HORIZON = 10


def reference(pN, r, q, Bdyn, Quu_inv, KinfT, AmBKt):
    """Horizon-10 TinyMPC backward pass.

    p_10 = pN; for i = 9 down to 0:
        B_p = Bdyn.T @ p_{i+1};  d_i = Quu_inv.T @ (B_p + r_i)
        K_r = Kinf.T @ r_i (= KinfT @ r_i);  p_i = q_i + AmBKt @ p_{i+1} - K_r
    Returns d [10][4][1] (d_i) and p [10][12][1] (p_i).

    Exactness: inputs are integers in [-1, 1]. In simulation no random draw produced a partial
    sum above 2**24 (max 5.3e6 in 20,000 draws), so fp32 is exact in any summation order. The
    recursion multiplies by AmBKt ten times, so a draw at the distribution's extremes (all
    entries +-1) exceeds 2**24 in roughly 0.1% of cases, where fp32 rounding can differ from
    this float64 reference; problem.toml therefore compares d and p with rtol 1e-6.
    """
    B = Bdyn.astype(np.float64)
    Q = Quu_inv.astype(np.float64)
    KT = KinfT.astype(np.float64)
    A = AmBKt.astype(np.float64)
    pn = pN.astype(np.float64)
    d = np.empty((HORIZON, 4, 1))
    p = np.empty((HORIZON, 12, 1))
    for i in range(HORIZON - 1, -1, -1):
        ri = r[i].astype(np.float64)
        d[i] = Q.T @ (B.T @ pn + ri)
        p[i] = q[i].astype(np.float64) + A @ pn - KT @ ri
        pn = p[i]
    return {"d": d, "p": p}
