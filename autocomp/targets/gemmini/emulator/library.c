/*
 * library.c — autocomp's own tiled_matmul_auto / tiled_conv_auto (FSM and CPU-issued variants).
 * Clean-room: written from the behaviour described in docs/gemmini-spec.md (§5, §6.3); the
 * tiling rules are documented in include/gemmini_lib.h. Uses only the gemmini.h macros.
 * Compiled with -fsanitize-coverage=trace-pc: the CPU work of the _sw variants is charged.
 */
#include <stdio.h>
#include <stdlib.h>
#include "gemmini_lib.h"

#define LIB_SPAD_ROWS ((size_t)BANK_NUM * (size_t)BANK_ROWS)
#define LIB_ACC_ROWS ((size_t)ACC_ROWS)
#define LIB_ACC_BIT ((uint32_t)1 << 31)
#define LIB_ACCUM_BIT ((uint32_t)1 << 30)
#define LIB_FULL_BIT ((uint32_t)1 << 29)
/* mvin to the scratchpad moves at most this many columns (DMA request limit) */
#define LIB_MAX_SPAD_COLS ((size_t)MAX_BLOCK_LEN * (size_t)DIM)

static void lib_fail(const char *fn, const char *what) {
  fprintf(stderr, "%s: %s\n", fn, what);
  abort();
}

static size_t lib_min(size_t a, size_t b) { return a < b ? a : b; }
static size_t lib_ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* ---------------------------------------------------------------- matmul tiling */

static int lib_mm_fits(size_t tI, size_t tJ, size_t tK) {
  return (tI * tK + tK * tJ) * DIM <= LIB_SPAD_ROWS / 2 && tI * tJ * DIM <= LIB_ACC_ROWS / 2;
}

/* Tile sizes in DIM-blocks, see gemmini_lib.h. */
static void lib_mm_tiles(size_t Ib, size_t Jb, size_t Kb, size_t *tI, size_t *tJ, size_t *tK) {
  size_t acc_blocks = LIB_ACC_ROWS / 2 / DIM, spad_blocks = LIB_SPAD_ROWS / 2 / DIM;
  size_t s = 1;
  while ((s + 1) * (s + 1) <= acc_blocks) s++;
  size_t i = lib_min(s, Ib), j = lib_min(s, Jb);
  size_t k = lib_min(spad_blocks / (i + j), Kb);
  if (k < 1) k = 1;
  while (j < Jb && lib_mm_fits(i, j + 1, k)) j++;
  while (i < Ib && lib_mm_fits(i + 1, j, k)) i++;
  while (k < Kb && lib_mm_fits(i, j, k + 1)) k++;
  *tI = i;
  *tJ = j;
  *tK = k;
}

typedef struct {
  size_t dim_I, dim_J, dim_K, Ib, Jb, Kb, tI, tJ, tK;
  size_t sizeof_D, sizeof_C, ld_stride_D;
} lib_mm_plan_t;

static void lib_mm_setup(lib_mm_plan_t *p, size_t dim_I, size_t dim_J, size_t dim_K, const void *D,
                         size_t stride_A, size_t stride_B, size_t stride_D, size_t stride_C,
                         scale_t A_scale_factor, scale_t B_scale_factor, scale_t D_scale_factor,
                         int act, acc_scale_t scale, bool repeating_bias, bool transpose_A,
                         bool transpose_B, bool full_C, bool low_D, int issue_ex) {
  p->dim_I = dim_I;
  p->dim_J = dim_J;
  p->dim_K = dim_K;
  p->Ib = lib_ceil_div(dim_I, DIM);
  p->Jb = lib_ceil_div(dim_J, DIM);
  p->Kb = lib_ceil_div(dim_K, DIM);
  lib_mm_tiles(p->Ib, p->Jb, p->Kb, &p->tI, &p->tJ, &p->tK);
  p->sizeof_D = low_D ? sizeof(elem_t) : sizeof(acc_t);
  p->sizeof_C = full_C ? sizeof(acc_t) : sizeof(elem_t);
  p->ld_stride_D = repeating_bias ? 0 : stride_D * p->sizeof_D;
  (void)D;
  /* compute output goes to the accumulator, so config_ex's activation is unused: the
   * activation and the scale are applied by mvout through config_st */
  if (issue_ex)
    gemmini_extended3_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, ACC_SCALE_IDENTITY, 1, 1,
                                transpose_A, transpose_B, false);
  gemmini_extended_config_st(stride_C * p->sizeof_C, act, scale);
  gemmini_extended5_config_ld(stride_A * sizeof(elem_t), A_scale_factor, false, DIM, 1, 0);
  gemmini_extended5_config_ld(stride_B * sizeof(elem_t), B_scale_factor, false, DIM, 1, 1);
  gemmini_extended5_config_ld(p->ld_stride_D, D_scale_factor, low_D, DIM, 1, 2);
}

