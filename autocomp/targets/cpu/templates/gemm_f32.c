/* @template family=gemm shapes="A[M][K] B[K][N] C[M][N]" */
/* fp32 GEMM C[M][N] = A[M][K] * B[K][N], all row-major: a parameterized kernel for the tuner.
 *
 * Per K block of KC: B is packed into NR-wide column panels (Bp[panel][k][NR], contiguous,
 * so the micro-kernel streams it), A optionally into MR-row strips (Ap[strip][k][MR]). Any M, N
 * and K work: the last strip has M % MR rows, the last K block K % KC steps, and the last panel
 * N % NR columns (packed with zeros, computed into a small tile and copied out). Each remainder
 * is a separate instance of the same inlined micro-kernel, and the compiler drops the ones a
 * shape does not need, so divisible shapes run exactly the code they ran before.
 * The micro-kernel keeps an MR x NR block of C (NR = 16*NV columns) in native vector registers,
 * one broadcast of A and NR/VW loads of B per k, and adds into C after the first K block.
 * GCC vector extensions of the native width (VW floats: 16 with AVX-512, 8 otherwise) keep it
 * portable: wider generic vectors make gcc keep the accumulators on the stack (on AVX2 that
 * ran slower than the naive loop). The register budget is 32 zmm / 16 ymm: MR*NV <= 12 fits
 * AVX-512; on AVX2 MR*NV <= 6 does (MR 6, NV 1 is the fast point there), larger ones spill. */
#include <stddef.h>
#include <string.h>

#define M 256 /* @param M */
#define N 256 /* @param N */
#define K 256 /* @param K */

#define MR 4 /* @knob values=1,2,3,4,6,8 menu="register blocking (micro-kernel with several accumulators)" */
#define NV 1 /* @knob values=1,2 menu="register blocking (micro-kernel with several accumulators)" */
#define KC 256 /* @knob values=64,128,256,512,1024 menu="cache blocking for L1/L2" */
#define PACK_A 1 /* @knob values=0,1 menu="pack data into contiguous buffers" */
#define UNROLL 1 /* @knob values=1,2,4 menu="loop unrolling" */
/* KC / 2 < K: a block longer than K by more than one step is the same kernel as the next smaller one */
/* @constraint MR * NV <= 12 && KC % UNROLL == 0 && (KC / 2 < K || KC == 64) */

#define NR (16 * NV)
#ifdef __AVX512F__
#define VW 16 /* floats per native vector register */
#else
#define VW 8
#endif
#define NVR (NR / VW) /* native vectors per NR-wide row of the C block */
typedef float vnat __attribute__((vector_size(VW * 4), aligned(4), may_alias)); /* unaligned loads allowed */

#define PANELS ((N + NR - 1) / NR) /* NR-wide column panels of B and C; the last has N % NR columns when NR does not divide N */
#define STRIPS ((M + MR - 1) / MR) /* MR-row strips of A and C; the last has M % MR rows when MR does not divide M */
static float Bp[(size_t)KC * PANELS * NR] __attribute__((aligned(64)));
static float Ap[(size_t)STRIPS * MR * KC] __attribute__((aligned(64)));

/* `kc` is KC, or K % KC for the last block (likewise below): a constant at each inlined call. */
static inline __attribute__((always_inline)) void pack_b(const float *restrict B, int k0, const int kc) {
  for (int jp = 0; jp < N / NR; jp++)
    for (int k = 0; k < kc; k++)
      memcpy(Bp + ((size_t)jp * KC + k) * NR, B + (size_t)(k0 + k) * N + (size_t)jp * NR, NR * sizeof(float));
  if (N % NR) /* the last, narrower panel, padded with zeros to NR columns */
    for (int k = 0; k < kc; k++) {
      float *dst = Bp + ((size_t)(N / NR) * KC + k) * NR;
      memcpy(dst, B + (size_t)(k0 + k) * N + (size_t)(N / NR) * NR, (N % NR) * sizeof(float));
      memset(dst + N % NR, 0, (NR - N % NR) * sizeof(float));
    }
}

