/* @template family=conv shapes="X[1][CI][H][WD] W[CO][CI][KH][KH] Y[1][CO][H][WD]" */
/* fp32 2-D convolution, NCHW, one image: Y[co][y][x] = sum over ci, ky, kx of
 * X[ci][y+ky-1][x+kx-1] * W[co][ci][ky][kx], 3x3 kernel, stride 1, zero padding 1: a
 * parameterized kernel for the tuner, written as a GEMM without an im2col buffer.
 *
 * The input is copied once per call into a zero-bordered buffer Xp[ci][H+2][WD+2]. Output
 * pixels are numbered in padded-row coordinates, p = y * (WD+2) + x, so for every
 * (ci, ky, kx) the inputs of NR consecutive pixels are NR consecutive floats of Xp, at offset
 * ci*(H+2)*(WD+2) + ky*(WD+2) + kx + p: the "B matrix" of the GEMM (K = CI*9 rows) is read
 * straight out of Xp with vector loads. W is already the row-major [CO][K] "A matrix".
 * The micro-kernel keeps an MR x NR block of outputs (MR output channels, NR = 16*NV
 * pixels) in native vector registers; the two junk columns per padded row are computed into
 * the wide buffer Yw and dropped when Yw is copied out to Y. MR need not divide CO (the last
 * strip has CO % MR channels). Native-width GCC vectors as in gemm_f32.c (VW floats: 16 with
 * AVX-512, 8 otherwise); on AVX2 MR*NV <= 6 keeps the block in the 16 registers. */
#include <stddef.h>
#include <string.h>

#define CI 32 /* @param CI */
#define CO 64 /* @param CO */
#define H 28 /* @param H */
#define WD 28 /* @param WD */
#define KH 3 /* @param KH */
#define PAD 1 /* @param PAD */

#define MR 6 /* @knob values=1,2,3,4,6,8 menu="register blocking (micro-kernel with several accumulators)" */
#define NV 1 /* @knob values=1,2 menu="register blocking (micro-kernel with several accumulators)" */
#define PACK_W 1 /* @knob values=0,1 menu="pack data into contiguous buffers" */
#define ORDER 0 /* @knob values=0,1 menu="loop reordering" */
#define UNROLL 1 /* @knob values=1,2,3,4 menu="loop unrolling" */
/* @constraint KH == 3 && PAD == 1 */
/* @constraint MR * NV <= 12 && (CI * 9) % UNROLL == 0 */

#define KK (CI * 9)                  /* GEMM depth: (ci, ky, kx) */
#define PW (WD + 2)                  /* padded row length */
#define PLANE ((H + 2) * PW)         /* one padded input channel */
#define NR (16 * NV)                 /* pixels per block */
#define NP (((H * PW) + NR - 1) / NR * NR) /* wide output positions, whole blocks */
#define STRIPS ((CO + MR - 1) / MR)
#ifdef __AVX512F__
#define VW 16 /* floats per native vector register */
#else
#define VW 8
#endif
#define NVR (NR / VW)
typedef float vnat __attribute__((vector_size(VW * 4), aligned(4), may_alias)); /* unaligned loads allowed */

static float Xp[(size_t)CI * PLANE + NR + 2] __attribute__((aligned(64))); /* the last block of the last plane reads NR + 1 past it */
static float Yw[(size_t)CO * NP] __attribute__((aligned(64)));
static float Wp[(size_t)STRIPS * MR * KK] __attribute__((aligned(64)));
static int koff[KK]; /* offset of row k of the B matrix in Xp */

static void pad_input(const float *restrict X) {
  memset(Xp, 0, sizeof Xp); /* borders and slack; interiors are overwritten below */
  for (int c = 0; c < CI; c++)
    for (int y = 0; y < H; y++) memcpy(Xp + (size_t)c * PLANE + (size_t)(y + 1) * PW + 1, X + ((size_t)c * H + y) * WD, WD * sizeof(float));
  for (int c = 0; c < CI; c++)
    for (int ky = 0; ky < 3; ky++)
      for (int kx = 0; kx < 3; kx++) koff[(c * 3 + ky) * 3 + kx] = c * PLANE + ky * PW + kx;
}

static void pack_w(const float *restrict W) {
  for (int s = 0; s < STRIPS; s++) {
    const int rows = s * MR + MR <= CO ? MR : CO % MR;
    for (int k = 0; k < KK; k++)
      for (int r = 0; r < rows; r++) Wp[((size_t)s * KK + k) * MR + r] = W[(size_t)(s * MR + r) * KK + k];
  }
}

/* `rows` is MR, or CO % MR for the last strip: a constant at each (always inlined) call. */
static inline __attribute__((always_inline)) void micro_kernel(const int rows, const float *restrict w, size_t w_row,
                                                               size_t w_k, int p0, float *restrict y) {
  vnat acc[MR][NVR];
#pragma GCC unroll 16
  for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NVR; v++) acc[r][v] = (vnat){0};
#if UNROLL == 4
#pragma GCC unroll 4
#elif UNROLL == 3
#pragma GCC unroll 3
#elif UNROLL == 2
#pragma GCC unroll 2
#else
#pragma GCC unroll 1
#endif
  for (int k = 0; k < KK; k++) {
    const float *b = Xp + koff[k] + p0;
    vnat bv[NVR];
#pragma GCC unroll 4
    for (int v = 0; v < NVR; v++) bv[v] = *(const vnat *)(b + VW * v);
#pragma GCC unroll 16
    for (int r = 0; r < rows; r++) {
      const float wv = w[(size_t)r * w_row + (size_t)k * w_k];
#pragma GCC unroll 4
      for (int v = 0; v < NVR; v++) acc[r][v] += wv * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NVR; v++) *(vnat *)(y + (size_t)r * NP + VW * v) = acc[r][v];
}

static inline __attribute__((always_inline)) void block(const float *restrict W, int co, int p0) {
  const float *w = PACK_W ? Wp + (size_t)(co / MR) * KK * MR : W + (size_t)co * KK;
  float *y = Yw + (size_t)co * NP + p0;
  if (co + MR <= CO) micro_kernel(MR, w, PACK_W ? 1 : KK, PACK_W ? MR : 1, p0, y);
  else micro_kernel(CO % MR, w, PACK_W ? 1 : KK, PACK_W ? MR : 1, p0, y);
}

void conv2d(const float *restrict X, const float *restrict W, float *restrict Y) {
  pad_input(X);
  if (PACK_W) pack_w(W);
  if (ORDER == 0) /* a block of pixels' inputs stays in L1 while the output channels sweep it */
    for (int p0 = 0; p0 < NP; p0 += NR)
      for (int co = 0; co < CO; co += MR) block(W, co, p0);
  else /* a strip of weights stays in L1 while the pixels stream */
    for (int co = 0; co < CO; co += MR)
      for (int p0 = 0; p0 < NP; p0 += NR) block(W, co, p0);
  for (int co = 0; co < CO; co++) /* drop the two junk columns of every padded row */
    for (int y = 0; y < H; y++) memcpy(Y + ((size_t)co * H + y) * WD, Yw + (size_t)co * NP + (size_t)y * PW, WD * sizeof(float));
}
