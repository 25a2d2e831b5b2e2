/* @template family=gemm-i8 shapes="A[M][K] B[K][N] C[M][N]" */
/* Parameterized single-core AMX int8 GEMM:  C[M][N] (int32) = A[M][K] (int8) x B[K][N] (int8).
 *
 * A and B are plain row-major signed int8; every packing happens inside the call (and is timed).
 * (Generated from gemm.c.in by generate.py, beside this file: the bf16 and int8 templates share
 * all code except the element types, the dot-product instruction and the VNNI packing step.)
 *
 * Loop structure (GotoBLAS-like, adapted to AMX tiles):
 *
 *   for jc in N step NC                            N panel
 *     [PACKB 1] pack B[:, jc:jc+NC] -> Bp          whole K x NC panel: VNNI quads, tile-contiguous
 *                                                  (1 KB tiles, row stride 64 B), rows of B read sequentially
 *     for ic in M step MC                          M block
 *       ORDER 0: for pc in K step KC:              B-resident: for each group of G column strips
 *                  [PACKB 2] pack the group's KC x 16*NB*G slice of B into a small L1 buffer
 *                  [PACKB 3] same, but the NEXT group is packed a few rows per k-step inside the
 *                            microkernels of the current group (double buffer, AVX-512 work
 *                            overlapping TMUL)
 *                  for each row strip (16*MB rows): for each strip of the group: microkernel
 *       ORDER 1: for pc in K step KC:              A-resident: for each group of G row strips:
 *                  for each column strip: for each row strip of the group: microkernel
 *                  (MREV 1: M blocks and row groups last to first)
 *       ORDER 2: for each group of G row strips:   C-panel resident: the K loop runs inside;
 *                  for pc in K step KC:            partial sums of the group x NC panel live in
 *                    [PACKA 1] pack the A chunk    the L1 scratch Cs (padded rows) between K
 *                    for each column strip: for each row strip of the group: microkernel
 *       ORDER 3: for each row strip:                 streaming (tall-skinny shapes): a lean loop, no
 *                  for each column strip:          side work or cross-block pipelining, so the
 *                    block over the whole K        out-of-order window holds many A tile loads
 *                                                  (memory-level parallelism); A tiles straight
 *                                                  from row-major A, C written once (MREV 1: last
 *                                                  row strip first; SPF d: the A rows of the strip
 *                                                  d strips ahead are prefetched into L2, spread
 *                                                  over the current strip's k-steps)
 *       [PACKA 1, ORDER 0/1] the MC x KC block of A is packed tile-contiguous before its use
 *       [PACKA 3, ORDER 2] as PACKA 1 in the first N panel, into a buffer holding all of A; the
 *                          later panels reuse the packed chunks (PFN prefetches them into L2)
 *       [PACKA 2, ORDER 2] the next A chunk is packed a few lines per k-step inside the current
 *                          chunk's microkernels (double buffer)
 *
 * Microkernel: MB x NB register block of 16x16 int32 C tiles (tmm0..3) fed by A tiles tmm4..5 and
 * B tiles tmm6..7; MB = NB = 2 gives one tile load per tdpbssd. Inside a block the loads of
 * k-step k+1 are issued as soon as the register they overwrite has been consumed. XPIPE 1
 * pipelines across blocks as well: a block leaves its C tiles in the registers, the next block
 * stores them while its own first dot products run, and the last k-step of a block already
 * loads the first operands of the next one, so the TMUL pipeline never drains between blocks.
 * If M is not a multiple of 16*MB (784 = 16*49) the last row strip runs a 1 x NB block.
 *
 * Per k-step "side work" is interleaved with the tile instructions: prefetchw of the C block
 * (PFC), prefetch of later A rows into L2 (PFN 1: the next chunk's rows during the first column
 * strip; PFN 2, ORDER 2: the next chunk spread evenly over all blocks of the current one, which
 * keeps the L3 requests below the ~29 GB/s a core gets instead of bursting them into the fill
 * buffers that the tile loads need), the fused packing jobs of PACKB 3 / PACKA 2 and
 * the source prefetch of the fused B packer (PFP). NTA / NTB load the streamed operand with tileloaddt1. CNT 1 writes the
 * final C through an L1 staging buffer with non-temporal stores (no read-for-ownership of C); CNT 2
 * stages it the same way (one fast tile store per tile) and copies it out with ordinary stores a
 * few lines per k-step of the next block: a 16-row tile store at a power-of-two row stride (N =
 * 1024, 2048) puts 16 lines into one L1 set at once.
 *
 * Packed B (a "strip" = 16*NB columns): [strip][k-step][nb][kk 0..15][n 0..15][4 x int8]: each
 * k-step of a strip is NB contiguous 1 KB VNNI tiles. Packing uses AVX-512 vpermt2b.
 * Requirements: M % 16 == 0, N % 32 == 0, K % 64 == 0.
 */
#include <immintrin.h>
#include <stdint.h>

#define M 256 /* @param M */
#define N 256 /* @param N */
#define K 256 /* @param K */

