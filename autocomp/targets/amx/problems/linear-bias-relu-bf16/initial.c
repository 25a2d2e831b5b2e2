#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Y[M][N] (fp32) = relu(X[M][K] (bf16) @ W[K][N] (bf16) + b[N] (fp32)), row-major,
 * M = N = K = 512. b is broadcast over rows; relu(v) = max(v, 0).
 * Straightforward AMX code: VNNI-pack all of W into a static buffer (inside the call),
 * one accumulator tile per 16 x 16 block of Y (tile 0 = C, 1 = X, 2 = W), store the tile,
 * then add the bias and apply relu with plain C over the stored block. */
enum { M = 512, N = 512, K = 512 };
_Static_assert(M % 16 == 0 && N % 16 == 0 && K % 32 == 0, "shape must be a multiple of the 16 x 16 x 32 tile");

typedef struct __attribute__((packed)) {
  uint8_t palette_id;   /* byte 0: 1 */
  uint8_t start_row;    /* byte 1: 0 */
  uint8_t reserved[14]; /* bytes 2..15: 0 */
  uint16_t colsb[16];   /* bytes 16..47: bytes per row of each tile */
  uint8_t rows[16];     /* bytes 48..63: rows of each tile */
} tilecfg_t;

/* VNNI layout of W: Wp[k / 2][n][k % 2] = W[k][n] */
static uint16_t Wp[K / 2][N][2] __attribute__((aligned(64)));

void linear_bias_relu(const uint16_t *restrict X, const uint16_t *restrict W, const float *restrict b, float *restrict Y) {
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) Wp[k / 2][n][k % 2] = W[(size_t)k * N + n];

  tilecfg_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 3; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; } /* 0 = C, 1 = A, 2 = B */
  _tile_loadconfig(&cfg);

  for (int i = 0; i < M; i += 16)
    for (int j = 0; j < N; j += 16) {
      _tile_zero(0);
      for (int k = 0; k < K; k += 32) {
        _tile_loadd(1, X + (size_t)i * K + k, K * 2);
        _tile_loadd(2, &Wp[k / 2][j][0], N * 4);
        _tile_dpbf16ps(0, 1, 2);
      }
      float *out = Y + (size_t)i * N + j;
      _tile_stored(0, out, N * 4);
      for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
          float v = out[(size_t)r * N + c] + b[j + c];
          out[(size_t)r * N + c] = v > 0.0f ? v : 0.0f;
        }
    }
  _tile_release();
}
