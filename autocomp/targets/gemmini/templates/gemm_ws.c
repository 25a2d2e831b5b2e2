/* @template family=gemm shapes="A[I][K] B[K][J] C[I][J]" */
/* Gemmini int8 GEMM C[I][J] = requantize(A[I][K] @ B[K][J]) (int32 accumulation, scale 1, no
 * activation), all row-major, weight-stationary, every instruction issued from the CPU: a
 * parameterized kernel for the offline tuner (int8 16x16 configuration).
 *
 * Tiles are counted in 16 x 16 blocks: a C tile of TILE_I x TILE_J blocks stays in the
 * accumulator while K is walked in steps of TILE_K blocks. Per K step the A tile (TILE_I x
 * TILE_K blocks) and the B tile (TILE_K x TILE_J blocks) are moved into the scratchpad, A in
 * banks 0-1 and B in banks 2-3 (so A and B reads never share a bank); each B block is preloaded
 * once and reused for all TILE_I row blocks (compute_preloaded for the first,
 * compute_accumulated for the rest). The first K step overwrites the accumulator, so no zeroing
 * is needed. Edge tiles (dimensions not a multiple of the tile) are handled.
 *
 * DBUF = 1 double-buffers: the next K step's loads go to the other scratchpad buffer and are
 * issued one group of 4 K blocks ahead of the computes, and consecutive C tiles alternate
 * accumulator halves, so loads, computes and stores overlap; a tile's stores go out a few per K
 * slice of the next tile. ORDER picks the outer loop
 * (0: C row tiles outer; 1: C column tiles outer). REUSE = 1 (only when one K step covers all
 * of K) keeps the outer loop's operand (A for ORDER 0, B for ORDER 1) in the scratchpad across
 * the inner loop instead of reloading it. */
#define I 512 /* @param I */
#define K 512 /* @param K */
#define J 512 /* @param J */

#define TILE_I 8 /* @knob values=1,2,4,8 menu="modify loop tiling" */
#define TILE_J 4 /* @knob values=1,2,4,8 menu="modify loop tiling" */
#define TILE_K 32 /* @knob values=1,2,4,8,16,32 menu="modify loop tiling" */
#define DBUF 1 /* @knob values=0,1 menu="double buffering" */
#define ORDER 1 /* @knob values=0,1 menu="loop reordering" */
#define REUSE 1 /* @knob values=0,1 menu="load across outer iterations and skip redundant loads with if statements" */
/* @constraint I % 16 == 0 && J % 16 == 0 && K % 16 == 0 && TILE_I * TILE_J <= 32 && TILE_I * TILE_K <= 256 && TILE_K * TILE_J <= 256 && (REUSE == 0 || K <= 16 * TILE_K) */

#define IB (I / 16)
#define JB (J / 16)
#define KB (K / 16)
#define NKT ((KB + TILE_K - 1) / TILE_K)
#define A_BUF(b) ((uint32_t)(b) * 4096u)          /* banks 0, 1 */
#define B_BUF(b) (8192u + (uint32_t)(b) * 4096u)  /* banks 2, 3 */
#define ACC_HALF(h) (0x80000000u | ((uint32_t)(h) * 512u))

static inline int min_int(int a, int b) { return a < b ? a : b; }

/* Group g (up to 4 K blocks, one 64-column mvin per row block) of the A tile at (i0, k0):
 * block (i, k) lands at buf + (i*nK + k)*16, so the 4 blocks of one mvin are 16 rows apart. */
static inline void load_a_group(const int8_t *A, int i0, int nI, int k0, int nK, int g, uint32_t buf) {
  int k = 4 * g, n = min_int(4, nK - k);
  for (int i = 0; i < nI; i++)
    gemmini_extended_mvin(A + (size_t)(i0 + i) * 16 * K + (size_t)(k0 + k) * 16,
                          buf + (uint32_t)((i * nK + k) * 16), 16 * n, 16);
}

/* Group g of the B tile at (k0, j0): up to 4 16-row strips of nJ blocks, up to 4 blocks per
 * mvin; block (k, j) lands at buf + (k*nJ + j)*16. */
static inline void load_b_group(const int8_t *B, int j0, int nJ, int k0, int nK, int g, uint32_t buf) {
  for (int k = 4 * g; k < min_int(4 * g + 4, nK); k++)
    for (int j = 0; j < nJ; j += 4)
      gemmini_extended_mvin2(B + (size_t)(k0 + k) * 16 * J + (size_t)(j0 + j) * 16,
                             buf + (uint32_t)((k * nJ + j) * 16), 16 * min_int(4, nJ - j), 16);
}

