/* Unoptimized starting code for admm-2 ("unopt_sw" style): horizon-10 backward pass,
 *   B_p = Bdyn^T @ p_{i+1};  d_i = Quu_inv^T @ (B_p + r_i);
 *   K_r = Kinf^T @ r_i = KinfT @ r_i;  p_i = q_i + AmBKt @ p_{i+1} - K_r,   i = 9 .. 0.
 * Every step reloads every matrix, runs each matrix-vector product separately on Gemmini,
 * moves each result out, fences, and does the additions on the CPU.
 *   Bdyn^T @ p    : row-vector form, p^T (1x12) @ Bdyn (12x4); Bdyn blocks are the weights.
 *   Quu_inv^T @ t : row-vector form, t^T (1x4) @ Quu_inv (4x4).
 *   KinfT @ r_i   : column form, the three 4x4 row tiles of KinfT against r_i as a 4x1 column.
 *   AmBKt @ p     : column form, each 4x4 tile of AmBKt against a 4-float piece of p.
 * Scratchpad rows: Bdyn 0-11, p (row form) 12-14, Quu_inv 16-19, t 20, KinfT 24-35,
 * r_i (column) 36-39, AmBKt tiles 40-75, p (column form) 76-87.
 * Accumulator rows: B_p 0, d_i 1, K_r 4-15, AmBKt @ p 16-27.
 * gemmini.h is force-included by the build. */
void admm_backward_pass(const float *restrict pN, const float *restrict r, const float *restrict q,
                        const float *restrict Bdyn, const float *restrict Quu_inv,
                        const float *restrict KinfT, const float *restrict AmBKt, float *restrict d,
                        float *restrict p) {
  const uint32_t ACC = 0x80000000u;        /* bit 31: accumulator address */
  const uint32_t ACCUMULATE = 0x40000000u; /* bit 30: add into the accumulator */
  float Bp[4], t[4], Kr[12], Ap[12];

  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);

  for (int i = 9; i >= 0; i--) {
    const float *pn = i == 9 ? pN : p + 12 * (i + 1);

    /* 1. B_p = Bdyn^T @ p_{i+1} */
    config_ld(4 * sizeof(float), 1.0f, 4, 0);
    for (int kb = 0; kb < 3; kb++)
      mvin(Bdyn + 16 * kb, 4 * kb, 4, 4);
    for (int kb = 0; kb < 3; kb++)
      mvin(pn + 4 * kb, 12 + kb, 4, 1);
    for (int kb = 0; kb < 3; kb++) {
      preload(4 * kb, ACC | (kb ? ACCUMULATE : 0), 4, 4, 4, 1);
      compute_preloaded(12 + kb, GARBAGE_ADDR, 4, 1, 4, 4);
    }
    config_st(4 * sizeof(float), 1.0f);
    mvout(Bp, ACC, 4, 1);
    fence();

    /* 2. t = B_p + r_i on the CPU */
    for (int j = 0; j < 4; j++)
      t[j] = Bp[j] + r[4 * i + j];

    /* 3. d_i = Quu_inv^T @ t, written straight to the output */
    mvin(Quu_inv, 16, 4, 4);
    mvin(t, 20, 4, 1);
    preload(16, ACC | 1, 4, 4, 4, 1);
    compute_preloaded(20, GARBAGE_ADDR, 4, 1, 4, 4);
    mvout(d + 4 * i, ACC | 1, 4, 1);

    /* 4. K_r = KinfT @ r_i */
    for (int rb = 0; rb < 3; rb++)
      mvin(KinfT + 16 * rb, 24 + 4 * rb, 4, 4);
    config_ld(sizeof(float), 1.0f, 4, 1); /* a column vector: one float per row */
    mvin2(r + 4 * i, 36, 1, 4);
    for (int rb = 0; rb < 3; rb++) {
      preload(36, ACC | (4 + 4 * rb), 1, 4, 1, 4);
      compute_preloaded(24 + 4 * rb, GARBAGE_ADDR, 4, 4, 4, 4);
    }

    /* 5. Ap = AmBKt @ p_{i+1} */
    config_ld(12 * sizeof(float), 1.0f, 4, 0);
    for (int rb = 0; rb < 3; rb++)
      for (int kb = 0; kb < 3; kb++)
        mvin(AmBKt + 48 * rb + 4 * kb, 40 + 4 * (3 * rb + kb), 4, 4);
    for (int kb = 0; kb < 3; kb++)
      mvin2(pn + 4 * kb, 76 + 4 * kb, 1, 4);
    for (int rb = 0; rb < 3; rb++)
      for (int kb = 0; kb < 3; kb++) {
        preload(76 + 4 * kb, ACC | (16 + 4 * rb) | (kb ? ACCUMULATE : 0), 1, 4, 1, 4);
        compute_preloaded(40 + 4 * (3 * rb + kb), GARBAGE_ADDR, 4, 4, 4, 4);
      }

    config_st(sizeof(float), 1.0f);
    for (int rb = 0; rb < 3; rb++)
      mvout(Kr + 4 * rb, ACC | (4 + 4 * rb), 1, 4);
    for (int rb = 0; rb < 3; rb++)
      mvout(Ap + 4 * rb, ACC | (16 + 4 * rb), 1, 4);
    fence();

    /* 6. p_i = q_i + Ap - K_r on the CPU */
    for (int s = 0; s < 12; s++)
      p[12 * i + s] = q[12 * i + s] + Ap[s] - Kr[s];
  }
}