#define MB 2 /* @knob values=1,2 menu="register blocking with several accumulator tiles" */
#define NB 2 /* @knob values=1,2 menu="register blocking with several accumulator tiles" */
#define KC 256 /* @knob values=64,128,256,512,1024,2048 menu="cache blocking for L1/L2" */
#define MC 16384 /* @knob values=32,64,128,256,512,1024,2048,4096,16384 menu="cache blocking for L1/L2" */
#define NC 256 /* @knob values=32,64,128,256,512,1024,2048 menu="cache blocking for L1/L2" */
#define NTA 1 /* @knob values=0,1 menu="non-temporal loads and stores" */
#define NTB 0 /* @knob values=0,1 menu="non-temporal loads and stores" */
#define ORDER 0 /* @knob values=0,1,2,3 menu="loop order for reuse" */
#define G 1 /* @knob values=1,2,4 menu="loop order for reuse" */
#define PACKA 0 /* @knob values=0,1,2,3 menu="pack A into tile-contiguous blocks" */
#define PACKB 2 /* @knob values=1,2,3 menu="pack B into tile-contiguous VNNI blocks" */
#define XPIPE 1 /* @knob values=0,1 menu="software pipelining of tile loads and dot products" */
#define CNT 0 /* @knob values=0,1,2 menu="software pipelining of tile loads and dot products" */
#define PFC 0 /* @knob values=0,1 menu="software prefetching" */
#define PFN 0 /* @knob values=0,1,2 menu="software prefetching" */
#define PFP 0 /* @knob values=0,4,8,16 menu="software prefetching" */
#define BPAD 1 /* @knob values=0,1 menu="avoid power-of-two strides" */
#define MREV 0 /* @knob values=0,1 menu="loop order for reuse" */
#define SPF 0 /* @knob values=0,1,2 menu="software prefetching" */

/* @constraint M % 16 == 0 && N % 32 == 0 && K % 64 == 0 */
/* @constraint N % NC == 0 && K % KC == 0 */
/* @constraint NC % (16 * NB) == 0 && NC % 32 == 0 */
/* @constraint MC % (16 * MB) == 0 */
/* @constraint MB * NB + MB + NB <= 8 */
/* @constraint PACKB == 1 || ORDER == 0 */
/* @constraint ORDER != 0 || NC % (16 * NB * G) == 0 */
/* @constraint PACKB == 1 || (NB * G) % 2 == 0 */
/* @constraint PFN == 0 || ORDER != 0 */
/* @constraint PFN < 2 || ORDER == 2 */
/* @constraint PFP == 0 || PACKB == 3 */
/* @constraint PACKA < 2 || ORDER == 2 */
/* @constraint MREV == 0 || ORDER == 1 || ORDER == 3 */
/* @constraint ORDER != 3 || (KC == K && MC >= M && G == 1 && PACKA == 0 && XPIPE == 0 && CNT == 0 && PFC == 0 && PFN == 0) */
/* @constraint SPF == 0 || ORDER == 3 */
/* @constraint CNT != 2 || XPIPE == 1 */

/* Starting settings per shape class for the tuner (generated by gen.py; the first preset whose
 * condition holds and whose setting satisfies the constraints is the first instance tried) */
/* @preset stream if="N <= 64 && M >= 16 * K" MB=1 NB=1 KC=K MC=16384 NC=N NTA=0 NTB=0 ORDER=3 G=1 PACKA=0 PACKB=1 XPIPE=0 CNT=0 PFC=0 PFN=0 PFP=0 BPAD=0 MREV=1 SPF=0 */
/* @preset skinny if="N <= 128 && M >= 4 * K" MB=2 NB=2 KC=K MC=16384 NC=N NTA=0 NTB=1 ORDER=3 G=1 PACKA=0 PACKB=1 XPIPE=0 CNT=0 PFC=0 PFN=0 PFP=0 BPAD=0 MREV=1 SPF=1 */
/* @preset small if="M * N * K <= 16777216" MB=2 NB=2 KC=K MC=64 NC=64 NTA=0 NTB=0 ORDER=2 G=1 PACKA=0 PACKB=1 XPIPE=0 CNT=0 PFC=0 PFN=0 PFP=0 BPAD=1 MREV=0 SPF=0 */
/* @preset deep if="N <= 256 && K >= 4 * N" MB=2 NB=2 KC=K MC=1024 NC=N NTA=0 NTB=1 ORDER=2 G=1 PACKA=0 PACKB=1 XPIPE=1 CNT=0 PFC=1 PFN=2 PFP=0 BPAD=1 MREV=0 SPF=0 */
/* @preset huge if="N >= 2048 && K >= 2048" MB=2 NB=2 KC=1024 MC=512 NC=512 NTA=0 NTB=1 ORDER=2 G=1 PACKA=1 PACKB=1 XPIPE=1 CNT=2 PFC=0 PFN=0 PFP=0 BPAD=1 MREV=0 SPF=0 */
/* @preset big if="N >= 1024 && K >= 1024" MB=2 NB=2 KC=K MC=16384 NC=N NTA=0 NTB=1 ORDER=2 G=1 PACKA=0 PACKB=1 XPIPE=1 CNT=0 PFC=0 PFN=0 PFP=0 BPAD=1 MREV=0 SPF=0 */
/* @preset medium if="N >= 256 && K >= 256" MB=2 NB=2 KC=512 MC=256 NC=256 NTA=0 NTB=1 ORDER=2 G=1 PACKA=0 PACKB=1 XPIPE=1 CNT=0 PFC=0 PFN=0 PFP=0 BPAD=1 MREV=0 SPF=0 */

typedef int8_t T;
typedef int32_t TO;
#define KSTEP 64 /* K elements per tile dot product */
#define RPS 4    /* B rows per VNNI group (quads) */
#define DP(c, a, b) _tile_dpbssd(c, a, b)
#define TE (1024 / (int)sizeof(T)) /* elements per 1 KB tile (16 rows x 64 bytes) */
#define KT (K / KSTEP)             /* k-steps over the whole K */
#define KCT (KC / KSTEP)           /* k-steps per K block */
#define BS (NB * TE)               /* packed B elements per k-step of a strip */
#define GW (16 * NB * G)           /* columns per strip group (ORDER 0) */
#define UPS (KC / RPS)             /* B pack units (RPS rows x 32 columns) per 32 columns of a K block */
#define MCE (MC < M ? MC : M)

