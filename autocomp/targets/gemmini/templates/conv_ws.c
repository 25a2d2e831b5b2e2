/* @template family=conv */
/* Gemmini int8 3x3 stride-1 convolution, NHWC, input already padded (input[N][P+2][Q+2][C],
 * weights[3][3][C][K], bias[K], output[N][P][Q][K]):
 *   output[b][y][x][k] = requantize(bias[k] + sum over kr, kc, c of input[b][y+kr][x+kc][c] * weights[kr][kc][c][k])
 * (int32 accumulation, scale 1, no activation), weight-stationary, every instruction issued from
 * the CPU: a parameterized kernel for the offline tuner (int8 16x16 configuration).
 *
 * An implicit GEMM with no im2col copy. Scratchpad banks 0-1 hold a ring of input rows: padded
 * input row g (of any image) sits in slot g % NSLOT as CB channel blocks of W pixel rows each,
 * so the A block of 16 output pixels at kernel column kc is simply the 16 scratchpad rows that
 * start kc rows later: every input row is moved in once per weight slice, whatever kr and kc.
 * Banks 2-3 hold a weight slice: all 3 x 3 x C input channels for TK blocks of 16 output
 * channels, moved in once per slice and reused for every pixel. An output tile (TR output rows
 * x all Q pixels x TK channel blocks) stays in the accumulator while the 9*CB reduction steps
 * walk over it: per step and channel block, one preload of the weight block, then every pixel
 * block of the tile reuses it (compute_preloaded for the first, compute_accumulated for the
 * rest). The bias is broadcast into the accumulator (stride-0 mvin) before the first step, so
 * every compute accumulates.
 *
 * DBUF = 1 alternates accumulator halves between tiles (stores overlap the next tile's computes)
 * and moves in the next tile's new input rows during this tile's first reduction steps, one
 * piece (up to 16 pixels x 64 channels) per step, and the next tile's bias too (one block per step).
 * The loops over a tile's blocks have constant trips and are fully unrolled (`unroll 16` covers
 * TR and TK up to 16): gcc does that before the basic-block counter is instrumented, so the model
 * sees straight-line issue. Partial unrolling of the reduction loop happens after it and changes
 * no modeled cycle (measured), so there is no unrolling knob. */
#define N 4 /* @param N */
#define P 56 /* @param P */
#define Q 56 /* @param Q */
#define C 64 /* @param C */
#define K 64 /* @param K */
#define R 3 /* @param R */
#define S 3 /* @param S */

#define TK 2 /* @knob values=1,2,4,8,16 menu="modify loop tiling" */
#define TR 2 /* @knob values=1,2,3,4,7,8,14 menu="modify loop tiling" */
#define DBUF 1 /* @knob values=0,1 menu="double buffering" */
/* @preset small_image if="Q <= 16" TK=2 TR=7 */
/* @constraint R == 3 && S == 3 && C % 16 == 0 && K % 16 == 0 */
/* @constraint (K / 16) % TK == 0 && 9 * C * TK <= 8192 && P % TR == 0 */
/* @constraint TR * ((Q + 15) / 16) * TK <= 32 * (2 - DBUF) && 8192 / ((C / 16) * (Q + 2)) >= 2 * TR + 4 */

#define H (P + 2)                  /* padded input rows */
#define W (Q + 2)                  /* padded input row length */
#define CB (C / 16)                /* input channel blocks */
#define KB (K / 16)                /* output channel blocks */
#define QT ((Q + 15) / 16)         /* pixel blocks per output row; the last has QLAST pixels */
#define QLAST (Q - 16 * (QT - 1))
#define STEPS (9 * CB)             /* reduction steps: (kr, kc, channel block) */
#define SLOT (CB * W)              /* scratchpad rows of one input row */
#define NSLOT (8192 / SLOT)        /* input rows the ring holds (banks 0-1) */
#define WBASE 8192u                /* weight slice (banks 2-3): block (step, kb) at WBASE + (step*TK + kb)*16 */
#define TILES_PER_IMAGE (P / TR)
#define TILE_BLOCKS (TR * QT * TK) /* accumulator blocks of one tile */
#define XPIECES ((W + 15) / 16)    /* mvins of one input row: XPIECES x CPIECES */
#define CPIECES ((C + 63) / 64)
#define ROW_PIECES (XPIECES * CPIECES)
#define ACC_HALF(h) (0x80000000u | ((uint32_t)(h) * 512u))
#define ACCUMULATE 0x40000000u

