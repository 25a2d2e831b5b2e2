#include <stddef.h>

/* C[M][N] = A[M][K] * B[K][N], row-major, M = N = K = 512. Straightforward triple loop. */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  const int M = 512, N = 512, K = 512;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float acc = 0.0f;
      for (int k = 0; k < K; k++) acc += A[(size_t)i * K + k] * B[(size_t)k * N + j];
      C[(size_t)i * N + j] = acc;
    }
}
