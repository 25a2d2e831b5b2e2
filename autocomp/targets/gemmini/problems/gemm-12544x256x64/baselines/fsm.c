/* Library baseline for gemm-12544x256x64: one gemmini_loop_ws (hardware matmul FSM) per tile, the "HW FSM" reference point.
 * (our own library, emulator/library.c; tiling rule in include/gemmini_lib.h). */
void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {
  tiled_matmul_auto(12544, 64, 256, A, B, NULL, C, 256, 64, 64, 64, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY, MVIN_SCALE_IDENTITY, NO_ACTIVATION, ACC_SCALE_IDENTITY, ACC_SCALE_IDENTITY, false, false, false, false, false, 0, WS);
  gemmini_fence();
}
