/* @template family=gemm */
/* fp32 GEMM C[M][N] = A[M][K] * B[K][N], all row-major: a parameterized kernel for the tuner.
 *
 * Per K block of KC: B is packed into NR-wide column panels (Bp[panel][k][NR], contiguous,
 * so the micro-kernel streams it), A optionally into MR-row strips (Ap[strip][k][MR]).
 * The micro-kernel keeps an MR x NR block of C in MR*NV vector registers (NR = 16*NV),
 * one broadcast of A and NV loads of B per k, and adds into C after the first K block.
 * GCC vector extensions keep it portable: 512-bit with AVX-512, split in two on AVX2. */
#include <stddef.h>
#include <string.h>

#define M 256 /* @param M */
#define N 256 /* @param N */
#define K 256 /* @param K */

#define MR 4 /* @knob values=1,2,4,6,8 menu="register blocking" */
#define NV 1 /* @knob values=1,2 menu="register blocking" */
#define KC 256 /* @knob values=64,128,256,512,1024 menu="cache blocking" */
#define PACK_A 1 /* @knob values=0,1 menu="packing into contiguous panels" */
#define UNROLL 1 /* @knob values=1,2,4 menu="loop unrolling" */
/* @constraint M % MR == 0 && N % (16 * NV) == 0 && K % KC == 0 && MR * NV <= 12 && KC % UNROLL == 0 */

#define NR (16 * NV)
typedef float v16 __attribute__((vector_size(64), aligned(4), may_alias)); /* unaligned loads allowed */

static float Bp[(size_t)KC * N] __attribute__((aligned(64)));
static float Ap[(size_t)M * KC] __attribute__((aligned(64)));

static void pack_b(const float *restrict B, int k0) {
  for (int jp = 0; jp < N / NR; jp++)
    for (int k = 0; k < KC; k++)
      memcpy(Bp + ((size_t)jp * KC + k) * NR, B + (size_t)(k0 + k) * N + (size_t)jp * NR, NR * sizeof(float));
}

static void pack_a(const float *restrict A, int k0) {
  for (int ip = 0; ip < M / MR; ip++)
    for (int k = 0; k < KC; k++)
      for (int r = 0; r < MR; r++)
        Ap[((size_t)ip * KC + k) * MR + r] = A[(size_t)(ip * MR + r) * K + k0 + k];
}

static inline void micro_kernel(const float *restrict a, size_t a_row, size_t a_k, const float *restrict b,
                                float *restrict c, int accumulate) {
  v16 acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      if (accumulate) acc[r][v] = *(const v16 *)(c + (size_t)r * N + 16 * v);
      else acc[r][v] = (v16){0};
    }
#if UNROLL == 4
#pragma GCC unroll 4
#elif UNROLL == 2
#pragma GCC unroll 2
#else
#pragma GCC unroll 1
#endif
  for (int k = 0; k < KC; k++) {
    v16 bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) bv[v] = *(const v16 *)(b + (size_t)k * NR + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const float av = a[(size_t)r * a_row + (size_t)k * a_k];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) *(v16 *)(c + (size_t)r * N + 16 * v) = acc[r][v];
}

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int k0 = 0; k0 < K; k0 += KC) {
    pack_b(B, k0);
    if (PACK_A) pack_a(A, k0);
    for (int i = 0; i < M; i += MR)
      for (int jp = 0; jp < N / NR; jp++) {
        const float *a = PACK_A ? Ap + (size_t)(i / MR) * KC * MR : A + (size_t)i * K + k0;
        micro_kernel(a, PACK_A ? 1 : K, PACK_A ? MR : 1, Bp + (size_t)jp * KC * NR,
                     C + (size_t)i * N + (size_t)jp * NR, k0 > 0);
      }
  }
}
