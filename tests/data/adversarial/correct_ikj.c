/* A legitimate optimisation (negative control): i-k-j loop order, so the inner loop
 * streams rows of B and C and vectorises. Must be accepted, and be faster. */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int i = 0; i < 256 * 256; i++) C[i] = 0.0f;
  for (int i = 0; i < 256; i++)
    for (int k = 0; k < 256; k++) {
      const float a = A[i * 256 + k];
      for (int j = 0; j < 256; j++) C[i * 256 + j] += a * B[k * 256 + j];
    }
}
