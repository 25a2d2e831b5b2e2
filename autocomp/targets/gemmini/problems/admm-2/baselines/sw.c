/* Library baseline for admm-2 (the tiled_matmul_auto_sw variant of fsm.c): each matrix-vector product is one
 * tiled_matmul_auto_sw call (CPU-issued mvin/preload/compute/mvout loops, our stand-in for the "SW lib"; our own library, emulator/library.c),
 * with fences and the additions on the CPU.
 *   B_p^T = p_{i+1}^T @ Bdyn     (I = 1,  J = 4, K = 12)
 *   d_i^T = t^T @ Quu_inv        (I = 1,  J = 4, K = 4), t = B_p + r_i
 *   K_r   = KinfT @ r_i          (I = 12, J = 1, K = 4)
 *   Ap    = AmBKt @ p_{i+1}      (I = 12, J = 1, K = 12) */
void admm_backward_pass(const float *restrict pN, const float *restrict r, const float *restrict q,
                        const float *restrict Bdyn, const float *restrict Quu_inv,
                        const float *restrict KinfT, const float *restrict AmBKt, float *restrict d,
                        float *restrict p) {
  float Bp[4], t[4], Kr[12], Ap[12];
  for (int i = 9; i >= 0; i--) {
    const float *pn = i == 9 ? pN : p + 12 * (i + 1);
    tiled_matmul_auto_sw(1, 4, 12, pn, Bdyn, NULL, Bp, 12, 4, 4, 4, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    gemmini_fence();
    for (int j = 0; j < 4; j++)
      t[j] = Bp[j] + r[4 * i + j];
    tiled_matmul_auto_sw(1, 4, 4, t, Quu_inv, NULL, d + 4 * i, 4, 4, 4, 4, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    tiled_matmul_auto_sw(12, 1, 4, KinfT, r + 4 * i, NULL, Kr, 4, 1, 1, 1, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    tiled_matmul_auto_sw(12, 1, 12, AmBKt, pn, NULL, Ap, 12, 1, 1, 1, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    gemmini_fence();
    for (int s = 0; s < 12; s++)
      p[12 * i + s] = q[12 * i + s] + Ap[s] - Kr[s];
  }
}
