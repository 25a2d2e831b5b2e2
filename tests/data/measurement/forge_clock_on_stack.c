/* Timing forgery (issue 17, hole 2). Computes C honestly with the initial triple loop, then
 * walks up the stack from its own frame and moves every double that looks like seconds since
 * boot (the harness's start time, spilled across the call because every SSE register is
 * caller-saved) SHIFT_S seconds later: its call then looks SHIFT_S shorter than it was.
 * SHIFT_S is filled in by the test (half the initial code's latency: a forged 2x). */
#include <stddef.h>

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int i = 0; i < 256; i++)
    for (int j = 0; j < 256; j++) {
      float acc = 0.0f;
      for (int k = 0; k < 256; k++) acc += A[(size_t)i * 256 + k] * B[(size_t)k * 256 + j];
      C[(size_t)i * 256 + j] = acc;
    }
  volatile double *frame = (volatile double *)__builtin_frame_address(0);
  for (int i = 0; i < 2048; i++) {
    double v = frame[i];
    if (v > 10.0 && v < 1e8) frame[i] = v + SHIFT_S;
  }
}
