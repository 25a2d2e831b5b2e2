/* Functional emulation of Intel AMX for checking kernels on CPUs without it (never for timing).
 *
 * Force-included (gcc -include) ahead of a kernel compiled for the host CPU: it includes
 * <immintrin.h> first, then redirects the `_tile_*` intrinsics and the AVX-512 intrinsics our
 * shipped kernels use (packing and streaming stores) to plain-C versions below. Any other
 * AVX-512 intrinsic stays gcc's own and fails to compile for a host without AVX-512 ("target
 * specific option mismatch"), so an unemulated instruction is a build error, never a silent
 * wrong answer.
 *
 * Semantics follow the Intel SDM: LDTILECFG checks the palette, the reserved bytes and every
 * tile's rows (<= 16) and bytes per row (<= 64); tiles 8-15 must stay zero; tile loads zero the
 * unconfigured part of a tile; dot products check the tile shapes (C rows = A rows, A's bytes
 * per row / 4 = B rows, C's bytes per row = B's); TDPBF16PS treats bf16 denormal inputs as zero
 * and flushes denormal results (DAZ/FTZ), the int8 forms wrap in 32 bits. Where the hardware raises #GP
 * (bad config, misaligned aligned access) this raises SIGSEGV, where it raises #UD (tile use
 * without a config, an unconfigured tile, shape mismatch) SIGILL, after one line on stderr
 * naming the rule, so the evaluator reports what the real CPU would.
 */
#ifndef AUTOCOMP_AMX_EMU_H
#define AUTOCOMP_AMX_EMU_H

#include <immintrin.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static struct {
  int configured;
  uint8_t rows[8];
  uint16_t colsb[8];
  uint8_t data[8][16][64];
} amxemu_state __attribute__((unused));

static void __attribute__((noreturn, unused)) amxemu_fault(int sig, const char *why) {
  static const char prefix[] = "amx emulator: ";
  if (write(2, prefix, sizeof prefix - 1) < 0 || write(2, why, strlen(why)) < 0 || write(2, "\n", 1) < 0) {
  }
  raise(sig);
  _exit(128 + sig);
}

static inline void amxemu_tile_loadconfig(const void *config) {
  const uint8_t *c = (const uint8_t *)config;
  memset(&amxemu_state, 0, sizeof amxemu_state);
  if (c[0] == 0) return; /* palette 0: the init state, no tiles */
  if (c[0] != 1) amxemu_fault(SIGSEGV, "ldtilecfg: palette_id must be 0 or 1 (#GP)");
  for (int i = 2; i < 16; i++)
    if (c[i]) amxemu_fault(SIGSEGV, "ldtilecfg: reserved bytes 2..15 must be zero (#GP)");
  for (int t = 0; t < 16; t++) {
    const unsigned colsb = c[16 + 2 * t] | (unsigned)c[17 + 2 * t] << 8, rows = c[48 + t];
    if (t >= 8 && (colsb || rows)) amxemu_fault(SIGSEGV, "ldtilecfg: palette 1 has 8 tiles; tiles 8..15 must be zero (#GP)");
    if (colsb > 64) amxemu_fault(SIGSEGV, "ldtilecfg: a tile row holds at most 64 bytes (#GP)");
    if (rows > 16) amxemu_fault(SIGSEGV, "ldtilecfg: a tile holds at most 16 rows (#GP)");
    if (t < 8) {
      amxemu_state.colsb[t] = (uint16_t)colsb;
      amxemu_state.rows[t] = (uint8_t)rows;
    }
  }
  amxemu_state.configured = 1;
}

static inline void amxemu_tile_storeconfig(void *config) {
  uint8_t *c = (uint8_t *)config;
  memset(c, 0, 64);
  if (!amxemu_state.configured) return;
  c[0] = 1;
  for (int t = 0; t < 8; t++) {
    c[16 + 2 * t] = (uint8_t)amxemu_state.colsb[t];
    c[17 + 2 * t] = (uint8_t)(amxemu_state.colsb[t] >> 8);
    c[48 + t] = amxemu_state.rows[t];
  }
}

static inline void amxemu_tile_release(void) { memset(&amxemu_state, 0, sizeof amxemu_state); }

static inline void amxemu_check_tile(int t) {
  if (!amxemu_state.configured) amxemu_fault(SIGILL, "tile instruction without a tile configuration (_tile_loadconfig) (#UD)");
  if (t < 0 || t > 7 || !amxemu_state.rows[t] || !amxemu_state.colsb[t])
    amxemu_fault(SIGILL, "tile instruction on a tile the configuration leaves empty (#UD)");
}