void tiled_matmul_auto(size_t dim_I, size_t dim_J, size_t dim_K,
                       const elem_t *A, const elem_t *B, const void *D, void *C,
                       size_t stride_A, size_t stride_B, size_t stride_D, size_t stride_C,
                       scale_t A_scale_factor, scale_t B_scale_factor, scale_t D_scale_factor,
                       int act, acc_scale_t scale, acc_scale_t bert_scale, bool repeating_bias,
                       bool transpose_A, bool transpose_B, bool full_C, bool low_D,
                       uint8_t weightA, enum tiled_matmul_type_t tiled_matmul_type) {
  (void)bert_scale;
  (void)weightA;
  (void)tiled_matmul_type;
  if (transpose_A && transpose_B) lib_fail("tiled_matmul_auto", "A and B cannot both be transposed in WS");
  if (dim_I == 0 || dim_J == 0 || dim_K == 0) return;
  lib_mm_plan_t p;
  lib_mm_setup(&p, dim_I, dim_J, dim_K, D, stride_A, stride_B, stride_D, stride_C, A_scale_factor,
               B_scale_factor, D_scale_factor, act, scale, repeating_bias, transpose_A, transpose_B,
               full_C, low_D, 1);
  for (size_t i0 = 0; i0 < p.Ib; i0 += p.tI) {
    size_t nI = lib_min(p.tI, p.Ib - i0);
    size_t padI = (i0 + nI == p.Ib) ? p.Ib * DIM - dim_I : 0;
    for (size_t j0 = 0; j0 < p.Jb; j0 += p.tJ) {
      size_t nJ = lib_min(p.tJ, p.Jb - j0);
      size_t padJ = (j0 + nJ == p.Jb) ? p.Jb * DIM - dim_J : 0;
      for (size_t k0 = 0; k0 < p.Kb; k0 += p.tK) {
        size_t nK = lib_min(p.tK, p.Kb - k0);
        size_t padK = (k0 + nK == p.Kb) ? p.Kb * DIM - dim_K : 0;
        const elem_t *a = transpose_A ? A + k0 * DIM * stride_A + i0 * DIM : A + i0 * DIM * stride_A + k0 * DIM;
        const elem_t *b = transpose_B ? B + j0 * DIM * stride_B + k0 * DIM : B + k0 * DIM * stride_B + j0 * DIM;
        const void *d = NULL;
        if (D != NULL && k0 == 0)
          d = (const char *)D + ((repeating_bias ? 0 : i0 * DIM * stride_D) + j0 * DIM) * p.sizeof_D;
        void *c = NULL;
        if (k0 + nK == p.Kb) c = (char *)C + (i0 * DIM * stride_C + j0 * DIM) * p.sizeof_C;
        gemmini_loop_ws(nI, nJ, nK, padI, padJ, padK, a, b, d, c, stride_A, stride_B,
                        repeating_bias ? 0 : stride_D, stride_C, transpose_A, transpose_B, full_C,
                        low_D, k0 != 0, act, 0, 0, false);
      }
    }
  }
}