/* The computes of slice k over nI x nJ blocks: for every column block, new weights
 * (compute_preloaded for row block 0), then the other row blocks reuse them
 * (compute_accumulated). Inlined with constant counts for full tiles, so gcc unrolls both loops
 * completely (before the basic-block counter is instrumented) and the CPU issues the slice as
 * straight-line code: one basic block per slice instead of one or two per column block. */
static inline __attribute__((always_inline)) void slice_blocks(const int nI, const int nJ, int nK, int k, int first,
                                                               uint32_t abuf, uint32_t bbuf, uint32_t acc) {
  const uint32_t accumulate = first ? 0u : 0x40000000u;
  const uint32_t a0 = abuf + (uint32_t)(k * 16), a_step = (uint32_t)(nK * 16), c_step = (uint32_t)(nJ * 16);
#pragma GCC unroll 8
  for (int j = 0; j < nJ; j++) {
    const uint32_t c0 = (acc | accumulate) + (uint32_t)(j * 16);
    gemmini_extended_preload(bbuf + (uint32_t)((k * nJ + j) * 16), c0, 16, 16, 16, 16);
    gemmini_extended_compute_preloaded(a0, GARBAGE_ADDR, 16, 16, 16, 16);
#pragma GCC unroll 8
    for (int i = 1; i < nI; i++) {
      gemmini_extended_preload(GARBAGE_ADDR, c0 + (uint32_t)i * c_step, 16, 16, 16, 16);
      gemmini_extended_compute_accumulated(a0 + (uint32_t)i * a_step, GARBAGE_ADDR, 16, 16, 16, 16);
    }
  }
}

static inline void compute_slice(int nI, int nJ, int nK, int k, int first, uint32_t abuf, uint32_t bbuf, uint32_t acc) {
  if (nI == TILE_I && nJ == TILE_J) slice_blocks(TILE_I, TILE_J, nK, k, first, abuf, bbuf, acc);
  else slice_blocks(nI, nJ, nK, k, first, abuf, bbuf, acc);
}

/* A C tile whose stores are still to be issued: with DBUF they go out SPS per K slice of the
 * next tile (which computes into the other accumulator half). Issued together at the end of a
 * tile, a tile's mvouts fill the 4-entry store queue and the CPU waits there instead of issuing
 * computes, so the array idles (12544x64x256: 1,327,872 -> 1,100,980 cycles). */
typedef struct {
  int i0, j0, nI, nJ, done;
  uint32_t acc;
} pending_t;

#define SPS ((TILE_I * TILE_J + KB - 1) / KB) /* stores per K slice: a full tile's over the next tile's KB slices */

/* The next `count` (at most the remaining) stores of p; straight-line code when count is the constant SPS. */
static inline __attribute__((always_inline)) void store_blocks(int8_t *C, pending_t *p, const int count) {
#pragma GCC unroll 32
  for (int q = 0; q < count; q++) {
    const int idx = p->done + q, i = idx / p->nJ, j = idx % p->nJ;
    gemmini_extended_mvout(C + (size_t)(p->i0 + i) * 16 * J + (size_t)(p->j0 + j) * 16,
                           p->acc + (uint32_t)((i * p->nJ + j) * 16), 16, 16);
  }
  p->done += count;
}

static inline void store_rest(int8_t *C, pending_t *p) { store_blocks(C, p, p->nI * p->nJ - p->done); }

static inline void store_chunk(int8_t *C, pending_t *p) {
  if (p->done + SPS <= p->nI * p->nJ) store_blocks(C, p, SPS);
  else store_rest(C, p);
}

