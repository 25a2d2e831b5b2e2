#include <stddef.h>

/* C[M][N] = A[M][K] * B[K][N], row-major, M = N = K = 256.
 *
 * Sample "LLM reply" for tests and the demo: the naive i-j-k loop reordered to i-k-j.
 * The inner j loop now walks contiguous rows of B and C with independent iterations, so
 * gcc vectorizes it (AVX-512/AVX2 FMA with -march=native) without reassociating any sum:
 * each C[i][j] still accumulates its k terms in order. The C row (1 KB) stays in L1. */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  enum { M = 256, N = 256, K = 256 };
  for (int i = 0; i < M; i++) {
    float *restrict c = C + (size_t)i * N;
    for (int j = 0; j < N; j++) c[j] = 0.0f;
    for (int k = 0; k < K; k++) {
      const float a = A[(size_t)i * K + k];
      const float *restrict b = B + (size_t)k * N;
      for (int j = 0; j < N; j++) c[j] += a * b[j];
    }
  }
}