static inline int min_int(int a, int b) { return a < b ? a : b; }

/* Piece `piece` of the input rows from `row` on (ROW_PIECES per row; rows counted over all
 * images: b * H + y), into the ring slot of its ring row base + row. */
static inline void load_input_piece(const int8_t *input, int base, int row, int piece) {
  row += piece / ROW_PIECES;
  piece %= ROW_PIECES;
  const int x0 = 16 * (piece / CPIECES), c0 = 64 * (piece % CPIECES);
  const uint32_t slot = (uint32_t)((base + row) % NSLOT) * SLOT;
  gemmini_extended_mvin(input + ((size_t)row * W + x0) * C + c0, slot + (uint32_t)(c0 / 16 * W + x0),
                        min_int(64, C - c0), min_int(16, W - x0));
}

/* Bias block i (of the tile's TR x QT x TK accumulator blocks, in their order) broadcast into the
 * accumulator half `acc`, overwriting it: the tile's computes then all accumulate. */
static inline void load_bias_block(const int32_t *bias, int k0, uint32_t acc, int i) {
  const int t = (i / TK) % QT, kb = i % TK;
  gemmini_extended_mvin3(bias + (k0 + kb) * 16, acc | (uint32_t)(i * 16), 16, t == QT - 1 ? QLAST : 16);
}

/* The weight slice for output channel blocks k0 .. k0+TK-1: 16 channel rows per mvin2, up to
 * 4 output blocks (64 columns) per mvin2, blocks 16 scratchpad rows apart. */
static void load_weights(const int8_t *weights, int k0) {
  for (int step = 0; step < STEPS; step++)
    for (int kb = 0; kb < TK; kb += 4)
      gemmini_extended_mvin2(weights + (size_t)(step * 16) * K + (size_t)(k0 + kb) * 16,
                             WBASE + (uint32_t)((step * TK + kb) * 16), 16 * min_int(4, TK - kb), 16);
}

/* One reduction step over the whole tile: for each output channel block, new weights, then every
 * pixel block of the tile reuses them. `ring0` is the ring row of the tile's first input row. */
static inline __attribute__((always_inline)) void compute_step(int step, int ring0, uint32_t acc) {
  const int kr = step / (3 * CB), kc = (step / CB) % 3, cb = step % CB;
#pragma GCC unroll 16
  for (int kb = 0; kb < TK; kb++) {
    const uint32_t wrow = WBASE + (uint32_t)((step * TK + kb) * 16);
#pragma GCC unroll 16
    for (int r = 0; r < TR; r++) {
      const uint32_t arow = (uint32_t)((ring0 + r + kr) % NSLOT) * SLOT + (uint32_t)(cb * W + kc);
#pragma GCC unroll 16
      for (int t = 0; t < QT; t++) {
        const int px = t == QT - 1 ? QLAST : 16;
        const uint32_t c = acc | ACCUMULATE | (uint32_t)(((r * QT + t) * TK + kb) * 16);
        if (r == 0 && t == 0) {
          gemmini_extended_preload(wrow, c, 16, 16, 16, px);
          gemmini_extended_compute_preloaded(arow, GARBAGE_ADDR, 16, px, 16, 16);
        } else {
          gemmini_extended_preload(GARBAGE_ADDR, c, 16, 16, 16, px);
          gemmini_extended_compute_accumulated(arow + (uint32_t)(16 * t), GARBAGE_ADDR, 16, px, 16, 16);
        }
      }
    }
  }
}

