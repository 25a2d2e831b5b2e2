#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 3x3 convolution, stride 1, zero padding 1, batch 1, bf16 in / fp32 out:
 *   Y[y][x][co] = sum over ky, kx, ci of X[y+ky-1][x+kx-1][ci] * Wt[ky][kx][ci][co]
 * X bf16 NHWC [1][H][W][Cin], Wt bf16 [3][3][Cin][Cout], Y fp32 NHWC [1][H][W][Cout],
 * H = 56, W = 56, Cin = 64, Cout = 64. Out-of-range input pixels count as zero.
 *
 * Straightforward AMX implicit GEMM, all inside the call (timed):
 *  1. copy X into a zero-padded buffer Xp[H+2][WP][Cin] (WP covers the last, partial 16-pixel block),
 *  2. VNNI-pack each tap's [Cin][Cout] weight matrix: Wp[tap][ci/2][co][ci%2] = Wt[tap][ci][co],
 *  3. for each output row y, block of 16 pixels x0 and block of 16 output channels co0:
 *     one accumulator tile, summed over the 9 taps and Cin in chunks of 32
 *     (tile 0 = C 16 pixels x 16 cout, 1 = A 16 pixels x 32 cin, 2 = B 16 VNNI rows).
 *     A full block is stored straight into Y; a partial one (W % 16 != 0) goes through a scratch tile. */
enum { H = 56, W = 56, CIN = 64, COUT = 64, XB = (W + 15) / 16, WP = XB * 16 + 2 };
_Static_assert(CIN % 32 == 0 && COUT % 16 == 0, "Cin must be a multiple of 32 and Cout of 16");

typedef struct __attribute__((packed)) {
  uint8_t palette_id;   /* byte 0: 1 */
  uint8_t start_row;    /* byte 1: 0 */
  uint8_t reserved[14]; /* bytes 2..15: 0 */
  uint16_t colsb[16];   /* bytes 16..47: bytes per row of each tile */
  uint8_t rows[16];     /* bytes 48..63: rows of each tile */
} tilecfg_t;

static uint16_t Xp[H + 2][WP][CIN] __attribute__((aligned(64)));
static uint16_t Wp[9][CIN / 2][COUT][2] __attribute__((aligned(64)));

void conv(const uint16_t *restrict X, const uint16_t *restrict Wt, float *restrict Y) {
  memset(Xp, 0, sizeof Xp);
  for (int y = 0; y < H; y++)
    memcpy(&Xp[y + 1][1][0], X + (size_t)y * W * CIN, (size_t)W * CIN * sizeof(uint16_t));
  for (int tap = 0; tap < 9; tap++)
    for (int ci = 0; ci < CIN; ci++)
      for (int co = 0; co < COUT; co++)
        Wp[tap][ci / 2][co][ci % 2] = Wt[((size_t)tap * CIN + ci) * COUT + co];

  tilecfg_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 3; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; } /* 0 = C, 1 = A, 2 = B */
  _tile_loadconfig(&cfg);

  float part[16][16] __attribute__((aligned(64)));
  for (int y = 0; y < H; y++)
    for (int x0 = 0; x0 < W; x0 += 16)
      for (int co0 = 0; co0 < COUT; co0 += 16) {
        _tile_zero(0);
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++)
            for (int ci = 0; ci < CIN; ci += 32) {
              /* output pixel x reads padded column x + kx (padded column 0 is input column -1) */
              _tile_loadd(1, &Xp[y + ky][x0 + kx][ci], CIN * 2);
              _tile_loadd(2, &Wp[ky * 3 + kx][ci / 2][co0][0], COUT * 4);
              _tile_dpbf16ps(0, 1, 2);
            }
        float *out = Y + ((size_t)y * W + x0) * COUT + co0;
        if (x0 + 16 <= W) {
          _tile_stored(0, out, COUT * 4);
        } else {
          _tile_stored(0, part, 64);
          for (int p = 0; p < W - x0; p++) memcpy(out + (size_t)p * COUT, part[p], 64);
        }
      }
  _tile_release();
}