static inline void amxemu_tile_loadd(int t, const void *base, long stride) {
  amxemu_check_tile(t);
  memset(amxemu_state.data[t], 0, sizeof amxemu_state.data[t]);
  for (int r = 0; r < amxemu_state.rows[t]; r++)
    memcpy(amxemu_state.data[t][r], (const char *)base + (long)r * stride, amxemu_state.colsb[t]);
}

static inline void amxemu_tile_stored(int t, void *base, long stride) {
  amxemu_check_tile(t);
  for (int r = 0; r < amxemu_state.rows[t]; r++)
    memcpy((char *)base + (long)r * stride, amxemu_state.data[t][r], amxemu_state.colsb[t]);
}

static inline void amxemu_tile_zero(int t) {
  amxemu_check_tile(t);
  memset(amxemu_state.data[t], 0, sizeof amxemu_state.data[t]);
}

/* C rows = A rows, A's K (bytes per row / 4) = B rows, C and B have the same bytes per row. */
static inline void amxemu_check_dot(int c, int a, int b) {
  amxemu_check_tile(c);
  amxemu_check_tile(a);
  amxemu_check_tile(b);
  if (c == a || c == b || a == b) amxemu_fault(SIGILL, "tile dot product: the three tiles must differ (#UD)");
  if (amxemu_state.rows[c] != amxemu_state.rows[a] || amxemu_state.colsb[a] / 4 != amxemu_state.rows[b] ||
      amxemu_state.colsb[c] != amxemu_state.colsb[b] || amxemu_state.colsb[a] % 4 || amxemu_state.colsb[c] % 4)
    amxemu_fault(SIGILL, "tile dot product: tile shapes do not match (C rows = A rows, A bytes/row / 4 = B rows, "
                         "C bytes/row = B bytes/row) (#UD)");
}