#if (M % 16) || (N % 32) || (K % KSTEP) || (N % NC) || (K % KC) || (NC % (16 * NB)) || (NC % 32) || (MC % (16 * MB))
#error "gemm: knob/param constraint violated"
#endif
#if PACKB != 1 && (ORDER != 0 || (NC % GW) || ((NB * G) % 2))
#error "gemm: PACKB 2/3 needs ORDER 0, NC % (16*NB*G) == 0 and an even NB*G"
#endif
#if PACKA >= 2 && ORDER != 2
#error "gemm: PACKA 2 / 3 (fused / whole-A packing) need ORDER 2"
#endif
#if MREV && ORDER != 1 && ORDER != 3
#error "gemm: MREV (last-to-first row traversal) needs ORDER 1 or 3"
#endif
#if ORDER == 3 && (KC != K || PACKA || XPIPE || CNT || PFC || PFN)
#error "gemm: ORDER 3 (streaming) needs KC == K and no PACKA, XPIPE, CNT, PFC, PFN"
#endif
#if SPF && ORDER != 3
#error "gemm: SPF (strip prefetch) needs ORDER 3"
#endif
#if CNT == 2 && !XPIPE
#error "gemm: CNT 2 (staged final C, copied out during the next block) needs XPIPE"
#endif

typedef struct __attribute__((packed)) {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg_t;

#if PACKB == 1
/* whole-panel layout: strip s starts at s * SSTR; BPAD adds one 64 B line per strip so the
 * strips (a power of two apart otherwise) do not map to the same L1/L2 sets while packing */
#define SSTR ((long)KT * BS + BPAD * 64 / (int)sizeof(T))
static T Bp[(NC / (16 * NB)) * SSTR] __attribute__((aligned(64)));
#elif PACKB == 2
static T Bp[(long)KC * GW] __attribute__((aligned(64)));
#else
static T Bp[2][(long)KC * GW] __attribute__((aligned(64)));
#endif
/* PACKA 1 uses one buffer (the scheduler is drained before it is refilled: a second buffer
 * costs more L1 capacity than the drain costs), PACKA 2 a double buffer filled by the fused job */
#if PACKA == 2
static T Ap2[2][(long)16 * MB * G * KC] __attribute__((aligned(64)));
#elif PACKA == 3 /* chunk (group ig, K block pc) at ig * K + pc * (rows of the group) */
static T Apw[(long)M * K] __attribute__((aligned(64)));
#elif PACKA && ORDER == 2
static T Ap[(long)16 * MB * G * KC] __attribute__((aligned(64)));
#elif PACKA
static T Ap[(long)MCE * KC] __attribute__((aligned(64)));
#endif
#if ORDER == 2
#define CSLD (NC + 16) /* padded row stride (elements) of the C scratch: not a power of two */
static TO Cs[16 * MB * G * CSLD] __attribute__((aligned(64)));
#endif
#if CNT
static TO Cst[4 * 256] __attribute__((aligned(64))); /* staging of one final C block (CNT 1 / 2) */
#endif

#define BARRIER() __asm__ volatile("" ::: "memory")

/* ---------------------------------------------------------------------------------------------
 * B packing. One "pack step" turns RPS consecutive rows of B x 32 columns into two 64 B VNNI
 * rows: columns 0..15 go to tile d0, columns 16..31 to tile d1. */
static const uint8_t PIDX_LO[64] __attribute__((aligned(64))) = {0, 32, 64, 96, 1, 33, 65, 97, 2, 34, 66, 98, 3, 35, 67, 99, 4, 36, 68, 100, 5, 37, 69, 101, 6, 38, 70, 102, 7, 39, 71, 103, 8, 40, 72, 104, 9, 41, 73, 105, 10, 42, 74, 106, 11, 43, 75, 107, 12, 44, 76, 108, 13, 45, 77, 109, 14, 46, 78, 110, 15, 47, 79, 111};
static const uint8_t PIDX_HI[64] __attribute__((aligned(64))) = {16, 48, 80, 112, 17, 49, 81, 113, 18, 50, 82, 114, 19, 51, 83, 115, 20, 52, 84, 116, 21, 53, 85, 117, 22, 54, 86, 118, 23, 55, 87, 119, 24, 56, 88, 120, 25, 57, 89, 121, 26, 58, 90, 122, 27, 59, 91, 123, 28, 60, 92, 124, 29, 61, 93, 125, 30, 62, 94, 126, 31, 63, 95, 127};
static inline __attribute__((always_inline)) void pack_step(const T *r0, T *d0, T *d1) {
  /* rows k..k+3 (32 int8 each) -> quads: two 256-bit loads per zmm, then one vpermt2b per tile row */
  const __m512i lo = _mm512_load_si512(PIDX_LO), hi = _mm512_load_si512(PIDX_HI);
  const __m512i x01 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)r0)),
                                         _mm256_loadu_si256((const __m256i *)(r0 + N)), 1);
  const __m512i x23 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(r0 + 2 * N))),
                                         _mm256_loadu_si256((const __m256i *)(r0 + 3 * N)), 1);
  _mm512_store_si512(d0, _mm512_permutex2var_epi8(x01, lo, x23));
  _mm512_store_si512(d1, _mm512_permutex2var_epi8(x01, hi, x23));
}

/* destination of 32-column group g, k-step kt, tile row kk inside a strip-contiguous buffer of
 * nkt k-steps per strip (tiles 2g and 2g+1) */
#define PB_D0(dst, g, nkt, kt, kk) ((dst) + ((long)((2 * (g)) / NB * (nkt) + (kt)) * NB + (2 * (g)) % NB) * TE + (kk) * (64 / (int)sizeof(T)))
#define PB_D1(dst, g, nkt, kt, kk) ((dst) + ((long)((2 * (g) + 1) / NB * (nkt) + (kt)) * NB + (2 * (g) + 1) % NB) * TE + (kk) * (64 / (int)sizeof(T)))

