/* Does not compile: uses an undeclared identifier. */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int i = 0; i < 256 * 256; i++) C[i] = A[i] * undeclared_scale + B[i];
}
