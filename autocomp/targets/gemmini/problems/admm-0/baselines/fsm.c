/* Library baseline for admm-0 ("unopt_hw" style): the matrix-vector product runs as one
 * tiled_matmul_auto call (one gemmini_loop_ws hardware loop per tile; our own library,
 * emulator/library.c), then a fence and the negation / subtraction on the CPU.
 * Kx^T (1x4) = x^T (1x12) @ KinfT (12x4): I = 1, J = 4, K = 12. */
void admm_u_update(const float *restrict KinfT, const float *restrict x, const float *restrict d, float *restrict u) {
  float Kx[4];
  tiled_matmul_auto(1, 4, 12, x, KinfT, NULL, Kx, 12, 4, 4, 4, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY,
                    MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false, false,
                    false, false, 0, WS);
  gemmini_fence();
  for (int i = 0; i < 4; i++)
    u[i] = -Kx[i] - d[i];
}
