/* @template family=conv-bf16 shapes="X[1][H][W][Cin] Wt[3][3][Cin][Cout] Y[1][H][W][Cout]" */
/* AMX 3x3 convolution, stride 1, zero padding 1, batch 1, bf16 in / fp32 out, as an implicit GEMM:
 *   Y[y][x][co] = sum over ky, kx, ci of X[y+ky-1][x+kx-1][ci] * Wt[ky][kx][ci][co]
 * X bf16 NHWC [1][H][W][Cin], Wt bf16 [3][3][Cin][Cout], Y fp32 NHWC [1][H][W][Cout].
 *
 * Status: correctness checked on the functional AMX emulator for every knob setting; its speed
 * has not been measured on AMX hardware yet (the tuner keeps it only where it beats the
 * initial code).
 *
 * Output pixels are numbered in padded-row coordinates, f = y * PW + x with PW = W + 2, so the
 * input of output pixel f for tap (ky, kx) is padded pixel f + ky * PW + kx: a block of 16
 * consecutive f is one A tile loaded straight from the padded copy Xp (row stride Cin * 2 B),
 * whatever the image width (blocks run across rows; the two junk columns per row and the tail
 * past the last row are computed and dropped on the way out). Per call: X is copied into Xp
 * (only the border and the tail are zeroed), each tap's weights are VNNI-packed once
 * (Wp[tap][ci/2][co][ci%2]), then MB x NB accumulator tiles (16 pixels x 16 output channels each)
 * sum 9 taps x Cin/32 tile dot products, reusing each A tile NB times and each B tile MB times.
 * Finished tiles go through a 1 KB staging tile in L1 and are scattered to Y row by row.
 * Tiles: 0-3 C, 4-5 A, 6-7 B. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define H 28 /* @param H */
#define W 28 /* @param W */
#define Cin 128 /* @param Cin */
#define Cout 128 /* @param Cout */

#define MB 2 /* @knob values=1,2 menu="register blocking with several accumulator tiles" */
#define NB 2 /* @knob values=1,2 menu="register blocking with several accumulator tiles" */
#define ORDER 0 /* @knob values=0,1 menu="loop order for reuse" */
/* @constraint Cin % 32 == 0 && Cout % (16 * NB) == 0 */

#define PW (W + 2)                                  /* padded row length, in pixels */
#define FB (16 * MB)                                /* output pixels per block */
#define NBLK ((H * PW + FB - 1) / FB)               /* pixel blocks, the last may run past the image */
#define XPIX (NBLK * FB + 2 * PW + 2)               /* padded pixels read, tail included */

typedef struct __attribute__((packed)) {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg_t;

static uint16_t Xp[(size_t)XPIX * Cin] __attribute__((aligned(64)));
static uint16_t Wp[9][Cin / 2][Cout][2] __attribute__((aligned(64)));

static void pad_input(const uint16_t *restrict X) {
  const size_t px = Cin * sizeof(uint16_t);
  memset(Xp, 0, (PW + 1) * px); /* top border row and the left border of image row 0 */
  for (int y = 0; y < H; y++) {
    memcpy(Xp + ((size_t)(y + 1) * PW + 1) * Cin, X + (size_t)y * W * Cin, W * px);
    memset(Xp + ((size_t)(y + 1) * PW + W + 1) * Cin, 0, 2 * px); /* right border of this row, left of the next */
  }
  memset(Xp + ((size_t)(H + 1) * PW + 1) * Cin, 0, (XPIX - (H + 1) * PW - 1) * px); /* bottom row and the tail */
}

static void pack_weights(const uint16_t *restrict Wt) {
  for (int tap = 0; tap < 9; tap++)
    for (int ci = 0; ci < Cin; ci += 2) {
      const uint16_t *r0 = Wt + ((size_t)tap * Cin + ci) * Cout, *r1 = r0 + Cout;
      for (int co = 0; co < Cout; co++) {
        Wp[tap][ci / 2][co][0] = r0[co];
        Wp[tap][ci / 2][co][1] = r1[co];
      }
    }
}

/* One k-step: A tiles of pixel blocks f0 (and f0 + 16), B tiles of channels co0 (and co0 + 16). */
static inline __attribute__((always_inline)) void kstep(const uint16_t *a, const uint16_t *b) {
  _tile_loadd(4, a, Cin * 2);
#if MB == 2
  _tile_loadd(5, a + 16 * Cin, Cin * 2);
#endif
  _tile_loadd(6, b, Cout * 4);
#if NB == 2
  _tile_loadd(7, b + 32, Cout * 4);
#endif
  _tile_dpbf16ps(0, 4, 6);
#if NB == 2
  _tile_dpbf16ps(1, 4, 7);
#endif
#if MB == 2
  _tile_dpbf16ps(2, 5, 6);
#if NB == 2
  _tile_dpbf16ps(3, 5, 7);
#endif
#endif
}

/* Rows of the staging tile to Y: pixel f of the block is image pixel (f / PW, f % PW) when that
 * is inside the image, else a junk column or the tail. */
static inline void scatter(float *restrict Y, const float part[16][16], int f, int co) {
  for (int p = 0; p < 16; p++, f++) {
    const int y = f / PW, x = f - y * PW;
    if (y < H && x < W) memcpy(Y + ((size_t)y * W + x) * Cout + co, part[p], 64);
  }
}

#define STORE(t, m, n)                            \
  do {                                            \
    _tile_stored(t, part, 64);                    \
    scatter(Y, part, f0 + 16 * (m), co0 + 16 * (n)); \
  } while (0)

static inline __attribute__((always_inline)) void block(float *restrict Y, int f0, int co0) {
  float part[16][16] __attribute__((aligned(64)));
  _tile_zero(0);
#if NB == 2
  _tile_zero(1);
#endif
#if MB == 2
  _tile_zero(2);
#if NB == 2
  _tile_zero(3);
#endif
#endif
  for (int ky = 0; ky < 3; ky++)
    for (int kx = 0; kx < 3; kx++) {
      const uint16_t *a = Xp + ((size_t)f0 + ky * PW + kx) * Cin;
      for (int ci = 0; ci < Cin; ci += 32) kstep(a + ci, &Wp[ky * 3 + kx][ci / 2][co0][0]);
    }
  STORE(0, 0, 0);
#if NB == 2
  STORE(1, 0, 1);
#endif
#if MB == 2
  STORE(2, 1, 0);
#if NB == 2
  STORE(3, 1, 1);
#endif
#endif
}

void conv(const uint16_t *restrict X, const uint16_t *restrict Wt, float *restrict Y) {
  pad_input(X);
  pack_weights(Wt);
  tilecfg_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
#if ORDER == 0 /* pixel blocks outer: a block's input rows stay in L1/L2 while the channel blocks sweep them */
  for (int f0 = 0; f0 < NBLK * FB; f0 += FB)
    for (int co0 = 0; co0 < Cout; co0 += 16 * NB) block(Y, f0, co0);
#else /* channel blocks outer: one block's packed weights (9 * Cin * NB * 64 B) stay in L2 while the pixels stream */
  for (int co0 = 0; co0 < Cout; co0 += 16 * NB)
    for (int f0 = 0; f0 < NBLK * FB; f0 += FB) block(Y, f0, co0);
#endif
  _tile_release();
}