void tiled_matmul_auto_sw(size_t dim_I, size_t dim_J, size_t dim_K,
                          const elem_t *A, const elem_t *B, const void *D, void *C,
                          size_t stride_A, size_t stride_B, size_t stride_D, size_t stride_C,
                          scale_t A_scale_factor, scale_t B_scale_factor, scale_t D_scale_factor,
                          int act, acc_scale_t scale, acc_scale_t bert_scale, bool repeating_bias,
                          bool transpose_A, bool transpose_B, bool full_C, bool low_D,
                          uint8_t weightA, enum tiled_matmul_type_t tiled_matmul_type) {
  (void)bert_scale;
  (void)weightA;
  (void)tiled_matmul_type;
  if (transpose_A || transpose_B)
    lib_fail("tiled_matmul_auto_sw", "transposed operands are only supported by tiled_matmul_auto (FSM)");
  if (dim_I == 0 || dim_J == 0 || dim_K == 0) return;
  lib_mm_plan_t p;
  lib_mm_setup(&p, dim_I, dim_J, dim_K, D, stride_A, stride_B, stride_D, stride_C, A_scale_factor,
               B_scale_factor, D_scale_factor, act, scale, repeating_bias, false, false, full_C,
               low_D, 1);
  /* same placement as the FSM: A from spad row 0, B packed to end at spad_rows/2, C at acc row 0 */
  const uint32_t A_base = 0;
  const uint32_t B_base = (uint32_t)(LIB_SPAD_ROWS / 2 - p.tK * p.tJ * DIM);
  const size_t tI = p.tI, tJ = p.tJ, tK = p.tK;
  for (size_t i0 = 0; i0 < p.Ib; i0 += tI) {
    size_t nI = lib_min(tI, p.Ib - i0);
    for (size_t j0 = 0; j0 < p.Jb; j0 += tJ) {
      size_t nJ = lib_min(tJ, p.Jb - j0);
      for (size_t k0 = 0; k0 < p.Kb; k0 += tK) {
        size_t nK = lib_min(tK, p.Kb - k0);
        int with_D = D != NULL && k0 == 0;
        /* bias into the accumulator (overwrite) */
        if (with_D) {
          for (size_t i = 0; i < nI; i++) {
            size_t rows = lib_min(DIM, dim_I - (i0 + i) * DIM);
            for (size_t j = 0; j < nJ; j++) {
              size_t cols = lib_min(DIM, dim_J - (j0 + j) * DIM);
              const char *d = (const char *)D +
                              ((repeating_bias ? 0 : (i0 + i) * DIM * stride_D) + (j0 + j) * DIM) * p.sizeof_D;
              gemmini_extended_mvin3(d, LIB_ACC_BIT | (uint32_t)((i * tJ + j) * DIM), cols, rows);
            }
          }
        }
        /* A tile: block (i, k) at A_base + (i*tK + k)*DIM, up to 4 K-blocks per mvin */
        for (size_t i = 0; i < nI; i++) {
          size_t rows = lib_min(DIM, dim_I - (i0 + i) * DIM);
          for (size_t k = 0; k < nK; k += MAX_BLOCK_LEN) {
            size_t cols = lib_min(lib_min(LIB_MAX_SPAD_COLS, (nK - k) * DIM), dim_K - (k0 + k) * DIM);
            const elem_t *a = A + (i0 + i) * DIM * stride_A + (k0 + k) * DIM;
            gemmini_extended_mvin(a, A_base + (uint32_t)((i * tK + k) * DIM), cols, rows);
          }
        }
        /* B tile: block (k, j) at B_base + (k*tJ + j)*DIM, up to 4 J-blocks per mvin */
        for (size_t k = 0; k < nK; k++) {
          size_t rows = lib_min(DIM, dim_K - (k0 + k) * DIM);
          for (size_t j = 0; j < nJ; j += MAX_BLOCK_LEN) {
            size_t cols = lib_min(lib_min(LIB_MAX_SPAD_COLS, (nJ - j) * DIM), dim_J - (j0 + j) * DIM);
            const elem_t *b = B + (k0 + k) * DIM * stride_B + (j0 + j) * DIM;
            gemmini_extended_mvin2(b, B_base + (uint32_t)((k * tJ + j) * DIM), cols, rows);
          }
        }
        /* compute: k, j, i; new weights at i == 0, reused for the other row blocks */
        for (size_t k = 0; k < nK; k++) {
          size_t kk = lib_min(DIM, dim_K - (k0 + k) * DIM);
          int accumulate = with_D || k0 != 0 || k != 0;
          for (size_t j = 0; j < nJ; j++) {
            size_t jj = lib_min(DIM, dim_J - (j0 + j) * DIM);
            uint32_t b_addr = B_base + (uint32_t)((k * tJ + j) * DIM);
            for (size_t i = 0; i < nI; i++) {
              size_t ii = lib_min(DIM, dim_I - (i0 + i) * DIM);
              uint32_t a_addr = A_base + (uint32_t)((i * tK + k) * DIM);
              uint32_t c_addr = LIB_ACC_BIT | (accumulate ? LIB_ACCUM_BIT : 0) | (uint32_t)((i * tJ + j) * DIM);
              if (i == 0) {
                gemmini_extended_preload(b_addr, c_addr, jj, kk, jj, ii);
                gemmini_extended_compute_preloaded(a_addr, GARBAGE_ADDR, kk, ii, DIM, DIM);
              } else {
                gemmini_extended_preload(GARBAGE_ADDR, c_addr, DIM, DIM, jj, ii);
                gemmini_extended_compute_accumulated(a_addr, GARBAGE_ADDR, kk, ii, DIM, DIM);
              }
            }
          }
        }
        /* results out after the last k-tile */
        if (k0 + nK == p.Kb) {
          for (size_t i = 0; i < nI; i++) {
            size_t rows = lib_min(DIM, dim_I - (i0 + i) * DIM);
            for (size_t j = 0; j < nJ; j++) {
              size_t cols = lib_min(DIM, dim_J - (j0 + j) * DIM);
              char *c = (char *)C + ((i0 + i) * DIM * stride_C + (j0 + j) * DIM) * p.sizeof_C;
              gemmini_extended_mvout(c, LIB_ACC_BIT | (full_C ? LIB_FULL_BIT : 0) | (uint32_t)((i * tJ + j) * DIM),
                                     cols, rows);
            }
          }
        }
      }
    }
  }
}

