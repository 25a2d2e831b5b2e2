/* Fills C with zeros. */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  (void)A; (void)B;
  for (int i = 0; i < 256 * 256; i++) C[i] = 0.0f;
}
