/* fp32 FMA peak of one core: independent accumulators of the widest vector gcc enables with
 * -march=native; enough of them to cover FMA latency x pipes, few enough that they and the two
 * operands stay in registers (16 of AVX-512's 32 registers, 12 of AVX2's 16: with 16 on AVX2,
 * gcc spills and the measured "peak" drops below what real kernels reach). */
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
#define WIDTH 16
#define ACCS 16
#elif defined(__AVX__)
#define WIDTH 8
#define ACCS 12
#else
#define WIDTH 4
#define ACCS 12
#endif
typedef float vec __attribute__((vector_size(WIDTH * 4)));

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define STEP(x) x = x * a + b
int main(void) {
  vec a, b;
  for (int i = 0; i < WIDTH; i++) { a[i] = 0.999999f; b[i] = 1e-7f; }
  vec c0 = b, c1 = b, c2 = b, c3 = b, c4 = b, c5 = b, c6 = b, c7 = b, c8 = b, c9 = b, c10 = b, c11 = b;
#if ACCS == 16
  vec c12 = b, c13 = b, c14 = b, c15 = b;
#endif
  const long iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now();
    for (long i = 0; i < iters; i++) {
      STEP(c0); STEP(c1); STEP(c2); STEP(c3); STEP(c4); STEP(c5);
      STEP(c6); STEP(c7); STEP(c8); STEP(c9); STEP(c10); STEP(c11);
      __asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5));
      __asm__ volatile("" : "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
#if ACCS == 16
      STEP(c12); STEP(c13); STEP(c14); STEP(c15);
      __asm__ volatile("" : "+v"(c12), "+v"(c13), "+v"(c14), "+v"(c15));
#endif
    }
    double dt = now() - t0, flops = 2.0 * WIDTH * ACCS * iters / dt;
    if (flops > best) best = flops;
  }
  vec sum = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
#if ACCS == 16
  sum += c12 + c13 + c14 + c15;
#endif
  fprintf(stderr, "sink %g width %d accumulators %d\n", (double)sum[0], WIDTH, ACCS);
  printf("%.6e\n", best);
  return 0;
}