void conv(const int8_t *restrict input, const int8_t *restrict weights, const int32_t *restrict bias,
          int8_t *restrict output) {
  gemmini_extended_config_st(K * sizeof(int8_t), NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended4_config_ld(C * sizeof(int8_t), 1.0f, false, W, 0); /* input rows: channel blocks W rows apart */
  gemmini_extended3_config_ld(K * sizeof(int8_t), 1.0f, false, 1);    /* weights */
  gemmini_extended3_config_ld(0, 1.0f, false, 2);                     /* bias, broadcast to every row */

  int tile = 0; /* global tile counter: picks the accumulator half */
  for (int k0 = 0; k0 < KB; k0 += TK) {
    load_weights(weights, k0);
    /* input row `row` (= b * H + y) of this slice sits at ring row base + row; each slice starts
     * NSLOT ring rows past the last one, so its first loads never wait on the last slice's reads */
    const int base = (k0 / TK) * (N * H + NSLOT);
    int loaded = 0; /* input rows of this slice moved in so far */
    for (int b = 0; b < N; b++) {
      for (int t0 = 0; t0 < TILES_PER_IMAGE; t0++, tile++) {
        const int first = b * H + t0 * TR; /* the tile's first input row */
        const uint32_t acc = DBUF ? ACC_HALF(tile & 1) : ACC_HALF(0);
        for (; loaded < first + TR + 2; loaded++) /* rows not prefetched: all without DBUF */
          for (int piece = 0; piece < ROW_PIECES; piece++) load_input_piece(input, base, loaded, piece);
        if (!DBUF || tile == 0) /* not prefetched */
          for (int i = 0; i < TILE_BLOCKS; i++) load_bias_block(bias, k0, acc, i);
        /* DBUF: the next tile's new input rows (same slice) and its bias, one piece or block per
         * reduction step from the first step on, so they arrive while this tile computes */
        const int last_in_slice = b == N - 1 && t0 == TILES_PER_IMAGE - 1;
        const int next_first = t0 + 1 < TILES_PER_IMAGE ? first + TR : (b + 1) * H;
        const int upto = !DBUF || last_in_slice ? loaded : next_first + TR + 2; /* rows the next tile needs */
        const int pieces = (upto - loaded) * ROW_PIECES;
        const int next_k0 = last_in_slice ? k0 + TK : k0;
        const int biases = DBUF && next_k0 < KB ? TILE_BLOCKS : 0;
        const uint32_t next_acc = ACC_HALF((tile + 1) & 1);
        int step = 0;
        for (; step < pieces && step < STEPS; step++) {
          load_input_piece(input, base, loaded, step);
          compute_step(step, base + first, acc);
        }
        for (int piece = step; piece < pieces; piece++) load_input_piece(input, base, loaded, piece); /* more pieces than steps */
        loaded = upto;
        for (; step < pieces + biases && step < STEPS; step++) {
          load_bias_block(bias, next_k0, next_acc, step - pieces);
          compute_step(step, base + first, acc);
        }
        for (int i = step - pieces; i < biases; i++) load_bias_block(bias, next_k0, next_acc, i);
        for (; step < STEPS; step++) compute_step(step, base + first, acc);
#pragma GCC unroll 16
        for (int r = 0; r < TR; r++)
#pragma GCC unroll 16
          for (int t = 0; t < QT; t++)
#pragma GCC unroll 16
            for (int kb = 0; kb < TK; kb++)
              gemmini_extended_mvout(output + (((size_t)b * P + t0 * TR + r) * Q + 16 * t) * K + (size_t)(k0 + kb) * 16,
                                     acc | (uint32_t)(((r * QT + t) * TK + kb) * 16), 16, t == QT - 1 ? QLAST : 16);
      }
    }
  }
  gemmini_fence();
}