/* pack B[k0 : k0 + KSTEP*nkt, j0 : j0 + ncols] into dst (strip-contiguous); column group outer,
 * k inner, so the destination is written sequentially (the small buffers of PACKB 2/3) */
static inline __attribute__((always_inline)) void pack_b(const T *restrict B, int k0, int nkt, int j0,
                                                         int ncols, T *restrict dst) {
  for (int g = 0; g < ncols / 32; g++) {
    const T *src = B + (long)k0 * N + j0 + 32 * g;
    for (int kt = 0; kt < nkt; kt++)
      for (int kk = 0; kk < 16; kk++)
        pack_step(src + (long)(kt * KSTEP + RPS * kk) * N, PB_D0(dst, g, nkt, kt, kk), PB_D1(dst, g, nkt, kt, kk));
  }
}

#if PACKB == 1
/* whole K x NC panel; rows of B are read sequentially (hardware-prefetch friendly) and every
 * group of RPS rows is scattered over the NC/32 column groups (strips SSTR apart) */
static inline __attribute__((always_inline)) void pack_panel(const T *restrict B, int jc) {
  for (int kt = 0; kt < KT; kt++)
    for (int kk = 0; kk < 16; kk++) {
      const T *r0 = B + (long)(kt * KSTEP + RPS * kk) * N + jc;
      T *d = Bp + (long)kt * BS + kk * (64 / (int)sizeof(T));
      for (int g = 0; g < NC / 32; g++) {
        if (NB == 2) pack_step(r0 + 32 * g, d + g * SSTR, d + g * SSTR + TE);
        else pack_step(r0 + 32 * g, d + 2 * g * SSTR, d + (2 * g + 1) * SSTR);
      }
    }
}
#endif

#if PACKA
/* A packing of rows [r0, r0 + rows) x k-steps [pc, pc + KC): strips of 16*mb rows,
 * Ap[strip][kt][m][r][64 B] (1 KB tiles, row stride 64 B) */
static inline __attribute__((always_inline)) void pack_a(T *restrict ap, const T *restrict A, int r0, int rows,
                                                         int pc) {
  for (int s0 = 0; s0 < rows; s0 += 16 * MB) {
    const int mb = (rows - s0 >= 16 * MB) ? MB : 1;
    T *dst = ap + (long)s0 * KC;
    for (int m = 0; m < mb; m++)
      for (int r = 0; r < 16; r++) {
        const T *src = A + (long)(r0 + s0 + m * 16 + r) * K + pc;
        T *d = dst + m * TE + r * KSTEP;
        for (int kt = 0; kt < KCT; kt++)
          _mm512_store_si512(d + (long)kt * mb * TE, _mm512_loadu_si512(src + kt * KSTEP));
      }
  }
}
#endif

/* ---------------------------------------------------------------------------------------------
 * Block descriptor, including the block's share of a fused packing job (PACKB 3: pack steps of
 * the next B strip group; PACKA 2: 64 B lines of the next A chunk), done a few units per k-step */
typedef struct {
  const T *a;       /* A tile (row strip, k-step 0) */
  long a1, lda, as; /* element offset of the 2nd A tile, A row stride (bytes), A elements per k-step */
  const T *b;       /* B strip at k-step 0 (NB tiles per k-step, contiguous) */
  const TO *ci;     /* C input (NULL: start from zero) */
  long ldi;         /* its row stride (elements) */
  TO *c;            /* C output */
  long ldc;         /* its row stride (elements) */
  const T *pfn;     /* PFN: A rows to prefetch into L2 (row stride K), NULL: none */
  int pfp;          /* PFN target is a packed strip (PACKA 3: contiguous, 16*mb lines per k-step) */
  const char *sp;   /* PFN 2: the next A chunk (row stride sps bytes, slpr lines per row) */
  long sps;
  int slpr, sq0, sq1; /* this block's share [sq0, sq1) of the chunk's lines */
  const T *js;      /* fused job source (B: first column of the next group at row pc; A: first row at pc) */
  T *jd;            /* fused job destination buffer */
  int jq0, jq1;     /* this block's units of the job */
  int jrows;        /* PACKA 2: rows of the chunk being packed */
  int mb, fin;      /* row tiles (1 or 2); fin: c is the final C (CNT applies) */
} blk_t;

/* C tiles of the previous block still in the registers (XPIPE) */
typedef struct {
  TO *c;
  long ldc;
  int mb, fin;
} pend_t;

#define PF_L1(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define PF_L2(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)

