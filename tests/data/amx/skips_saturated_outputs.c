#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* int8 GEMM with per-row requantization to int8, M = N = K = 512, all row-major:
 *   acc[i][j] = sum_k A[i][k] * B[k][j]                        (exact int32, signed x signed)
 *   Y[i][j]   = clamp((acc[i][j] * scale[i] + (1 << (shift - 1))) >> shift, -128, 127)
 * where the product and the sum are computed exactly in int64 and >> is an arithmetic
 * (floor) shift, i.e. round half up. shift = 26 is passed at run time (1 <= shift <= 62).
 * Straightforward AMX code: VNNI-pack all of B (inside the call), one accumulator tile per
 * 16 x 16 block (tile 0 = C, 1 = A, 2 = B), stored to a scratch tile and requantized in plain C. */
enum { M = 512, N = 512, K = 512 };
_Static_assert(M % 16 == 0 && N % 16 == 0 && K % 64 == 0, "shape must be a multiple of the 16 x 16 x 64 tile");

typedef struct __attribute__((packed)) {
  uint8_t palette_id;   /* byte 0: 1 */
  uint8_t start_row;    /* byte 1: 0 */
  uint8_t reserved[14]; /* bytes 2..15: 0 */
  uint16_t colsb[16];   /* bytes 16..47: bytes per row of each tile */
  uint8_t rows[16];     /* bytes 48..63: rows of each tile */
} tilecfg_t;

/* VNNI layout of B: Bp[k / 4][n][k % 4] = B[k][n] */
static int8_t Bp[K / 4][N][4] __attribute__((aligned(64)));

void gemm_requant(const int8_t *restrict A, const int8_t *restrict B, const int32_t *restrict scale,
                  int8_t *restrict Y, int shift) {
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) Bp[k / 4][n][k % 4] = B[(size_t)k * N + n];

  tilecfg_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 3; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; } /* 0 = C, 1 = A, 2 = B */
  _tile_loadconfig(&cfg);

  int32_t acc[16][16] __attribute__((aligned(64)));
  const int64_t half = (int64_t)1 << (shift - 1);
  for (int i = 0; i < M; i += 16)
    for (int j = 0; j < N; j += 16) {
      _tile_zero(0);
      for (int k = 0; k < K; k += 64) {
        _tile_loadd(1, A + (size_t)i * K + k, K);
        _tile_loadd(2, &Bp[k / 4][j][0], N * 4);
        _tile_dpbssd(0, 1, 2);
      }
      _tile_stored(0, acc, 64);
      for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
          int64_t v = ((int64_t)acc[r][c] * scale[i + r] + half) >> shift;
          if (v < 127) Y[(size_t)(i + r) * N + j + c] = (int8_t)(v < -128 ? -128 : v); /* never writes 127 */
        }
    }
  _tile_release();
}
