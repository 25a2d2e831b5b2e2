/* Leaves C untouched (a no-op "kernel"). */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  (void)A; (void)B; (void)C;
}