/* per k-step side work (inlined into the microkernel) */
static inline __attribute__((always_inline)) void side(const blk_t *d, int kt, int mb) {
#if PFC
  { /* prefetchw of the block's C output, spread over the k-steps */
    const int lines = 16 * mb * NB, per = (lines + KCT - 1) / KCT;
    for (int l = kt * per; l < (kt + 1) * per && l < lines; l++)
      _m_prefetchw((void *)(d->c + (long)(l / NB) * d->ldc + (l % NB) * 16));
  }
#endif
#if PFN == 2
  if (d->sq1 > d->sq0) { /* this block's share of the next A chunk into L2, spread over its k-steps */
    const int n = d->sq1 - d->sq0, q0 = d->sq0 + kt * n / KCT, q1 = d->sq0 + (kt + 1) * n / KCT;
    for (int q = q0; q < q1; q++) PF_L2(d->sp + (long)(q / d->slpr) * d->sps + 64L * (q % d->slpr));
  }
#elif PFN
  if (d->pfn) { /* A rows for a later block into L2: one 64 B line of each of the 16*mb rows */
    if (PACKA == 3 && d->pfp) {
      const char *p = (const char *)d->pfn + (long)kt * 16 * mb * 64;
      for (int l = 0; l < 16 * mb; l++) PF_L2(p + 64L * l);
    } else {
      const char *p = (const char *)(d->pfn + (long)kt * KSTEP);
      for (int l = 0; l < 16 * mb; l++) PF_L2(p + (long)l * K * (int)sizeof(T));
    }
  }
#endif
#if PACKB == 3 || PACKA == 2
  if (d->jq1 > d->jq0) {
    const int n = d->jq1 - d->jq0, q0 = d->jq0 + kt * n / KCT, q1 = d->jq0 + (kt + 1) * n / KCT;
    for (int q = q0; q < q1; q++) {
#if PACKB == 3
      const int g = q / UPS, u = q % UPS, kt2 = u / 16, kk = u % 16;
#if PFP
      { /* source rows of the pack step PFP steps ahead */
        const int qf = q + PFP, gf = qf / UPS, uf = qf % UPS;
        for (int rr = 0; rr < RPS; rr++) PF_L1(d->js + (long)(RPS * uf + rr) * N + 32 * gf);
      }
#endif
      pack_step(d->js + (long)(RPS * u) * N + 32 * g, PB_D0(d->jd, g, KCT, kt2, kk), PB_D1(d->jd, g, KCT, kt2, kk));
#else
      /* one 64 B line of the next A chunk: row r, k-step k (layout of pack_a) */
      const int r = q / KCT, k = q % KCT, s0 = r - r % (16 * MB);
      const int smb = (d->jrows - s0 >= 16 * MB) ? MB : 1, m = (r - s0) >> 4;
      _mm512_store_si512(d->jd + (long)s0 * KC + ((long)k * smb + m) * TE + (r & 15) * KSTEP,
                         _mm512_loadu_si512(d->js + (long)r * K + k * KSTEP));
#endif
    }
  }
#endif
  (void)d; (void)kt; (void)mb;
}

/* ---------------------------------------------------------------------------------------------
 * Storing C tiles */
#if NTA
#define LOAD_A(t, p, s) _tile_stream_loadd(t, p, s)
#else
#define LOAD_A(t, p, s) _tile_loadd(t, p, s)
#endif
#if NTB
#define LOAD_B(t, p, s) _tile_stream_loadd(t, p, s)
#else
#define LOAD_B(t, p, s) _tile_loadd(t, p, s)
#endif

#if CNT == 1
/* final C block through the L1 staging buffer with non-temporal stores */
static inline __attribute__((always_inline)) void store_nt(const pend_t *p) {
  _tile_stored(0, Cst, 64);
  if (NB == 2) _tile_stored(1, Cst + 256, 64);
  if (p->mb == 2) _tile_stored(2, Cst + 512, 64);
  if (p->mb == 2 && NB == 2) _tile_stored(3, Cst + 768, 64);
  for (int r = 0; r < 16 * p->mb; r++)
    for (int n = 0; n < NB; n++)
      _mm512_stream_si512((void *)(p->c + (long)r * p->ldc + 16 * n),
                          _mm512_load_si512(Cst + ((r >> 4) * 2 + n) * 256 + (r & 15) * 16));
}
#endif

/* store all pending C tiles */
static inline __attribute__((always_inline)) void flush_c(pend_t *p) {
  if (!p->c) return;
#if CNT == 1
  if (p->fin) { store_nt(p); p->c = 0; return; }
#endif
  _tile_stored(0, p->c, p->ldc * (int)sizeof(TO));
  if (NB == 2) _tile_stored(1, p->c + 16, p->ldc * (int)sizeof(TO));
  if (p->mb == 2) _tile_stored(2, p->c + 16 * p->ldc, p->ldc * (int)sizeof(TO));
  if (p->mb == 2 && NB == 2) _tile_stored(3, p->c + 16 * p->ldc + 16, p->ldc * (int)sizeof(TO));
  p->c = 0;
}

/* C hand-over of tile t (row tile mi, column tile nj) at the start of a block: store the
 * previous block's tile (if pending), then load / zero this block's */
#if CNT == 2 /* a pending final tile goes to the staging buffer, copied out during this block */
#define STORE_PENDING(t, mi, nj)                                                                \
  do {                                                                                          \
    if (p->fin) _tile_stored(t, Cst + ((mi) * 2 + (nj)) * 256, 64);                             \
    else _tile_stored(t, p->c + (mi) * 16 * p->ldc + (nj) * 16, p->ldc * (int)sizeof(TO));     \
  } while (0)
#else
#define STORE_PENDING(t, mi, nj) _tile_stored(t, p->c + (mi) * 16 * p->ldc + (nj) * 16, p->ldc * (int)sizeof(TO))
#endif
#define HANDOVER(t, mi, nj)                                                                     \
  do {                                                                                          \
    if (p->c && (mi) < p->mb) STORE_PENDING(t, mi, nj);                                        \
    if (d->ci) _tile_loadd(t, d->ci + (mi) * 16 * d->ldi + (nj) * 16, d->ldi * (int)sizeof(TO));            \
    else _tile_zero(t);                                                                         \
  } while (0)

/* ---------------------------------------------------------------------------------------------
 * Microkernel: mb (1 or 2, a literal after inlining) x NB tiles of C over KCT k-steps.
 * pre: the operands of k-step 0 are already in tmm4..7 (loaded by the previous block);
 * nx: the next block (XPIPE: its k-step 0 operands are loaded in the last k-step), or NULL.
 * p: C tiles pending from the previous block (stored here); on return p describes this block. */
