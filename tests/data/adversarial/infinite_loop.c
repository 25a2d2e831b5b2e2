/* Never returns. */
void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  (void)A; (void)B; (void)C;
  volatile unsigned long spins = 0;
  for (;;) spins++;
}
