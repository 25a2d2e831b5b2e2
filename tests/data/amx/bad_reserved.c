/* Broken on purpose: non-zero reserved byte in the tile config -> SIGSEGV. */
#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* C[M][N] (fp32) = A[M][K] (bf16) @ B[K][N] (bf16), all row-major, M = 256, N = 256, K = 256.
 * Straightforward AMX code: VNNI-pack all of B into a static buffer (inside the call, so it
 * is timed), then for every 16 x 16 block of C accumulate one tile over K in steps of 32
 * (one accumulator: tile 0 = C, 1 = A, 2 = B, each 16 rows x 64 bytes).
 * The shape satisfies M % 16 == 0, N % 16 == 0, K % 32 == 0 (checked below), so there are no edge cases. */
enum { M = 256, N = 256, K = 256 };
_Static_assert(M % 16 == 0 && N % 16 == 0 && K % 32 == 0, "shape must be a multiple of the 16 x 16 x 32 tile");

typedef struct __attribute__((packed)) {
  uint8_t palette_id;   /* byte 0: 1 */
  uint8_t start_row;    /* byte 1: 0 */
  uint8_t reserved[14]; /* bytes 2..15: 0 */
  uint16_t colsb[16];   /* bytes 16..47: bytes per row of each tile */
  uint8_t rows[16];     /* bytes 48..63: rows of each tile */
} tilecfg_t;

/* VNNI layout of B: Bp[k / 2][n][k % 2] = B[k][n] (pairs of consecutive k per column) */
static uint16_t Bp[K / 2][N][2] __attribute__((aligned(64)));

void gemm(const uint16_t *restrict A, const uint16_t *restrict B, float *restrict C) {
  for (int k = 0; k < K; k++)
    for (int n = 0; n < N; n++) Bp[k / 2][n][k % 2] = B[(size_t)k * N + n];

  tilecfg_t cfg __attribute__((aligned(64)));
  memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  cfg.reserved[3] = 1; /* BUG: reserved bytes must be zero */
  for (int t = 0; t < 3; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; } /* 0 = C, 1 = A, 2 = B */
  _tile_loadconfig(&cfg);

  for (int i = 0; i < M; i += 16)
    for (int j = 0; j < N; j += 16) {
      _tile_zero(0);
      for (int k = 0; k < K; k += 32) {
        _tile_loadd(1, A + (size_t)i * K + k, K * 2);   /* A: 16 rows x 32 bf16 */
        _tile_loadd(2, &Bp[k / 2][j][0], N * 4);        /* B: 16 VNNI rows x (16 columns x 2 bf16) */
        _tile_dpbf16ps(0, 1, 2);
      }
      _tile_stored(0, C + (size_t)i * N + j, N * 4);
    }
  _tile_release();
}
