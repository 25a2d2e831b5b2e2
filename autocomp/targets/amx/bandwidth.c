/* Single-core memory bandwidth for the roofline bound: AVX-512 streaming reads (and plain
 * stores) over working sets of 512 KiB (L2), 8 MiB and 64 MiB (L3 on our machines) and 1 GiB
 * (DRAM, larger than any L3 we run on).
 * Each size is swept repeatedly; the best of 11 ~0.05 s runs is kept (the maximum is
 * the capability; lower numbers are interference from other processes).
 * Prints one line per measurement: `read|write <working-set bytes> <bytes per second>`. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Four independent accumulators so the loads, not the adds, are the bottleneck. */
static __attribute__((noinline)) __m512i sweep_read(const char *p, size_t n) {
  __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
  for (size_t i = 0; i < n; i += 256) {
    a = _mm512_xor_si512(a, _mm512_load_si512(p + i));
    b = _mm512_xor_si512(b, _mm512_load_si512(p + i + 64));
    c = _mm512_xor_si512(c, _mm512_load_si512(p + i + 128));
    d = _mm512_xor_si512(d, _mm512_load_si512(p + i + 192));
  }
  return _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
}

static __attribute__((noinline)) void sweep_write(char *p, size_t n, __m512i v) {
  for (size_t i = 0; i < n; i += 64) _mm512_store_si512(p + i, v);
}

static double measure(char *buf, size_t n, int write) {
  __m512i sink = _mm512_setzero_si512(), v = _mm512_set1_epi32(7);
  long sweeps = 1;
  for (;;) { /* calibrate to ~0.05 s per run */
    double t0 = now();
    for (long s = 0; s < sweeps; s++) {
      if (write) sweep_write(buf, n, v); else sink = _mm512_xor_si512(sink, sweep_read(buf, n));
    }
    double dt = now() - t0;
    if (dt > 0.02) { sweeps = (long)(sweeps * 0.05 / dt) + 1; break; }
    sweeps *= 2;
  }
  double best = 0;
  for (int rep = 0; rep < 11; rep++) {
    double t0 = now();
    for (long s = 0; s < sweeps; s++) {
      if (write) sweep_write(buf, n, v); else sink = _mm512_xor_si512(sink, sweep_read(buf, n));
    }
    double bw = (double)n * sweeps / (now() - t0);
    if (bw > best) best = bw;
  }
  if (_mm512_reduce_add_epi32(sink) == 42) fprintf(stderr, "(sink)\n"); /* keep the reads alive */
  return best;
}

int main(void) {
  const size_t sizes[] = {(size_t)512 << 10, (size_t)8 << 20, (size_t)64 << 20, (size_t)1 << 30};
  for (int i = 0; i < 4; i++) {
    char *buf = aligned_alloc(4096, sizes[i]);
    if (!buf) { perror("aligned_alloc"); return 1; }
    memset(buf, 1, sizes[i]);
    printf("read %zu %.6e\n", sizes[i], measure(buf, sizes[i], 0));
    printf("write %zu %.6e\n", sizes[i], measure(buf, sizes[i], 1));
    free(buf);
  }
  return 0;
}
