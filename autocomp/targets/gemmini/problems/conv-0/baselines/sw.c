/* Library baseline for conv-0: the same tiling with CPU-issued instruction loops, our stand-in for the paper's
 * "SW lib" baseline (which of the two the paper used cannot be verified).
 * (our own library, emulator/library.c; tiling rule in include/gemmini_lib.h). */
void conv(const int8_t *restrict input, const int8_t *restrict weights, const int32_t *restrict bias,
          int8_t *restrict output) {
  tiled_conv_auto_sw(4, 58, 58, 64, 64, 56, 56, 1, 1, 1, 0, 3, false, false, false, false, false, input, weights, bias, output, NO_ACTIVATION, ACC_SCALE_IDENTITY, 0, 0, 0, WS);
  gemmini_fence();
}
