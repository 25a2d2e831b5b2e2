/* Forging "preempted" (issue 17, hole 2): calls during which the process was preempted are
 * left out of the statistics, so a kernel that yields the core on its slow calls (here: every
 * other call, which it makes slow on purpose) would have only its fast calls counted. */
#include <sched.h>
#include <stddef.h>

static int calls;

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  int slow = ++calls % 2;
  for (int r = 0; r < (slow ? 3 : 1); r++)
    for (int i = 0; i < 256; i++)
      for (int j = 0; j < 256; j++) {
        float acc = 0.0f;
        for (int k = 0; k < 256; k++) acc += A[(size_t)i * 256 + k] * B[(size_t)k * 256 + j];
        C[(size_t)i * 256 + j] = acc;
      }
  if (slow) sched_yield();
}