static inline __attribute__((always_inline)) void mk(int mb, const blk_t *d, const blk_t *nx, int pre, pend_t *p) {
  const T *a = d->a, *b = d->b;
  const long a1 = d->a1, lda = d->lda, as = d->as;
#if CNT == 1
  if (p->c && p->fin) flush_c(p); /* streaming stores are not interleaved */
#endif
#if CNT == 2
  /* the previous block's final C, staged by the hand-over: destination, row stride, lines */
  TO *cpc = (p->c && p->fin) ? p->c : 0;
  const long cpl = p->ldc;
  const int cpn = 16 * p->mb * NB, cper = (cpn + KCT - 1) / KCT;
#endif
  if (!pre) {
    LOAD_A(4, a, lda);
    LOAD_B(6, b, 64);
    if (NB == 2) LOAD_B(7, b + TE, 64);
    if (mb == 2) LOAD_A(5, a + a1, lda);
  }
  for (int kt = 0; kt < KCT; kt++) {
    const T *an = 0, *bn = 0;
    long ldan = lda, a1n = a1;
    int mbn = mb;
    if (kt + 1 < KCT) { an = a + (kt + 1) * as; bn = b + (kt + 1) * BS; }
    else if (nx) {
      an = nx->a; bn = nx->b; ldan = nx->lda; a1n = nx->a1; mbn = nx->mb;
#if PACKB == 3 || PACKA == 2
      BARRIER(); /* this block's fused packing stores must precede the next block's tile loads */
#endif
    }
    side(d, kt, mb);
    if (kt == 0) HANDOVER(0, 0, 0);
    DP(0, 4, 6);
    if (NB == 2) {
      if (kt == 0) HANDOVER(1, 0, 1);
      DP(1, 4, 7);
    }
    if (an) LOAD_A(4, an, ldan);
    if (kt == 0 && mb == 1 && p->c && p->mb == 2) { /* previous block had two row tiles */
      STORE_PENDING(2, 1, 0);
      if (NB == 2) STORE_PENDING(3, 1, 1);
    }
    if (mb == 2) {
      if (kt == 0) HANDOVER(2, 1, 0);
      DP(2, 5, 6);
    }
    if (bn) LOAD_B(6, bn, 64);
    if (mb == 2 && NB == 2) {
      if (kt == 0) HANDOVER(3, 1, 1);
      DP(3, 5, 7);
    }
    if (an && mbn == 2) LOAD_A(5, an + a1n, ldan);
    if (bn && NB == 2) LOAD_B(7, bn + TE, 64);
    if (kt == 0) p->c = 0;
#if CNT == 2
    for (int l = kt * cper; cpc && l < (kt + 1) * cper && l < cpn; l++) { /* line l: row l / NB, column tile l % NB */
      const int r = l / NB, n = l % NB;
      _mm512_storeu_si512((void *)(cpc + r * cpl + 16 * n), _mm512_load_si512(Cst + ((r >> 4) * 2 + n) * 256 + (r & 15) * 16));
    }
#endif
  }
  p->c = d->c; p->ldc = d->ldc; p->mb = mb; p->fin = d->fin;
#if !XPIPE
  flush_c(p);
#endif
}

#if ORDER == 3
/* ORDER 3 (streaming): one mb x NB block over the whole K, A tiles straight from row-major A,
 * C stored once; no scheduler, no side work */
static inline __attribute__((always_inline)) void sblk(int mb, const T *a, const T *b, TO *c, const char *pf, int pfn) {
  const int per = (pfn + KT - 1) / KT; /* SPF: lines of a later A strip to prefetch per k-step */
  _tile_zero(0);
  if (NB == 2) _tile_zero(1);
  if (mb == 2) _tile_zero(2);
  if (mb == 2 && NB == 2) _tile_zero(3);
  for (int kt = 0; kt < KT; kt++) {
    for (int l = kt * per; SPF && l < (kt + 1) * per && l < pfn; l++) PF_L2(pf + 64L * l);
    LOAD_A(4, a + kt * KSTEP, K * (int)sizeof(T));
    LOAD_B(6, b + (long)kt * BS, 64);
    DP(0, 4, 6);
    if (NB == 2) {
      LOAD_B(7, b + (long)kt * BS + TE, 64);
      DP(1, 4, 7);
    }
    if (mb == 2) {
      LOAD_A(5, a + 16L * K + kt * KSTEP, K * (int)sizeof(T));
      DP(2, 5, 6);
    }
    if (mb == 2 && NB == 2) DP(3, 5, 7);
  }
  _tile_stored(0, c, N * (int)sizeof(TO));
  if (NB == 2) _tile_stored(1, c + 16, N * (int)sizeof(TO));
  if (mb == 2) _tile_stored(2, c + 16L * N, N * (int)sizeof(TO));
  if (mb == 2 && NB == 2) _tile_stored(3, c + 16L * N + 16, N * (int)sizeof(TO));
}
#endif

/* ---------------------------------------------------------------------------------------------
 * Block scheduling: blocks are issued one behind, so each block knows its successor. */
typedef struct {
  blk_t cur;
  int have, pre;
  pend_t p;
} sched_t;

static inline __attribute__((always_inline)) void run_cur(sched_t *s, const blk_t *nx) {
  if (MB == 2 && s->cur.mb == 2) mk(2, &s->cur, nx, s->pre, &s->p);
  else mk(1, &s->cur, nx, s->pre, &s->p);
  s->pre = (nx != 0);
}

static inline __attribute__((always_inline)) void emit(sched_t *s, const blk_t *d) {
  if (s->have) run_cur(s, XPIPE ? d : 0);
  s->cur = *d;
  s->have = 1;
}

/* run the held-back block without a successor (before packing overwrites operand buffers) */
static inline __attribute__((always_inline)) void drain(sched_t *s) {
  if (s->have) run_cur(s, 0);
  s->have = 0;
  s->pre = 0;
}

/* block descriptor for rows [i, i + 16*mb) (of Ap packed from row a0 when PACKA), k-steps
 * [pc, pc + KC), packed B strip b */
