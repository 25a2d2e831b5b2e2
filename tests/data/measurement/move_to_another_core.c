/* Escaping the load (issue 17, hole 2): a kernel that moves its process to another core than
 * the one it and the initial code are pinned to runs undisturbed while the initial code still
 * shares its core with whatever else runs there. Then computes honestly. */
#include <stddef.h>

extern int sched_setaffinity(int, size_t, const unsigned long *); /* <sched.h>'s, with a plain mask */

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  unsigned long mask[16] = {1}; /* core 0 */
  sched_setaffinity(0, sizeof mask, mask);
  for (int i = 0; i < 256; i++)
    for (int j = 0; j < 256; j++) {
      float acc = 0.0f;
      for (int k = 0; k < 256; k++) acc += A[(size_t)i * 256 + k] * B[(size_t)k * 256 + j];
      C[(size_t)i * 256 + j] = acc;
    }
}