/* ---------------------------------------------------------------- convolution */

static void lib_conv_check(const char *fn, int input_dilation, int kernel_dilation, bool wrot180,
                           bool t0, bool t1, bool t2, bool t3, int pool_size, int pool_stride) {
  if (input_dilation != 1 || kernel_dilation != 1) lib_fail(fn, "only input_dilation = kernel_dilation = 1 is supported");
  if (wrot180 || t0 || t1 || t2 || t3) lib_fail(fn, "wrot180 and the transpose options are not supported");
  if (pool_size > 1 && pool_stride > 1) lib_fail(fn, "pooling is not supported");
}

/* Conv tile in output space: tb batches x tr output rows x tc output cols x toc output
 * channels, over tic input channels (full kernel). Spad rows (half): input patch + weights;
 * acc rows (half): one row per output pixel and output-channel block. */
typedef struct {
  int tb, tr, tc, toc, tic;
} lib_conv_tile_t;

static size_t lib_conv_spad_rows(const lib_conv_tile_t *t, int stride, int kdim) {
  size_t irows = (size_t)(t->tr - 1) * stride + kdim, icols = (size_t)(t->tc - 1) * stride + kdim;
  size_t kb = lib_ceil_div(t->tic, DIM), ob = lib_ceil_div(t->toc, DIM);
  return (size_t)t->tb * irows * icols * kb + (size_t)kdim * kdim * kb * ob * DIM;
}
static size_t lib_conv_acc_rows(const lib_conv_tile_t *t) {
  return (size_t)t->tb * t->tr * t->tc * lib_ceil_div(t->toc, DIM);
}
static int lib_conv_fits(const lib_conv_tile_t *t, int stride, int kdim) {
  return lib_conv_spad_rows(t, stride, kdim) <= LIB_SPAD_ROWS / 2 && lib_conv_acc_rows(t) <= LIB_ACC_ROWS / 2;
}