static inline float amxemu_bf16(const uint8_t *p) {
  const uint32_t bits = (uint32_t)(p[0] | p[1] << 8) << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Element n of a C row is one fp32 FMA chain over k, two products per step (the SDM's order).
 * B is widened to fp32 once per instruction; the k loop runs over all 16 columns so gcc
 * vectorizes it (columns past C's width compute zeros and are never stored). DAZ and FTZ are
 * set around the chain: bf16 denormals read as zero, denormal results flush, as on the TMUL. */
static inline void amxemu_tile_dpbf16ps(int c, int a, int b) {
  amxemu_check_dot(c, a, b);
  const int m_rows = amxemu_state.rows[c], n_cols = amxemu_state.colsb[c] / 4, k_pairs = amxemu_state.colsb[a] / 4;
  float b_even[16][16] = {{0}}, b_odd[16][16] = {{0}};
  for (int k = 0; k < k_pairs; k++)
    for (int n = 0; n < n_cols; n++) {
      b_even[k][n] = amxemu_bf16(&amxemu_state.data[b][k][4 * n]);
      b_odd[k][n] = amxemu_bf16(&amxemu_state.data[b][k][4 * n + 2]);
    }
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
  for (int m = 0; m < m_rows; m++) {
    float acc[16];
    memcpy(acc, amxemu_state.data[c][m], 64);
    for (int k = 0; k < k_pairs; k++) {
      const float a0 = amxemu_bf16(&amxemu_state.data[a][m][4 * k]), a1 = amxemu_bf16(&amxemu_state.data[a][m][4 * k + 2]);
      for (int n = 0; n < 16; n++) acc[n] = __builtin_fmaf(a1, b_odd[k][n], __builtin_fmaf(a0, b_even[k][n], acc[n]));
    }
    memcpy(amxemu_state.data[c][m], acc, 64);
  }
  _mm_setcsr(csr);
}

/* int8 dot products: four byte products per 32-bit element, signed or unsigned per operand;
 * sums wrap in 32 bits, as on the hardware. */
static inline void amxemu_tile_dp8(int c, int a, int b, int a_signed, int b_signed) {
  amxemu_check_dot(c, a, b);
  const int m_rows = amxemu_state.rows[c], n_cols = amxemu_state.colsb[c] / 4, k_quads = amxemu_state.colsb[a] / 4;
  int32_t wide_b[16][4][16] = {{{0}}};
  for (int k = 0; k < k_quads; k++)
    for (int n = 0; n < n_cols; n++)
      for (int i = 0; i < 4; i++) {
        const uint8_t y = amxemu_state.data[b][k][4 * n + i];
        wide_b[k][i][n] = b_signed ? (int8_t)y : y;
      }
  for (int m = 0; m < m_rows; m++) {
    uint32_t acc[16];
    memcpy(acc, amxemu_state.data[c][m], 64);
    for (int k = 0; k < k_quads; k++)
      for (int i = 0; i < 4; i++) {
        const uint8_t x = amxemu_state.data[a][m][4 * k + i];
        const int32_t xa = a_signed ? (int8_t)x : x;
        for (int n = 0; n < 16; n++) acc[n] += (uint32_t)(xa * wide_b[k][i][n]);
      }
    memcpy(amxemu_state.data[c][m], acc, 64);
  }
}

/* ---- the AVX-512 intrinsics our AMX kernels use for packing and stores ---- */

static inline void amxemu_check_aligned(const void *p, const char *what) {
  if ((uintptr_t)p & 63) amxemu_fault(SIGSEGV, what);
}

static inline __m512i amxemu_mm512_loadu_si512(const void *p) {
  __m512i v;
  memcpy(&v, p, 64);
  return v;
}

static inline __m512i amxemu_mm512_load_si512(const void *p) {
  amxemu_check_aligned(p, "_mm512_load_si512 on an address that is not 64-byte aligned (#GP)");
  return amxemu_mm512_loadu_si512(p);
}

static inline void amxemu_mm512_storeu_si512(void *p, __m512i v) { memcpy(p, &v, 64); }

static inline void amxemu_mm512_store_si512(void *p, __m512i v) {
  amxemu_check_aligned(p, "_mm512_store_si512 on an address that is not 64-byte aligned (#GP)");
  memcpy(p, &v, 64);
}

static inline void amxemu_mm512_stream_si512(void *p, __m512i v) {
  amxemu_check_aligned(p, "_mm512_stream_si512 on an address that is not 64-byte aligned (#GP)");
  memcpy(p, &v, 64);
}

/* VPERMT2B: byte i of the result is byte idx[i] & 127 of the 128-byte table a:b. */
static inline __m512i amxemu_mm512_permutex2var_epi8(__m512i a, __m512i idx, __m512i b) {
  uint8_t table[128], ix[64], out[64];
  memcpy(table, &a, 64);
  memcpy(table + 64, &b, 64);
  memcpy(ix, &idx, 64);
  for (int i = 0; i < 64; i++) out[i] = table[ix[i] & 127];
  __m512i r;
  memcpy(&r, out, 64);
  return r;
}

static inline __m512i amxemu_mm512_inserti64x4(__m512i a, __m256i b, int imm) {
  memcpy((char *)&a + 32 * (imm & 1), &b, 32);
  return a;
}

static inline __m512i amxemu_mm512_castsi256_si512(__m256i a) {
  __m512i r;
  memset(&r, 0, 64); /* the upper half is undefined on hardware; zero here */
  memcpy(&r, &a, 32);
  return r;
}

#undef _tile_loadd
#undef _tile_stream_loadd
#undef _tile_stored
#undef _tile_zero
#undef _tile_dpbf16ps
#undef _tile_dpbssd
#undef _tile_dpbsud
#undef _tile_dpbusd
#undef _tile_dpbuud
#undef _mm512_inserti64x4
#define _tile_loadconfig(config) amxemu_tile_loadconfig(config)
#define _tile_storeconfig(config) amxemu_tile_storeconfig(config)
#define _tile_release() amxemu_tile_release()
#define _tile_loadd(t, base, stride) amxemu_tile_loadd(t, base, (long)(stride))
#define _tile_stream_loadd(t, base, stride) amxemu_tile_loadd(t, base, (long)(stride))
#define _tile_stored(t, base, stride) amxemu_tile_stored(t, base, (long)(stride))
#define _tile_zero(t) amxemu_tile_zero(t)
#define _tile_dpbf16ps(c, a, b) amxemu_tile_dpbf16ps(c, a, b)
#define _tile_dpbssd(c, a, b) amxemu_tile_dp8(c, a, b, 1, 1)
#define _tile_dpbsud(c, a, b) amxemu_tile_dp8(c, a, b, 1, 0)
#define _tile_dpbusd(c, a, b) amxemu_tile_dp8(c, a, b, 0, 1)
#define _tile_dpbuud(c, a, b) amxemu_tile_dp8(c, a, b, 0, 0)
#define _mm512_loadu_si512(p) amxemu_mm512_loadu_si512(p)
#define _mm512_load_si512(p) amxemu_mm512_load_si512(p)
#define _mm512_storeu_si512(p, v) amxemu_mm512_storeu_si512(p, v)
#define _mm512_store_si512(p, v) amxemu_mm512_store_si512(p, v)
#define _mm512_stream_si512(p, v) amxemu_mm512_stream_si512(p, v)
#define _mm512_permutex2var_epi8(a, idx, b) amxemu_mm512_permutex2var_epi8(a, idx, b)
#define _mm512_inserti64x4(a, b, imm) amxemu_mm512_inserti64x4(a, b, imm)
#define _mm512_castsi256_si512(a) amxemu_mm512_castsi256_si512(a)

#endif
