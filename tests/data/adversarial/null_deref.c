/* Writes through a NULL pointer. The pointer is volatile so the compiler cannot
 * prove it is NULL and turn the store into a trap instruction. */
static float *volatile target = 0;

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  (void)B;
  C[0] = A[0];
  *target = 1.0f;
}