/* Start from 1 batch x 1 row x min(DIM, cols) cols x DIM output channels x DIM input channels,
 * then grow round-robin (output channels, input channels, output cols, output rows, batches)
 * one step each while half of the spad and acc still fit. */
static void lib_conv_tiles(int batch, int orows, int ocols, int och, int ich, int stride, int kdim,
                           lib_conv_tile_t *t) {
  t->tb = 1;
  t->tr = 1;
  t->tc = ocols < DIM ? ocols : DIM;
  t->toc = och < DIM ? och : DIM;
  t->tic = ich < DIM ? ich : DIM;
  for (int grew = 1; grew;) {
    grew = 0;
    lib_conv_tile_t n;
    n = *t; n.toc = n.toc + DIM > och ? och : n.toc + DIM;
    if (n.toc != t->toc && lib_conv_fits(&n, stride, kdim)) { *t = n; grew = 1; }
    n = *t; n.tic = n.tic + DIM > ich ? ich : n.tic + DIM;
    if (n.tic != t->tic && lib_conv_fits(&n, stride, kdim)) { *t = n; grew = 1; }
    n = *t; n.tc = n.tc + 1 > ocols ? ocols : n.tc + 1;
    if (n.tc != t->tc && lib_conv_fits(&n, stride, kdim)) { *t = n; grew = 1; }
    n = *t; n.tr = n.tr + 1 > orows ? orows : n.tr + 1;
    if (n.tr != t->tr && lib_conv_fits(&n, stride, kdim)) { *t = n; grew = 1; }
    n = *t; n.tb = n.tb + 1 > batch ? batch : n.tb + 1;
    if (n.tb != t->tb && lib_conv_fits(&n, stride, kdim)) { *t = n; grew = 1; }
  }
}

