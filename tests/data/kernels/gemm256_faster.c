#include <stddef.h>
#include <string.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* C[M][N] = A[M][K] * B[K][N], row-major, M = N = K = 256.
 *
 * Sample "LLM reply" for tests and the demo: packing + cache blocking + a register-blocked
 * micro-kernel.
 *   - A is packed once per call into 4-row strips, k-major (Ap[strip][k][0..3]), so the
 *     micro-kernel reads A sequentially instead of from 4 rows 1 KB apart.
 *   - B is packed one 16-column panel at a time (Bp[k][0..15], 16 KB: stays in L1) and
 *     every strip of A is multiplied against it while it is hot.
 *   - The micro-kernel keeps a 4 x 16 tile of C in four AVX-512 registers, runs over all
 *     of k with one broadcast + FMA per row, and stores C once.
 * The scratch buffers are static but rebuilt from the inputs on every call. Without
 * AVX-512 the same blocking runs with a micro-kernel in 8-wide gcc vectors (AVX2 registers).
 * (A larger tile, e.g. 8 x 32 with 16 accumulators, would hide FMA latency better.) */

enum { M = 256, N = 256, K = 256, MR = 4, NR = 16 };

static float Ap[M * K] __attribute__((aligned(64)));
static float Bp[K * NR] __attribute__((aligned(64)));

static void pack_a(const float *restrict A) {
  for (int s = 0; s < M / MR; s++) {
    float *restrict dst = Ap + (size_t)s * K * MR;
    const float *restrict src = A + (size_t)s * MR * K;
    for (int k = 0; k < K; k++)
      for (int r = 0; r < MR; r++) dst[k * MR + r] = src[(size_t)r * K + k];
  }
}

static void pack_b(const float *restrict B, int j0) {
  for (int k = 0; k < K; k++) memcpy(Bp + (size_t)k * NR, B + (size_t)k * N + j0, NR * sizeof(float));
}

#ifdef __AVX512F__
static inline void micro_kernel(const float *restrict a, const float *restrict b, float *restrict c) {
  __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
  __m512 c2 = _mm512_setzero_ps(), c3 = _mm512_setzero_ps();
  for (int k = 0; k < K; k++) {
    const __m512 bv = _mm512_load_ps(b);
    c0 = _mm512_fmadd_ps(_mm512_set1_ps(a[0]), bv, c0);
    c1 = _mm512_fmadd_ps(_mm512_set1_ps(a[1]), bv, c1);
    c2 = _mm512_fmadd_ps(_mm512_set1_ps(a[2]), bv, c2);
    c3 = _mm512_fmadd_ps(_mm512_set1_ps(a[3]), bv, c3);
    a += MR;
    b += NR;
  }
  _mm512_storeu_ps(c + 0 * N, c0);
  _mm512_storeu_ps(c + 1 * N, c1);
  _mm512_storeu_ps(c + 2 * N, c2);
  _mm512_storeu_ps(c + 3 * N, c3);
}
#else
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias)); /* one AVX2 register */
static inline void micro_kernel(const float *restrict a, const float *restrict b, float *restrict c) {
  v8 acc[MR][2];
  for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = (v8){0};
  for (int k = 0; k < K; k++) {
    const v8 b0 = *(const v8 *)b, b1 = *(const v8 *)(b + 8);
    for (int r = 0; r < MR; r++) {
      acc[r][0] += a[r] * b0;
      acc[r][1] += a[r] * b1;
    }
    a += MR;
    b += NR;
  }
  for (int r = 0; r < MR; r++) {
    *(v8 *)(c + (size_t)r * N) = acc[r][0];
    *(v8 *)(c + (size_t)r * N + 8) = acc[r][1];
  }
}
#endif

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  pack_a(A);
  for (int j0 = 0; j0 < N; j0 += NR) {
    pack_b(B, j0);
    for (int s = 0; s < M / MR; s++)
      micro_kernel(Ap + (size_t)s * K * MR, Bp, C + (size_t)s * MR * N + j0);
  }
}