void gemm(const int8_t *restrict A, const int8_t *restrict B, int8_t *restrict C) {
  gemmini_extended_config_st(J * sizeof(int8_t), NO_ACTIVATION, 1.0f);
  gemmini_extended_config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 0, 1, false, false);
  gemmini_extended3_config_ld(K * sizeof(int8_t), 1.0f, false, 0); /* A */
  gemmini_extended3_config_ld(J * sizeof(int8_t), 1.0f, false, 1); /* B */

  const int n_outer = ORDER == 0 ? (IB + TILE_I - 1) / TILE_I : (JB + TILE_J - 1) / TILE_J;
  const int n_inner = ORDER == 0 ? (JB + TILE_J - 1) / TILE_J : (IB + TILE_I - 1) / TILE_I;
  int step = 0;   /* global K-step counter: picks the scratchpad buffer */
  int ctile = 0;  /* global C-tile counter: picks the accumulator half */
  pending_t pend = {0, 0, 0, 0, 0, 0}; /* the previous tile's stores, with DBUF */
  for (int o = 0; o < n_outer; o++) {
    for (int n = 0; n < n_inner; n++) {
      int it = ORDER == 0 ? o : n, jt = ORDER == 0 ? n : o;
      int i0 = it * TILE_I, j0 = jt * TILE_J;
      int nI = min_int(TILE_I, IB - i0), nJ = min_int(TILE_J, JB - j0);
      uint32_t acc = DBUF ? ACC_HALF(ctile & 1) : ACC_HALF(0);
      /* With REUSE the outer operand lives in buffer 0 of its region (loaded at n == 0) and
       * the inner operand alternates buffers; without REUSE both alternate. */
      for (int kt = 0; kt < NKT; kt++, step++) {
        int k0 = kt * TILE_K, nK = min_int(TILE_K, KB - k0);
        int buf = DBUF ? (step & 1) : 0;
        uint32_t abuf = A_BUF(REUSE && ORDER == 0 ? 0 : buf), bbuf = B_BUF(REUSE && ORDER == 1 ? 0 : buf);
        int load_a = !(REUSE && ORDER == 0 && n > 0), load_b = !(REUSE && ORDER == 1 && n > 0);
        if (!DBUF || step == 0) { /* nothing prefetched: load this step now */
          for (int g = 0; g < (nK + 3) / 4; g++) {
            if (load_a) load_a_group(A, i0, nI, k0, nK, g, abuf);
            if (load_b) load_b_group(B, j0, nJ, k0, nK, g, bbuf);
          }
        }
        /* the next K step (possibly of the next C tile), for prefetching */
        int has_next = 0, ni0 = 0, nj0 = 0, nnI = 0, nnJ = 0, nk0 = 0, nnK = 0, nload_a = 0, nload_b = 0;
        uint32_t nabuf = 0, nbbuf = 0;
        if (DBUF) {
          int nkt = kt + 1, nn = n, no = o;
          if (nkt == NKT) { nkt = 0; nn++; if (nn == n_inner) { nn = 0; no++; } }
          if (no < n_outer) {
            int nit = ORDER == 0 ? no : nn, njt = ORDER == 0 ? nn : no;
            has_next = 1;
            ni0 = nit * TILE_I; nj0 = njt * TILE_J;
            nnI = min_int(TILE_I, IB - ni0); nnJ = min_int(TILE_J, JB - nj0);
            nk0 = nkt * TILE_K; nnK = min_int(TILE_K, KB - nk0);
            int nbuf = (step + 1) & 1;
            nabuf = A_BUF(REUSE && ORDER == 0 ? 0 : nbuf);
            nbbuf = B_BUF(REUSE && ORDER == 1 ? 0 : nbuf);
            /* REUSE: the outer operand is reloaded only when the outer tile changes, and then
             * it overwrites buffer 0 that this step still reads: not prefetched (see below) */
            nload_a = !(REUSE && ORDER == 0);
            nload_b = !(REUSE && ORDER == 1);
          }
        }
        /* the next step's load groups are issued one group ahead of this step's computes */
        int ng = (nK + 3) / 4, nng = (nnK + 3) / 4;
        for (int g = 0; g < ng; g++) {
          if (has_next && g < nng) {
            if (nload_a) load_a_group(A, ni0, nnI, nk0, nnK, g, nabuf);
            if (nload_b) load_b_group(B, nj0, nnJ, nk0, nnK, g, nbbuf);
          }
          for (int k = 4 * g; k < min_int(4 * g + 4, nK); k++) {
            compute_slice(nI, nJ, nK, k, kt == 0 && k == 0, abuf, bbuf, acc);
            if (DBUF) store_chunk(C, &pend);
          }
        }
        if (has_next) {
          for (int g = ng; g < nng; g++) {
            if (nload_a) load_a_group(A, ni0, nnI, nk0, nnK, g, nabuf);
            if (nload_b) load_b_group(B, nj0, nnJ, nk0, nnK, g, nbbuf);
          }
          /* REUSE: the new outer operand goes into buffer 0 after this step's computes */
          int outer_changes = (ORDER == 0 ? (ni0 != i0) : (nj0 != j0));
          if (REUSE && outer_changes) {
            for (int g = 0; g < nng; g++) {
              if (ORDER == 0) load_a_group(A, ni0, nnI, nk0, nnK, g, nabuf);
              else load_b_group(B, nj0, nnJ, nk0, nnK, g, nbbuf);
            }
          }
        }
      }
      store_rest(C, &pend); /* the previous tile's stores not yet out (edge tiles) */
      pend = (pending_t){i0, j0, nI, nJ, 0, acc};
      if (!DBUF) store_rest(C, &pend); /* one accumulator half: out before the next tile overwrites it */
      ctile++;
    }
  }
  store_rest(C, &pend);
  gemmini_fence();
}