void tiled_conv_auto_sw(int batch_size, int in_row_dim, int in_col_dim, int in_channels,
                        int out_channels, int out_row_dim, int out_col_dim,
                        int stride, int input_dilation, int kernel_dilation, int padding, int kernel_dim,
                        bool wrot180, bool trans_output_1203, bool trans_input_3120,
                        bool trans_weight_1203, bool trans_weight_0132,
                        const elem_t *input, const elem_t *weights, const acc_t *bias, elem_t *output,
                        int act, acc_scale_t scale, int pool_size, int pool_stride, int pool_padding,
                        enum tiled_matmul_type_t tiled_conv_type) {
  (void)pool_padding;
  (void)tiled_conv_type;
  lib_conv_check("tiled_conv_auto_sw", input_dilation, kernel_dilation, wrot180, trans_output_1203,
                 trans_input_3120, trans_weight_1203, trans_weight_0132, pool_size, pool_stride);
  lib_conv_tile_t t;
  lib_conv_tiles(batch_size, out_row_dim, out_col_dim, out_channels, in_channels, stride, kernel_dim, &t);
  const int kd = kernel_dim;

  /* compute reads A rows at A + A_stride*i: consecutive output pixels of one output row read
   * input pixels `stride` spad rows apart */
  gemmini_extended3_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, ACC_SCALE_IDENTITY, 1, stride, false,
                              false, false);
  gemmini_extended_config_st((size_t)out_channels * sizeof(elem_t), act, scale);
  /* id 0: input rows (pixels) are in_channels apart; id 1: weight rows are out_channels apart;
   * id 2: bias broadcast (stride 0) */
  gemmini_extended5_config_ld((size_t)in_channels * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, DIM, 1, 0);
  gemmini_extended5_config_ld((size_t)out_channels * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, DIM, 1, 1);
  gemmini_extended5_config_ld(0, MVIN_SCALE_IDENTITY, false, DIM, 1, 2);

  for (int b0 = 0; b0 < batch_size; b0 += t.tb) {
    int nb = t.tb < batch_size - b0 ? t.tb : batch_size - b0;
    for (int r0 = 0; r0 < out_row_dim; r0 += t.tr) {
      int nr = t.tr < out_row_dim - r0 ? t.tr : out_row_dim - r0;
      int nir = (nr - 1) * stride + kd;
      for (int c0 = 0; c0 < out_col_dim; c0 += t.tc) {
        int nc = t.tc < out_col_dim - c0 ? t.tc : out_col_dim - c0;
        int nic = (nc - 1) * stride + kd;
        for (int o0 = 0; o0 < out_channels; o0 += t.toc) {
          int no = t.toc < out_channels - o0 ? t.toc : out_channels - o0;
          int nob = (no + DIM - 1) / DIM;
          for (int i0 = 0; i0 < in_channels; i0 += t.tic) {
            int ni = t.tic < in_channels - i0 ? t.tic : in_channels - i0;
            int nkb = (ni + DIM - 1) / DIM;
            int first = i0 == 0, last = i0 + ni == in_channels;
            /* spad layout: input pixel (kb, b, ir, ic) at row ((kb*nb + b)*nir + ir)*nic + ic;
             * weights (kr, kc, kb, ob, ch) after it; acc: pixel (ob, b, r, c) at ((ob*nb + b)*nr + r)*nc + c */
            uint32_t in_plane = (uint32_t)(nb * nir * nic);
            uint32_t W_base = in_plane * (uint32_t)nkb;
            /* bias (or zeros) into the accumulator, once per output tile */
            if (first) {
              for (int ob = 0; ob < nob; ob++) {
                int cols = no - ob * DIM < DIM ? no - ob * DIM : DIM;
                for (int b = 0; b < nb; b++)
                  for (int r = 0; r < nr; r++)
                    for (int c = 0; c < nc; c += DIM) {
                      int rows = nc - c < DIM ? nc - c : DIM;
                      uint32_t acc_row = (uint32_t)(((ob * nb + b) * nr + r) * nc + c);
                      const acc_t *bp = bias ? bias + o0 + ob * DIM : NULL;
                      gemmini_extended_mvin3(bp, LIB_ACC_BIT | acc_row, cols, rows);
                    }
              }
            }
            /* input patch, zeros outside the image (padding); block stride: one input-channel
             * block of the patch after the other */
            gemmini_extended5_config_ld((size_t)in_channels * sizeof(elem_t), MVIN_SCALE_IDENTITY, false, in_plane, 1, 0);
            for (int b = 0; b < nb; b++)
              for (int ir = 0; ir < nir; ir++) {
                int row = (r0 * stride) - padding + ir;
                int col0 = (c0 * stride) - padding;
                for (int ic = 0; ic < nic;) {
                  int col = col0 + ic;
                  int inside = row >= 0 && row < in_row_dim && col >= 0 && col < in_col_dim;
                  int run = 1;
                  /* a run of pixels that are all inside or all outside, at most DIM */
                  while (ic + run < nic && run < DIM) {
                    int cc = col + run;
                    int in2 = row >= 0 && row < in_row_dim && cc >= 0 && cc < in_col_dim;
                    if (in2 != inside) break;
                    run++;
                  }
                  for (int kb = 0; kb < nkb; kb += MAX_BLOCK_LEN) {
                    int cols = ni - kb * DIM < (int)LIB_MAX_SPAD_COLS ? ni - kb * DIM : (int)LIB_MAX_SPAD_COLS;
                    uint32_t sp = (uint32_t)(((kb * nb + b) * nir + ir) * nic + ic);
                    const elem_t *src = inside ? input + (((size_t)(b0 + b) * in_row_dim + row) * in_col_dim + col) * in_channels + i0 + kb * DIM
                                               : NULL;
                    gemmini_extended_mvin(src, sp, cols, run);
                  }
                  ic += run;
                }
              }
            /* weights: (kr, kc, kb, ob) blocks of DIM input channels x DIM output channels */
            for (int kr = 0; kr < kd; kr++)
              for (int kc = 0; kc < kd; kc++)
                for (int kb = 0; kb < nkb; kb++) {
                  int rows = ni - kb * DIM < DIM ? ni - kb * DIM : DIM;
                  for (int ob = 0; ob < nob; ob += MAX_BLOCK_LEN) {
                    int cols = no - ob * DIM < (int)LIB_MAX_SPAD_COLS ? no - ob * DIM : (int)LIB_MAX_SPAD_COLS;
                    uint32_t sp = W_base + (uint32_t)((((kr * kd + kc) * nkb + kb) * nob + ob) * DIM);
                    const elem_t *src = weights + (((size_t)kr * kd + kc) * in_channels + i0 + kb * DIM) * out_channels + o0 + ob * DIM;
                    gemmini_extended_mvin2(src, sp, cols, rows);
                  }
                }
            /* compute */
            for (int ob = 0; ob < nob; ob++) {
              int ocols = no - ob * DIM < DIM ? no - ob * DIM : DIM;
              for (int kr = 0; kr < kd; kr++)
                for (int kc = 0; kc < kd; kc++)
                  for (int kb = 0; kb < nkb; kb++) {
                    int kk = ni - kb * DIM < DIM ? ni - kb * DIM : DIM;
                    uint32_t w = W_base + (uint32_t)((((kr * kd + kc) * nkb + kb) * nob + ob) * DIM);
                    int fresh = 1;
                    for (int b = 0; b < nb; b++)
                      for (int r = 0; r < nr; r++)
                        for (int c = 0; c < nc; c += DIM) {
                          int px = nc - c < DIM ? nc - c : DIM;
                          uint32_t a = (uint32_t)(((kb * nb + b) * nir + r * stride + kr) * nic + c * stride + kc);
                          uint32_t o = LIB_ACC_BIT | LIB_ACCUM_BIT | (uint32_t)(((ob * nb + b) * nr + r) * nc + c);
                          if (fresh) {
                            gemmini_extended_preload(w, o, ocols, kk, ocols, px);
                            gemmini_extended_compute_preloaded(a, GARBAGE_ADDR, kk, px, DIM, DIM);
                            fresh = 0;
                          } else {
                            gemmini_extended_preload(GARBAGE_ADDR, o, DIM, DIM, ocols, px);
                            gemmini_extended_compute_accumulated(a, GARBAGE_ADDR, kk, px, DIM, DIM);
                          }
                        }
                  }
            }
            /* results */
            if (last) {
              for (int ob = 0; ob < nob; ob++) {
                int cols = no - ob * DIM < DIM ? no - ob * DIM : DIM;
                for (int b = 0; b < nb; b++)
                  for (int r = 0; r < nr; r++)
                    for (int c = 0; c < nc; c += DIM) {
                      int rows = nc - c < DIM ? nc - c : DIM;
                      uint32_t acc_row = (uint32_t)(((ob * nb + b) * nr + r) * nc + c);
                      elem_t *dst = output + (((size_t)(b0 + b) * out_row_dim + r0 + r) * out_col_dim + c0 + c) * out_channels + o0 + ob * DIM;
                      gemmini_extended_mvout(dst, LIB_ACC_BIT | acc_row, cols, rows);
                    }
              }
            }
          }
        }
      }
    }
  }
}

