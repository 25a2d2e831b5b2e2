/* Library baseline for gemm-3136x512x128: the same tiling with CPU-issued mvin/preload/compute/mvout loops, our stand-in for the
 * paper's "SW lib" baseline (which of the two the paper used cannot be verified).
 * (our own library, emulator/library.c; tiling rule in include/gemmini_lib.h). */
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {
  tiled_matmul_auto_sw(3136, 128, 512, A, B, NULL, C, 512, 128, 128, 128, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false, false, false, false, 0, WS);
  gemmini_fence();
}
