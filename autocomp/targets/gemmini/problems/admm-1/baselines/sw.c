/* Library baseline for admm-1 (the tiled_matmul_auto_sw variant of fsm.c): each matrix-vector product is one
 * tiled_matmul_auto_sw call (CPU-issued mvin/preload/compute/mvout loops, our stand-in for the "SW lib"; our own library, emulator/library.c),
 * with fences and the negation / additions on the CPU.
 *   Kx^T = x_i^T @ KinfT   (I = 1,  J = 4, K = 12)
 *   Ax   = Adyn @ x_i      (I = 12, J = 1, K = 12)
 *   Bu   = Bdyn @ u_i      (I = 12, J = 1, K = 4) */
void admm_rollout(const float *restrict x0, const float *restrict d, const float *restrict KinfT,
                  const float *restrict Adyn, const float *restrict Bdyn, float *restrict u,
                  float *restrict x) {
  float Kx[4], Ax[12], Bu[12];
  for (int i = 0; i < 5; i++) {
    const float *xi = i == 0 ? x0 : x + 12 * (i - 1);
    float *ui = u + 4 * i;
    tiled_matmul_auto_sw(1, 4, 12, xi, KinfT, NULL, Kx, 12, 4, 4, 4, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    gemmini_fence();
    for (int j = 0; j < 4; j++)
      ui[j] = -Kx[j] - d[4 * i + j];
    tiled_matmul_auto_sw(12, 1, 12, Adyn, xi, NULL, Ax, 12, 1, 1, 1, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    tiled_matmul_auto_sw(12, 1, 4, Bdyn, ui, NULL, Bu, 4, 1, 1, 1, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                      MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false,
                      false, false, false, 0, WS);
    gemmini_fence();
    for (int s = 0; s < 12; s++)
      x[12 * i + s] = Ax[s] + Bu[s];
  }
}
