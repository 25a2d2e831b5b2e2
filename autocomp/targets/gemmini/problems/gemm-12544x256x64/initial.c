/* Exo-style unoptimized Gemmini GEMM (the starting point of the search):
 * C[I][J] = A[I][K] @ B[K][J], I = 12544, K = 256, J = 64, int8 in and out, int32 accumulation.
 * For every 16-row x 64-column block of C: zero a 16 x 64 accumulator region, then for every
 * 64-wide chunk of K load a 16 x 64 A tile (spad rows 0..63) and a 64 x 64 B tile (spad rows
 * 512..767, the same rows every time, no reuse across blocks) and run 16 preload + compute
 * pairs; then move the four 16 x 16 result blocks out. One fence at the end. */
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {
  const int I = 12544, K = 256, J = 64;
  gemmini_extended_config_st(J * sizeof(int8_t), NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(J * sizeof(int8_t), 1.0f, false, 2);
  gemmini_extended3_config_ld(K * sizeof(int8_t), 1.0f, false, 1);
  gemmini_extended3_config_ld(0, 1.0f, false, 0);
  for (int io = 0; io < I / 16; io++) {
    for (int jo = 0; jo < J / 64; jo++) {
      for (int jb = 0; jb < 4; jb++)
        gemmini_extended_mvin(0, 0x80000000u | (uint32_t)(jb * 16), 16, 16);
      for (int ko = 0; ko < K / 64; ko++) {
        gemmini_extended_mvin2(&A[(size_t)(16 * io) * K + 64 * ko], 0, 64, 16);
        for (int kb = 0; kb < 4; kb++)
          gemmini_extended_mvin3(&B[(size_t)(64 * ko + 16 * kb) * J + 64 * jo], 512 + kb * 64, 64, 16);
        for (int kb = 0; kb < 4; kb++) {
          for (int jb = 0; jb < 4; jb++) {
            gemmini_extended_preload(512 + kb * 64 + jb * 16, 0xC0000000u | (uint32_t)(jb * 16), 16, 16, 16, 16);
            gemmini_extended_compute_preloaded(kb * 16, GARBAGE_ADDR, 16, 16, 16, 16);
          }
        }
      }
      for (int jb = 0; jb < 4; jb++)
        gemmini_extended_mvout(&C[(size_t)(16 * io) * J + 64 * jo + 16 * jb], 0x80000000u | (uint32_t)(jb * 16), 16, 16);
    }
  }
  gemmini_fence();
}
