/* Unoptimized starting code for admm-1 ("unopt_sw" style): horizon-5 rollout,
 *   u_i = -(Kinf @ x_i) - d_i,   x_{i+1} = Adyn @ x_i + Bdyn @ u_i.
 * Every step reloads every matrix, runs each matrix-vector product separately on Gemmini,
 * moves each result out, fences, and does the negations and additions on the CPU.
 *   Kinf @ x_i : row-vector form, (1x12) x_i^T @ KinfT (12x4); KinfT blocks are the weights.
 *   Adyn @ x_i : column form, each 4x4 tile of Adyn is an A tile, the matching 4-float piece
 *                of x_i is a 4x1 weight column.
 *   Bdyn @ u_i : column form, the three 4x4 row tiles of Bdyn against u_i as a 4x1 column.
 * Scratchpad rows: KinfT 0-11, x_i (row form) 12-14, Adyn tiles 16-51, x_i (column form)
 * 52-63, Bdyn tiles 64-75, u_i (column) 76-79. Accumulator rows: Kx 0, Ax 4-15, Bu 16-27.
 * gemmini.h is force-included by the build. */
void admm_rollout(const float *restrict x0, const float *restrict d, const float *restrict KinfT,
                  const float *restrict Adyn, const float *restrict Bdyn, float *restrict u,
                  float *restrict x) {
  const uint32_t ACC = 0x80000000u;        /* bit 31: accumulator address */
  const uint32_t ACCUMULATE = 0x40000000u; /* bit 30: add into the accumulator */
  float Kx[4], Ax[12], Bu[12];

  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);

  for (int i = 0; i < 5; i++) {
    const float *xi = i == 0 ? x0 : x + 12 * (i - 1);
    float *ui = u + 4 * i;

    /* 1. Kx = Kinf @ x_i */
    config_ld(4 * sizeof(float), 1.0f, 4, 0);
    for (int kb = 0; kb < 3; kb++)
      mvin(KinfT + 16 * kb, 4 * kb, 4, 4);
    for (int kb = 0; kb < 3; kb++)
      mvin(xi + 4 * kb, 12 + kb, 4, 1);
    for (int kb = 0; kb < 3; kb++) {
      preload(4 * kb, ACC | (kb ? ACCUMULATE : 0), 4, 4, 4, 1);
      compute_preloaded(12 + kb, GARBAGE_ADDR, 4, 1, 4, 4);
    }
    config_st(4 * sizeof(float), 1.0f);
    mvout(Kx, ACC, 4, 1);
    fence();

    /* 2. u_i = -Kx - d_i on the CPU */
    for (int j = 0; j < 4; j++)
      ui[j] = -Kx[j] - d[4 * i + j];

    /* 3. Ax = Adyn @ x_i */
    config_ld(12 * sizeof(float), 1.0f, 4, 0);
    for (int rb = 0; rb < 3; rb++)
      for (int kb = 0; kb < 3; kb++)
        mvin(Adyn + 48 * rb + 4 * kb, 16 + 4 * (3 * rb + kb), 4, 4);
    config_ld(sizeof(float), 1.0f, 4, 1); /* a column vector: one float per row */
    for (int kb = 0; kb < 3; kb++)
      mvin2(xi + 4 * kb, 52 + 4 * kb, 1, 4);
    for (int rb = 0; rb < 3; rb++)
      for (int kb = 0; kb < 3; kb++) {
        preload(52 + 4 * kb, ACC | (4 + 4 * rb) | (kb ? ACCUMULATE : 0), 1, 4, 1, 4);
        compute_preloaded(16 + 4 * (3 * rb + kb), GARBAGE_ADDR, 4, 4, 4, 4);
      }

    /* 4. Bu = Bdyn @ u_i */
    config_ld(4 * sizeof(float), 1.0f, 4, 0);
    for (int rb = 0; rb < 3; rb++)
      mvin(Bdyn + 16 * rb, 64 + 4 * rb, 4, 4);
    mvin2(ui, 76, 1, 4);
    for (int rb = 0; rb < 3; rb++) {
      preload(76, ACC | (16 + 4 * rb), 1, 4, 1, 4);
      compute_preloaded(64 + 4 * rb, GARBAGE_ADDR, 4, 4, 4, 4);
    }

    config_st(sizeof(float), 1.0f);
    for (int rb = 0; rb < 3; rb++)
      mvout(Ax + 4 * rb, ACC | (4 + 4 * rb), 1, 4);
    for (int rb = 0; rb < 3; rb++)
      mvout(Bu + 4 * rb, ACC | (16 + 4 * rb), 1, 4);
    fence();

    /* 5. x_{i+1} = Ax + Bu on the CPU */
    for (int s = 0; s < 12; s++)
      x[12 * i + s] = Ax[s] + Bu[s];
  }
}