static inline __attribute__((always_inline)) void pack_a(const float *restrict A, int k0, const int kc) {
  for (int ip = 0; ip < STRIPS; ip++) {
    const int rows = ip * MR + MR <= M ? MR : M % MR;
    for (int k = 0; k < kc; k++)
      for (int r = 0; r < rows; r++)
        Ap[((size_t)ip * KC + k) * MR + r] = A[(size_t)(ip * MR + r) * K + k0 + k];
  }
}

/* `rows` is MR, or M % MR for the last strip: a constant at each (always inlined) call, so both
 * versions keep their accumulators in registers. C rows are `ldc` floats apart. */
static inline __attribute__((always_inline)) void micro_kernel(const int rows, const int kc, const float *restrict a,
                                                               size_t a_row, size_t a_k, const float *restrict b,
                                                               float *restrict c, const size_t ldc, int accumulate) {
  vnat acc[MR][NVR];
#pragma GCC unroll 16
  for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NVR; v++) {
      if (accumulate) acc[r][v] = *(const vnat *)(c + (size_t)r * ldc + VW * v);
      else acc[r][v] = (vnat){0};
    }
#if UNROLL == 4
#pragma GCC unroll 4
#elif UNROLL == 2
#pragma GCC unroll 2
#else
#pragma GCC unroll 1
#endif
  for (int k = 0; k < kc; k++) {
    vnat bv[NVR];
#pragma GCC unroll 4
    for (int v = 0; v < NVR; v++) bv[v] = *(const vnat *)(b + (size_t)k * NR + VW * v);
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++) {
      const float av = a[(size_t)r * a_row + (size_t)k * a_k];
#pragma GCC unroll 4
      for (int v = 0; v < NVR; v++) acc[r][v] += av * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NVR; v++) *(vnat *)(c + (size_t)r * ldc + VW * v) = acc[r][v];
}

/* The last, narrower panel: the block is computed into a zero-padded NR-wide tile and its
 * N % NR real columns are copied to C (a full-width store would run past the row). */
static void edge_panel(const int rows, const int kc, const float *restrict a, size_t a_row, size_t a_k,
                       const float *restrict b, float *restrict c, int accumulate) {
  float tile[MR * NR] __attribute__((aligned(64)));
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < NR; j++) tile[r * NR + j] = accumulate && j < N % NR ? c[(size_t)r * N + j] : 0.0f;
  if (rows == MR) micro_kernel(MR, kc, a, a_row, a_k, b, tile, NR, accumulate);
  else micro_kernel(M % MR, kc, a, a_row, a_k, b, tile, NR, accumulate);
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < N % NR; j++) c[(size_t)r * N + j] = tile[r * NR + j];
}

static inline __attribute__((always_inline)) void k_block(const float *restrict A, const float *restrict B,
                                                          float *restrict C, int k0, const int kc) {
  pack_b(B, k0, kc);
  if (PACK_A) pack_a(A, k0, kc);
  for (int i = 0; i < M; i += MR)
    for (int jp = 0; jp < PANELS; jp++) {
      const float *a = PACK_A ? Ap + (size_t)(i / MR) * KC * MR : A + (size_t)i * K + k0;
      const size_t a_row = PACK_A ? 1 : K, a_k = PACK_A ? MR : 1;
      const float *b = Bp + (size_t)jp * KC * NR;
      float *c = C + (size_t)i * N + (size_t)jp * NR;
      if (N % NR && jp == N / NR) edge_panel(i + MR <= M ? MR : M % MR, kc, a, a_row, a_k, b, c, k0 > 0);
      else if (i + MR <= M) micro_kernel(MR, kc, a, a_row, a_k, b, c, N, k0 > 0);
      else micro_kernel(M % MR, kc, a, a_row, a_k, b, c, N, k0 > 0);
    }
}

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int k0 = 0; k0 < K; k0 += KC) {
    if (K % KC == 0 || k0 + KC <= K) k_block(A, B, C, k0, KC);
    else k_block(A, B, C, k0, K % KC);
  }
}
