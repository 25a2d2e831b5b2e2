/* Unoptimized starting code for admm-0 ("unopt_sw" style): u = -(Kinf @ x) - d.
 * Gemmini computes Kx = Kinf @ x in row-vector form, Kx^T (1x4) = x^T (1x12) @ KinfT (12x4):
 * the three 4x4 blocks of KinfT are the weights, each 4-float piece of x is a one-row A tile,
 * and the three K steps accumulate into accumulator row 0. The result is moved out to a
 * stack buffer, the CPU fences, then negates and subtracts d on the CPU.
 * gemmini.h is force-included by the build. */
void admm_u_update(const float *restrict KinfT, const float *restrict x, const float *restrict d, float *restrict u) {
  const uint32_t ACC = 0x80000000u;        /* bit 31: accumulator address */
  const uint32_t ACCUMULATE = 0x40000000u; /* bit 30: add into the accumulator */
  float Kx[4];

  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);
  config_st(4 * sizeof(float), 1.0f);
  config_ld(4 * sizeof(float), 1.0f, 4, 0);

  /* weights: rows 4kb..4kb+3 of KinfT -> spad rows 4kb..4kb+3 */
  for (int kb = 0; kb < 3; kb++)
    mvin(KinfT + 16 * kb, 4 * kb, 4, 4);
  /* A: x[4kb..4kb+3] as one row -> spad row 12 + kb */
  for (int kb = 0; kb < 3; kb++)
    mvin(x + 4 * kb, 12 + kb, 4, 1);

  for (int kb = 0; kb < 3; kb++) {
    preload(4 * kb, ACC | (kb ? ACCUMULATE : 0), 4, 4, 4, 1);
    compute_preloaded(12 + kb, GARBAGE_ADDR, 4, 1, 4, 4);
  }
  mvout(Kx, ACC, 4, 1);
  fence();

  for (int i = 0; i < 4; i++)
    u[i] = -Kx[i] - d[i];
}
