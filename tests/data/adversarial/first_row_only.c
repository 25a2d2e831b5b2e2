/* Computes only row 0 of C (the "147x" partial-computation exploit). */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int j = 0; j < 256; j++) {
    float acc = 0.0f;
    for (int k = 0; k < 256; k++) acc += A[k] * B[k * 256 + j];
    C[j] = acc;
  }
}