void tiled_conv_auto(int batch_size, int in_row_dim, int in_col_dim, int in_channels,
                     int out_channels, int out_row_dim, int out_col_dim,
                     int stride, int input_dilation, int kernel_dilation, int padding, int kernel_dim,
                     bool wrot180, bool trans_output_1203, bool trans_input_3120,
                     bool trans_weight_1203, bool trans_weight_0132,
                     const elem_t *input, const elem_t *weights, const acc_t *bias, elem_t *output,
                     int act, acc_scale_t scale, int pool_size, int pool_stride, int pool_padding,
                     enum tiled_matmul_type_t tiled_conv_type) {
  (void)pool_padding;
  (void)tiled_conv_type;
  lib_conv_check("tiled_conv_auto", input_dilation, kernel_dilation, wrot180, trans_output_1203,
                 trans_input_3120, trans_weight_1203, trans_weight_0132, pool_size, pool_stride);
  lib_conv_tile_t t;
  lib_conv_tiles(batch_size, out_row_dim, out_col_dim, out_channels, in_channels, stride, kernel_dim, &t);
  const int kd = kernel_dim;
  /* the FSM's mvouts use the current config_st; its mvins carry their own strides */
  gemmini_extended_config_st((size_t)out_channels * sizeof(elem_t), act, scale);
  for (int b0 = 0; b0 < batch_size; b0 += t.tb) {
    int nb = t.tb < batch_size - b0 ? t.tb : batch_size - b0;
    for (int r0 = 0; r0 < out_row_dim; r0 += t.tr) {
      int nr = t.tr < out_row_dim - r0 ? t.tr : out_row_dim - r0;
      int irow0 = r0 * stride - padding, nir = (nr - 1) * stride + kd;
      int upad = irow0 < 0 ? -irow0 : 0;
      int dpad = irow0 + nir > in_row_dim ? irow0 + nir - in_row_dim : 0;
      for (int c0 = 0; c0 < out_col_dim; c0 += t.tc) {
        int nc = t.tc < out_col_dim - c0 ? t.tc : out_col_dim - c0;
        int icol0 = c0 * stride - padding, nic = (nc - 1) * stride + kd;
        int lpad = icol0 < 0 ? -icol0 : 0;
        int rpad = icol0 + nic > in_col_dim ? icol0 + nic - in_col_dim : 0;
        for (int o0 = 0; o0 < out_channels; o0 += t.toc) {
          int no = t.toc < out_channels - o0 ? t.toc : out_channels - o0;
          for (int i0 = 0; i0 < in_channels; i0 += t.tic) {
            int ni = t.tic < in_channels - i0 ? t.tic : in_channels - i0;
            int first = i0 == 0, last = i0 + ni == in_channels;
            const elem_t *in = input + (((size_t)b0 * in_row_dim + (irow0 + upad)) * in_col_dim + (icol0 + lpad)) *
                                           in_channels + i0;
            const elem_t *w = weights + (size_t)i0 * out_channels + o0;
            /* bias != NULL initialises the partial sums (zeros when no_bias); NULL accumulates */
            const acc_t *bp = first ? (bias ? bias + o0 : (const acc_t *)weights) : NULL;
            elem_t *out = last ? output + (((size_t)b0 * out_row_dim + r0) * out_col_dim + c0) * out_channels + o0 : NULL;
            gemmini_loop_conv_ws(batch_size, in_row_dim, in_col_dim, in_channels, out_channels, out_row_dim,
                                 out_col_dim, out_row_dim, out_col_dim, stride, padding, kd, kernel_dilation,
                                 0, 0, 0, nb, nr, nc, no, kd, kd, ni, lpad, rpad, upad, dpad, 0, 0, 0, 0,
                                 nr, nc, w, out, bp, in, bias == NULL, true, false, false, false, act,
                                 false, false, false, false, 1, in_channels, out_channels, out_channels,
                                 false, 0, 0);
          }
        }
      }
    }
  }
}