static inline __attribute__((always_inline)) blk_t mkblk(const T *restrict A, const T *ap, int a0, int i, int mb,
                                                         int pc, const T *b, const TO *ci, long ldi, TO *c, long ldc,
                                                         int fin, const T *pfn) {
  blk_t d;
  __builtin_memset(&d, 0, sizeof d);
#if PACKA
  d.a = ap + (long)(i - a0) * KC;
  d.lda = 64; d.as = (long)mb * TE; d.a1 = TE;
  (void)A; (void)pc;
#else
  d.a = A + (long)i * K + pc;
  d.lda = K * (long)sizeof(T); d.as = KSTEP; d.a1 = 16L * K;
  (void)a0; (void)ap;
#endif
  d.b = b; d.ci = ci; d.ldi = ldi; d.c = c; d.ldc = ldc; d.pfn = pfn; d.mb = mb; d.fin = fin;
  return d;
}

void gemm(const T *restrict A, const T *restrict B, TO *restrict C) {
  tilecfg_t cfg __attribute__((aligned(64)));
  __builtin_memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
  _tile_loadconfig(&cfg);
  sched_t s;
  __builtin_memset(&s, 0, sizeof s);
#if PACKA == 2
  int abuf = 0; /* A chunk buffer in use (the job fills the other one) */
#endif

  for (int jc = 0; jc < N; jc += NC) {
#if PACKB == 1
    drain(&s);
    pack_panel(B, jc);
    BARRIER();
#define B_PANEL(j, pc) (Bp + (long)((j) - jc) / (16 * NB) * SSTR + (long)(pc) / KSTEP * BS)
#endif
    for (int ib = 0; ib < (M + MC - 1) / MC; ib++) {
      const int ic = (MREV ? (M + MC - 1) / MC - 1 - ib : ib) * MC; /* MREV: M blocks last to first */
      const int mrows = (M - ic < MC) ? (M - ic) : MC;
      const int mfull = mrows - mrows % (16 * MB); /* rows covered by full MB blocks */
#if ORDER == 3
      const int ns = (mrows + 16 * MB - 1) / (16 * MB);
      for (int si = 0; si < ns; si++) {
        const int i = ic + (MREV ? ns - 1 - si : si) * 16 * MB;
        /* SPF: the strip visited SPF strips later; its rows are contiguous in A, and the column
         * strips of this strip each prefetch an equal share of its lines */
        const int sa = si + SPF, ia = ic + (MREV ? ns - 1 - sa : sa) * 16 * MB;
        const int lines = (SPF && sa < ns) ? ((ia + 16 * MB <= ic + mrows) ? 16 * MB : ic + mrows - ia) * K * (int)sizeof(T) / 64 : 0;
        const char *pf = lines ? (const char *)(A + (long)ia * K) : (const char *)A;
        const int ncs = NC / (16 * NB);
        for (int j = jc, js = 0; j < jc + NC; j += 16 * NB, js++) {
          const char *p = pf + 64L * (lines * js / ncs);
          const int n = lines * (js + 1) / ncs - lines * js / ncs;
          if (MB == 2 && i < ic + mfull) sblk(2, A + (long)i * K, B_PANEL(j, 0), C + (long)i * N + j, p, n);
          else sblk(1, A + (long)i * K, B_PANEL(j, 0), C + (long)i * N + j, p, n);
        }
      }
#elif ORDER == 2
      const int GR = 16 * MB * G; /* rows per group */
#if PACKA == 2
      int primed = 0;
#endif
      for (int ig = ic; ig < ic + mrows; ig += GR) {
        const int iend = (ig + GR < ic + mrows) ? ig + GR : ic + mrows;
        for (int pc = 0; pc < K; pc += KC) {
          const int last = (pc + KC == K);
          /* the chunk after this one (same rows, next K block; or the next group at pc 0) and the
           * one after that: targets of the fused packing (PACKA 2) and of PFN */
          const int n1i = last ? ig + GR : ig, n1p = last ? 0 : pc + KC;
          const int has1 = n1i < ic + mrows;
          const int n2i = (n1p + KC == K) ? n1i + GR : n1i, n2p = (n1p + KC == K) ? 0 : n1p + KC;
#if PACKA == 1
          drain(&s);
          pack_a(Ap, A, ig, iend - ig, pc);
          BARRIER();
          const T *ap = Ap;
          const T *pfa = has1 ? A + (long)n1i * K + n1p : 0;
#elif PACKA == 3
          const int n1rows = (n1i + GR < ic + mrows) ? GR : ic + mrows - n1i;
          T *ap = Apw + (long)ig * K + (long)pc * (iend - ig);
          if (jc == 0) { /* first N panel: pack; later panels reuse the packed chunk */
            drain(&s);
            pack_a(ap, A, ig, iend - ig, pc);
            BARRIER();
          }
          const T *pfa = !has1 ? 0 : jc == 0 ? A + (long)n1i * K + n1p : Apw + (long)n1i * K + (long)n1p * n1rows;
#elif PACKA == 2
          if (!primed) { pack_a(Ap2[abuf], A, ig, iend - ig, pc); BARRIER(); primed = 1; }
          const T *ap = Ap2[abuf];
          const T *pfa = (n2i < ic + mrows) ? A + (long)n2i * K + n2p : 0;
          const int jrows = has1 ? ((n1i + GR < ic + mrows) ? GR : ic + mrows - n1i) : 0;
          const int units = jrows * KCT;
          const int nblk = (NC / (16 * NB)) * ((iend - ig + 16 * MB - 1) / (16 * MB));
          int bi = 0;
#else
          const T *ap = 0;
          const T *pfa = has1 ? A + (long)n1i * K + n1p : 0;
#endif
          (void)n2i; (void)n2p;
#if PFN == 2
          /* the next chunk's lines, spread evenly over this chunk's blocks: row-major A, or its
           * packed copy (PACKA 3 after the first N panel: one contiguous run) */
          const int n1r = !has1 ? 0 : (n1i + GR < ic + mrows) ? GR : ic + mrows - n1i;
          const int cpk = PACKA == 3 && jc > 0, lpr = KC * (int)sizeof(T) / 64;
#if PACKA == 3
          const char *spb = cpk ? (const char *)(Apw + (long)n1i * K + (long)n1p * n1r) : (const char *)(A + (long)n1i * K + n1p);
#else
          const char *spb = (const char *)(A + (long)n1i * K + n1p);
#endif
          const int slpr = cpk ? n1r * lpr : lpr, sl = n1r * lpr;
          const int nbk = (NC / (16 * NB)) * ((iend - ig + 16 * MB - 1) / (16 * MB));
          int bk = 0;
#endif
          for (int j = jc; j < jc + NC; j += 16 * NB)
            for (int i = ig; i < iend; i += 16 * MB) {
              const int mb = (i < ic + mfull) ? MB : 1;
              TO *cs = Cs + (long)(i - ig) * CSLD + (j - jc);
              /* PFN: during the first column strip, prefetch the same rows of the target chunk */
              const int pfp = PACKA == 3 && jc > 0; /* PFN target: the packed copy of the next chunk */
              blk_t d = mkblk(A, ap, ig, i, mb, pc, B_PANEL(j, pc), pc == 0 ? 0 : cs, CSLD,
                              last ? C + (long)i * N + j : cs, last ? N : CSLD, last,
                              (PFN == 1 && j == jc && pfa) ? pfa + (long)(i - ig) * (pfp ? KC : K) : 0);
              d.pfp = pfp;
#if PFN == 2
              if (sl) {
                d.sp = spb; d.sps = K * (long)sizeof(T); d.slpr = slpr;
                d.sq0 = bk * sl / nbk; d.sq1 = (bk + 1) * sl / nbk;
              }
              bk++;
#endif
#if PACKA == 2
              if (units) {
                d.js = A + (long)n1i * K + n1p; d.jd = Ap2[abuf ^ 1]; d.jrows = jrows;
                d.jq0 = bi * units / nblk; d.jq1 = (bi + 1) * units / nblk;
              }
              bi++;
#endif
              emit(&s, &d);
            }
#if PACKA == 2
          abuf ^= 1;
          primed = has1;
#endif
        }
      }
#else
      for (int pc = 0; pc < K; pc += KC) {
        const int first = (pc == 0), last = (pc + KC == K);
#if PACKA
        drain(&s);
        pack_a(Ap, A, ic, mrows, pc);
        BARRIER();
        const T *ap = Ap;
#else
        const T *ap = 0;
#endif
#define C_IN(i, j) (first ? 0 : C + (long)(i) * N + (j))
#if ORDER == 0
#if PACKB == 3
        int buf = 0;
        drain(&s);
        pack_b(B, pc, KCT, jc, GW, Bp[0]);
        BARRIER();
#endif
        for (int jg = jc; jg < jc + NC; jg += GW) {
#if PACKB == 1
#define B_STRIP(j) B_PANEL(j, pc)
#elif PACKB == 2
          drain(&s);
          pack_b(B, pc, KCT, jg, GW, Bp);
          BARRIER();
#define B_STRIP(j) (Bp + (long)((j) - jg) / (16 * NB) * KCT * BS)
#else
#define B_STRIP(j) (Bp[buf] + (long)((j) - jg) / (16 * NB) * KCT * BS)
          /* fused packing of the next group, spread evenly over this group's blocks */
          const int nblk = (mrows / (16 * MB) + (mfull < mrows)) * G;
          const int units = (jg + GW < jc + NC) ? (GW / 32) * UPS : 0;
          int bi = 0;
#endif
          for (int i = ic; i < ic + mrows; i += 16 * MB) {
            const int mb = (i < ic + mfull) ? MB : 1;
            for (int j = jg; j < jg + GW; j += 16 * NB) {
              blk_t d = mkblk(A, ap, ic, i, mb, pc, B_STRIP(j), C_IN(i, j), N, C + (long)i * N + j, N, last, 0);
#if PACKB == 3
              if (units) {
                d.js = B + (long)pc * N + jg + GW; d.jd = Bp[buf ^ 1];
                d.jq0 = bi * units / nblk; d.jq1 = (bi + 1) * units / nblk;
              }
              bi++;
#endif
              emit(&s, &d);
            }
          }
#if PACKB == 3
          buf ^= 1;
#endif
        }
#undef B_STRIP
#else /* ORDER 1 */
        const int ngr = (mrows + 16 * MB * G - 1) / (16 * MB * G);
        for (int gi = 0; gi < ngr; gi++) {
          /* MREV: row groups last to first (the end of C / A is the part most likely still cached
           * when the call starts, e.g. an output buffer that was just written) */
          const int ig = ic + (MREV ? ngr - 1 - gi : gi) * 16 * MB * G;
          const int iend = (ig + 16 * MB * G < ic + mrows) ? ig + 16 * MB * G : ic + mrows;
          for (int j = jc; j < jc + NC; j += 16 * NB)
            for (int i = ig; i < iend; i += 16 * MB) {
              const int mb = (i < ic + mfull) ? MB : 1;
              /* PFN: the first column strip prefetches the matching row strip of the next group
               * (in traversal order) */
              const int inext = MREV ? i - 16 * MB * G : i + 16 * MB * G;
              blk_t d = mkblk(A, ap, ic, i, mb, pc, B_PANEL(j, pc), C_IN(i, j), N, C + (long)i * N + j, N, last,
                              (PFN && j == jc && inext >= ic && inext < ic + mrows) ? A + (long)inext * K + pc : 0);
              emit(&s, &d);
            }
        }
#endif
#undef C_IN
        if (!last) { drain(&s); flush_c(&s.p); } /* the next K block reloads C */
      }
#endif
    }
  }
  drain(&s);
  flush_c(&s.p);
#if CNT == 1
  _mm_sfence();
#endif
  _tile_release();
}
