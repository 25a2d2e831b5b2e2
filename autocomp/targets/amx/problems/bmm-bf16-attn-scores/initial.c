#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Attention scores for 16 heads: S[h][i][j] = 0.125 * sum_d Q[h][i][d] * Kmat[h][j][d],
 * i.e. S[h] = Q[h] @ Kmat[h]^T / sqrt(64). Q bf16 [H][S][D], Kmat bf16 [H][S][D] (key j of head h
 * is the contiguous row Kmat[h][j][0..63]; this is K, not K^T), S fp32 [H][S][S]; H = 16, S = 128, D = 64.
 * Straightforward AMX code: per head, VNNI-pack B = Kmat[h]^T (B[d][j] = Kmat[h][j][d]) into a static
 * buffer, then one accumulator tile per 16 x 16 block of scores (tile 0 = C, 1 = Q, 2 = B),
 * stored and scaled by 0.125 with plain C. */
enum { H = 16, S = 128, D = 64 };
_Static_assert(S % 16 == 0 && D % 32 == 0, "sizes must be multiples of the 16 x 16 x 32 tile");

typedef struct __attribute__((packed)) {
  uint8_t palette_id;   /* byte 0: 1 */
  uint8_t start_row;    /* byte 1: 0 */
  uint8_t reserved[14]; /* bytes 2..15: 0 */
  uint16_t colsb[16];   /* bytes 16..47: bytes per row of each tile */
  uint8_t rows[16];     /* bytes 48..63: rows of each tile */
} tilecfg_t;

/* VNNI layout of B = K^T: Bp[d / 2][j][d % 2] = Kmat[h][j][d] */
static uint16_t Bp[D / 2][S][2] __attribute__((aligned(64)));

void attn_scores(const uint16_t *restrict Q, const uint16_t *restrict Kmat, float *restrict Sc) {
  tilecfg_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 3; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; } /* 0 = C, 1 = A, 2 = B */
  _tile_loadconfig(&cfg);

  for (int h = 0; h < H; h++) {
    const uint16_t *q = Q + (size_t)h * S * D, *kh = Kmat + (size_t)h * S * D;
    float *s = Sc + (size_t)h * S * S;
    for (int j = 0; j < S; j++)
      for (int d = 0; d < D; d++) Bp[d / 2][j][d % 2] = kh[(size_t)j * D + d];
    for (int i = 0; i < S; i += 16)
      for (int j = 0; j < S; j += 16) {
        _tile_zero(0);
        for (int d = 0; d < D; d += 32) {
          _tile_loadd(1, q + (size_t)i * D + d, D * 2);
          _tile_loadd(2, &Bp[d / 2][j][0], S * 4);
          _tile_dpbf16ps(0, 1, 2);
        }
        float *out = s + (size_t)i * S + j;
        _tile_stored(0, out, S * 4);
        for (int r = 0; r < 16; r++)
          for (int c = 0; c < 16; c++) out[(size_t)r * S + c] *= 0.125f;
      }
  }
  _tile_release();
}
