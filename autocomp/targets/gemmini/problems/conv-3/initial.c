/* Exo-style unoptimized Gemmini convolution (the starting point of the search):
 * output[4][14][14][128] = requantize(bias + conv3x3(input[4][16][16][128], weights[3][3][128][128])).
 * For every batch, output row, block of up to 16 output pixels and 64 output channels: the
 * bias is moved in with stride 0 into 4 accumulator blocks; for every (krow, kcol) the
 * 3x3 weights slice is reloaded (no reuse across output blocks), the input pixels are moved in
 * (with a config_ld for mvin3's block stride inside the loop), and one preload + compute pair
 * runs per (input-channel block, output-channel block); then 4 mvouts. One fence at the end. */
void conv(const int8_t *restrict input, const int8_t *restrict weights, const int32_t *restrict bias,
          int8_t *restrict output) {
  const int N = 4, P = 14, Q = 14, C = 128, K = 128, H = 16, W = 16;
  gemmini_extended_config_st(K * sizeof(int8_t), NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(0, 1.0f, false, 0);
  gemmini_extended3_config_ld(K * sizeof(int8_t), 1.0f, false, 1);
  for (int b = 0; b < N; b++) {
    for (int orow = 0; orow < P; orow++) {
      for (int ocol = 0; ocol < Q; ocol += 16) {
        int px = Q - ocol < 16 ? Q - ocol : 16;
        for (int och = 0; och < K; och += 64) {
          for (int ob = 0; ob < 4; ob++)
            gemmini_extended_mvin(&bias[och + 16 * ob], 0x80000000u | (uint32_t)(ob * 16), 16, px);
          for (int kr = 0; kr < 3; kr++) {
            for (int kc = 0; kc < 3; kc++) {
              for (int cb = 0; cb < C / 16; cb++)
                gemmini_extended_mvin2(&weights[((size_t)(kr * 3 + kc) * C + 16 * cb) * K + och], 1024 + cb * 64, 64, 16);
              gemmini_extended4_config_ld(C * sizeof(int8_t), 1.0f, false, 16, 2);
              for (int cc = 0; cc < C; cc += 64)
                gemmini_extended_mvin3(&input[(((size_t)b * H + orow + kr) * W + ocol + kc) * C + cc], (uint32_t)(cc / 16 * 16), C - cc < 64 ? C - cc : 64, px);
              for (int cb = 0; cb < C / 16; cb++) {
                for (int ob = 0; ob < 4; ob++) {
                  gemmini_extended_preload(1024 + cb * 64 + ob * 16, 0xC0000000u | (uint32_t)(ob * 16), 16, 16, 16, px);
                  gemmini_extended_compute_preloaded(cb * 16, GARBAGE_ADDR, 16, px, 16, 16);
                }
              }
            }
          }
          for (int ob = 0; ob < 4; ob++)
            gemmini_extended_mvout(&output[(((size_t)b * P + orow) * Q + ocol) * K + och + 16 * ob], 0x80000000u | (uint32_t)(ob * 16), 16, px);
        }
      }
    }
  }
  gemmini_fence();
}
