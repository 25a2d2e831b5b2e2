/*
 * gemmini_lib.h — autocomp's own Gemmini library calls (clean-room, written from
 * docs/spec gemmini.md §6.3; no upstream source was used).
 *
 * Four entry points, all implemented in emulator/library.c with nothing but the gemmini.h
 * instruction macros (library.c is compiled with -fsanitize-coverage=trace-pc, so its CPU
 * loops are charged as modeled CPU cycles like any kernel's):
 *
 *   tiled_matmul_auto     GEMM, one gemmini_loop_ws (hardware matmul FSM) per tile.
 *                         This is the "Hardware FSM" reference point.
 *   tiled_matmul_auto_sw  the same tiling, but the mvin / preload / compute / mvout loops are
 *                         issued from the CPU. This is OUR stand-in for the paper's "Gemmini SW
 *                         library" baseline. Whether the paper's "SW lib" was a CPU-issued loop
 *                         like this one, the FSM path, or something else CANNOT be verified from
 *                         public material; each problem's baselines say explicitly which is which.
 *   tiled_conv_auto       convolution, one gemmini_loop_conv_ws per tile, no fence at the end.
 *   tiled_conv_auto_sw    the same tiling, CPU-issued instruction loops, no fence at the end.
 *
 * C = act(scale · (A_scale·A · B_scale·B + D_scale·D)) for the matmuls; D may be NULL (no bias).
 *
 * Tile selection (matmul; both variants use the same rule): all dimensions are padded up to
 * DIM and counted in DIM-blocks (Ib, Jb, Kb). Only HALF of the scratchpad and HALF of the
 * accumulator are used per tile (the FSM double-buffers), i.e. a tile (tI, tJ, tK) in blocks
 * must satisfy
 *     (tI·tK + tK·tJ)·DIM <= spad_rows/2      and      tI·tJ·DIM <= acc_rows/2.
 * Start from the largest near-square output tile s = floor(sqrt(acc_rows/2/DIM)) (tI = tJ = s,
 * clipped to Ib, Jb) with tK = (spad_rows/2/DIM)/(tI+tJ) (clipped to Kb), then grow tJ as far as
 * it fits, then tI, then tK (each one block at a time, never beyond the padded dimension).
 * Tiles are visited i-tile, j-tile outer and k-tile innermost, so partial sums stay in the
 * accumulator across the k-tiles (the first k-tile overwrites, later ones accumulate).
 *
 * Tile selection (conv; both variants): a tile is batches x output rows x output cols x output
 * channels x input channels (the whole kernel window). Start at 1 x 1 x min(DIM, out_cols) x
 * min(DIM, out_ch) x min(DIM, in_ch), then grow round-robin (output channels and input
 * channels by DIM, output cols, output rows, batches by 1) while
 *     batches·irows·icols·ceil(kchs/DIM) + k·k·ceil(kchs/DIM)·DIM·ceil(ochs/DIM) <= spad_rows/2
 *     batches·orows·ocols·ceil(ochs/DIM) <= acc_rows/2
 * (irows = (orows−1)·stride + k, likewise icols). Input-channel tiles are innermost: the first
 * loads the bias (or zeros), the last moves the output out.
 *
 * Supported: WS dataflow only (OS and CPU requests are executed as WS); weightA is accepted
 * and ignored (it only steers upstream's heuristics); bert_scale is accepted and ignored.
 * Unsupported arguments (both transposes, conv dilation != 1, conv transposes, pooling) abort
 * with a message on stderr.
 */
#ifndef AUTOCOMP_GEMMINI_LIB_H
#define AUTOCOMP_GEMMINI_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "gemmini.h"

#ifndef AUTOCOMP_TILED_MATMUL_TYPE_DEFINED
#define AUTOCOMP_TILED_MATMUL_TYPE_DEFINED
enum tiled_matmul_type_t { OS, WS, CPU };
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Strides are in elements (A, B: elem_t; D: acc_t, or elem_t when low_D; C: elem_t, or acc_t
 * when full_C). repeating_bias: D is one row broadcast over all I rows. */
void tiled_matmul_auto(size_t dim_I, size_t dim_J, size_t dim_K,
                       const elem_t *A, const elem_t *B, const void *D, void *C,
                       size_t stride_A, size_t stride_B, size_t stride_D, size_t stride_C,
                       scale_t A_scale_factor, scale_t B_scale_factor, scale_t D_scale_factor,
                       int act, acc_scale_t scale, acc_scale_t bert_scale, bool repeating_bias,
                       bool transpose_A, bool transpose_B, bool full_C, bool low_D,
                       uint8_t weightA, enum tiled_matmul_type_t tiled_matmul_type);

void tiled_matmul_auto_sw(size_t dim_I, size_t dim_J, size_t dim_K,
                          const elem_t *A, const elem_t *B, const void *D, void *C,
                          size_t stride_A, size_t stride_B, size_t stride_D, size_t stride_C,
                          scale_t A_scale_factor, scale_t B_scale_factor, scale_t D_scale_factor,
                          int act, acc_scale_t scale, acc_scale_t bert_scale, bool repeating_bias,
                          bool transpose_A, bool transpose_B, bool full_C, bool low_D,
                          uint8_t weightA, enum tiled_matmul_type_t tiled_matmul_type);

/* Convolution. Layouts: input NHWC [batch][in_row_dim][in_col_dim][in_channels], weights
 * [kernel_dim][kernel_dim][in_channels][out_channels], bias acc_t [out_channels] (NULL = no
 * bias), output NHWC [batch][out_row_dim][out_col_dim][out_channels].
 * out[b][r][c][k] = act(scale · (bias[k] + sum in[b][r·stride+kr−padding][c·stride+kc−padding][ch]
 *                                              · w[kr][kc][ch][k])), out-of-image inputs are 0.
 * Supported: input_dilation = kernel_dilation = 1, no transposes, wrot180 = 0, no pooling
 * (pool_size <= 1 or pool_stride <= 1). Neither variant fences at the end. */
void tiled_conv_auto(int batch_size, int in_row_dim, int in_col_dim, int in_channels,
                     int out_channels, int out_row_dim, int out_col_dim,
                     int stride, int input_dilation, int kernel_dilation, int padding, int kernel_dim,
                     bool wrot180, bool trans_output_1203, bool trans_input_3120,
                     bool trans_weight_1203, bool trans_weight_0132,
                     const elem_t *input, const elem_t *weights, const acc_t *bias, elem_t *output,
                     int act, acc_scale_t scale, int pool_size, int pool_stride, int pool_padding,
                     enum tiled_matmul_type_t tiled_conv_type);

void tiled_conv_auto_sw(int batch_size, int in_row_dim, int in_col_dim, int in_channels,
                        int out_channels, int out_row_dim, int out_col_dim,
                        int stride, int input_dilation, int kernel_dilation, int padding, int kernel_dim,
                        bool wrot180, bool trans_output_1203, bool trans_input_3120,
                        bool trans_weight_1203, bool trans_weight_0132,
                        const elem_t *input, const elem_t *weights, const acc_t *bias, elem_t *output,
                        int act, acc_scale_t scale, int pool_size, int pool_stride, int pool_padding,
                        enum tiled_matmul_type_t tiled_conv_type);

#ifdef __cplusplus
}
#endif

#endif
