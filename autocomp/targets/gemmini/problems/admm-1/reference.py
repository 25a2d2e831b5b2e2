import numpy as np

HORIZON = 5


def reference(x0, d, KinfT, Adyn, Bdyn):
    """Horizon-5 TinyMPC forward rollout.

    x_0 = x0; for i in 0..4: u_i = -(Kinf @ x_i) - d_i; x_{i+1} = Adyn @ x_i + Bdyn @ u_i,
    with Kinf = KinfT.T. Returns u [5][4][1] (u_i) and x [5][12][1] (x_{i+1}).

    Exactness: inputs are integers in [-1, 1]; a simulation of 40,000 random and extreme draws
    kept every partial sum (bounded by sum |a_k b_k|) below 3.2e6 < 2**24, so fp32 on Gemmini
    is exact in any summation order and float64 here gives the same integers.
    """
    Kinf = KinfT.astype(np.float64).T
    A = Adyn.astype(np.float64)
    B = Bdyn.astype(np.float64)
    xi = x0.astype(np.float64)
    u = np.empty((HORIZON, 4, 1))
    x = np.empty((HORIZON, 12, 1))
    for i in range(HORIZON):
        u[i] = -(Kinf @ xi) - d[i].astype(np.float64)
        xi = A @ xi + B @ u[i]
        x[i] = xi
    return {"u": u, "x": x}
