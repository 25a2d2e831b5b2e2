/* Parameterized single-core AMX bf16 GEMM:  C[M][N] (fp32) = A[M][K] (bf16) @ B[K][N] (bf16).
 *
 * A and B are plain row-major bf16 bit patterns; all packing happens inside the call (and is timed).
 *
 *   for jc in N step NC                          N panel
 *     [PACKB 1] pack B[:, jc:jc+NC] -> Bp        whole panel, VNNI pairs, tile-contiguous
 *     for ic in M step MC                        M block
 *       for pc in K step KC                      K block (C stays in tile registers when KC == K)
 *         [PACKA] pack A[ic:+MC, pc:+KC] -> Ap   tile-contiguous 1 KB tiles (row stride 64 B)
 *         ORDER 0: for each group of G column strips (16*NB columns each):
 *                    [PACKB 2] pack the group's KC x 16*NB*G slice of B into a small L1 buffer
 *                    [PACKB 3] same, but the NEXT group is packed inside the microkernels of the
 *                              current group (double buffer; AVX-512 work hidden under TMUL)
 *                    for each row strip (16*MB rows): for each strip of the group: microkernel
 *         ORDER 1: for each group of G row strips: for each column strip: for each row strip:
 *                    microkernel (the group's A stays in L1 while the B panel streams)
 *
 * Microkernel: MB x NB block of 16x16 fp32 C tiles (tmm0..3), A tiles tmm4..5, B tiles tmm6..7.
 * MB = NB = 2 gives one tile load per tdpbf16ps. If M is not a multiple of 16*MB (784 = 16*49)
 * the last row strip runs a 1 x NB block. Per k-step "side work" is interleaved with the tile
 * instructions: software prefetch of the A / B streams (distance PFA / PFB k-steps) into L1,
 * prefetchw of the C block (PFC), prefetch of the next row strip of A into L2 (PFN), and the
 * fused B packing of PACKB 3.
 *
 * Packed B layout (a "strip" = 16*NB columns): [strip][k-step][nb][kk 0..15][n 0..15][pair 0..1],
 * i.e. each k-step of a strip is NB contiguous 1 KB VNNI tiles. Packing uses AVX-512 vpermt2b.
 * Requirements: M % 16 == 0, N % 32 == 0, K % 32 == 0.
 */
#include <immintrin.h>
#include <stdint.h>

#define M 256 /* @param M */
#define N 256 /* @param N */
#define K 256 /* @param K */

#define MB 2 /* @knob values=1,2 menu="register blocking" */
#define NB 2 /* @knob values=1,2 menu="register blocking" */
#define KC 256 /* @knob values=64,128,256,512,1024,2048 menu="cache blocking" */
#define MC 16384 /* @knob values=32,64,128,256,512,1024,2048,4096,16384 menu="cache blocking" */
#define NC 256 /* @knob values=32,64,128,256,512,1024,2048 menu="cache blocking" */
#define ORDER 0 /* @knob values=0,1,2 menu="loop reordering" */
#define G 1 /* @knob values=1,2,4 menu="loop reordering" */
#define PACKA 0 /* @knob values=0,1 menu="packing into contiguous panels" */
#define PACKB 3 /* @knob values=1,2,3 menu="packing into contiguous panels" */
#define PIPE 1 /* @knob values=0,1 menu="software pipelining" */
#define NTA 0 /* @knob values=0,1 menu="cache blocking" */
#define NTB 0 /* @knob values=0,1 menu="cache blocking" */
#define PFA 0 /* @knob values=0,1,2,4 menu="software prefetching" */
#define PFB 0 /* @knob values=0,1,2,4 menu="software prefetching" */
#define PFC 0 /* @knob values=0,1 menu="software prefetching" */
#define PFN 0 /* @knob values=0,1 menu="software prefetching" */
#define CNT 0 /* @knob values=0,1 menu="software pipelining" */
#define PFP 8 /* @knob values=0,4,8,16 menu="software prefetching" */

/* @constraint M % 16 == 0 && N % 32 == 0 && K % 32 == 0 */
/* @constraint N % NC == 0 && K % KC == 0 */
/* @constraint NC % (16 * NB) == 0 */
/* @constraint MC % (16 * MB) == 0 */
/* @constraint MB * NB + MB + NB <= 8 */
/* @constraint PACKB == 1 || ORDER == 0 */
/* @constraint ORDER != 0 || NC % (16 * NB * G) == 0 */
/* @constraint PACKB == 1 || (NB * G) % 2 == 0 */
/* @constraint PFN == 0 || ORDER != 0 */

#define KSTEP 32          /* bf16 elements of K per tile dot product */
#define TE 512            /* elements per 1 KB tile (16 rows x 32 bf16) */
#define KT (K / KSTEP)    /* k-steps over the whole K */
#define KCT (KC / KSTEP)  /* k-steps per K block */
#define BS (NB * TE)      /* packed B elements per k-step of a strip */
#define GW (16 * NB * G)  /* columns per strip group (ORDER 0) */
#define MCE (MC < M ? MC : M)

#if (M % 16) || (N % 32) || (K % 32) || (N % NC) || (K % KC) || (NC % (16 * NB)) || (MC % (16 * MB))
#error "gemm_bf16: knob/param constraint violated"
#endif
#if PACKB != 1 && (ORDER != 0 || (NC % GW) || ((NB * G) % 2))
#error "gemm_bf16: PACKB 2/3 needs ORDER 0, NC % (16*NB*G) == 0 and an even NB*G"
#endif

typedef struct __attribute__((packed)) {
  uint8_t palette_id, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tilecfg_t;

#if PACKB == 1
static uint16_t Bp[(long)K * NC] __attribute__((aligned(64)));
#elif PACKB == 2
static uint16_t Bp[(long)KC * GW] __attribute__((aligned(64)));
#else
static uint16_t Bp[2][(long)KC * GW] __attribute__((aligned(64)));
#endif
#if PACKA && ORDER == 2
static uint16_t Ap[(long)16 * MB * G * KC] __attribute__((aligned(64)));
#elif PACKA
static uint16_t Ap[(long)MCE * KC] __attribute__((aligned(64)));
#endif
#if ORDER == 2
#define CSLD (NC + 16) /* padded row stride (floats) of the C scratch: not a power of two */
static float Cs[16 * MB * G * CSLD] __attribute__((aligned(64)));
#endif

#define BARRIER() __asm__ volatile("" ::: "memory")

/* ---------------------------------------------------------------------------------------------
 * B packing. One "pack step" interleaves two B rows (k, k+1) x 32 columns into two 64 B VNNI
 * rows: columns 0..15 go to tile jt0, 16..31 to tile jt1. */
static inline __attribute__((always_inline)) void pack_step(const uint16_t *r0, uint16_t *d0, uint16_t *d1) {
  /* byte-granular vpermt2b (1 uop) instead of vpermt2w (3 uops): output word w of the low half
   * is word w/2 of row k (w even) or of row k+1 (w odd); the high half is columns 16..31 */
  const __m512i lo = _mm512_set_epi8(
      95, 94, 31, 30, 93, 92, 29, 28, 91, 90, 27, 26, 89, 88, 25, 24, 87, 86, 23, 22, 85, 84, 21, 20,
      83, 82, 19, 18, 81, 80, 17, 16, 79, 78, 15, 14, 77, 76, 13, 12, 75, 74, 11, 10, 73, 72, 9, 8,
      71, 70, 7, 6, 69, 68, 5, 4, 67, 66, 3, 2, 65, 64, 1, 0);
  const __m512i hi = _mm512_add_epi8(lo, _mm512_set1_epi8(32));
  __m512i x0 = _mm512_loadu_si512(r0);
  __m512i x1 = _mm512_loadu_si512(r0 + N);
  _mm512_store_si512(d0, _mm512_permutex2var_epi8(x0, lo, x1));
  _mm512_store_si512(d1, _mm512_permutex2var_epi8(x0, hi, x1));
}

/* destination of 32-column group g, k-step kt, row kk inside a packed buffer of nkt k-steps */
#define PB_D0(dst, g, nkt, kt, kk) ((dst) + ((long)((2 * (g)) / NB * (nkt) + (kt)) * NB + (2 * (g)) % NB) * TE + (kk) * 32)
#define PB_D1(dst, g, nkt, kt, kk) ((dst) + ((long)((2 * (g) + 1) / NB * (nkt) + (kt)) * NB + (2 * (g) + 1) % NB) * TE + (kk) * 32)

/* pack B[k0 : k0 + 32*nkt, j0 : j0 + ncols] into dst; column group outer, k inner, so the
 * destination is written sequentially (a scattered order maps the stores to one L1 set) */
static inline __attribute__((always_inline)) void pack_b(const uint16_t *restrict B, int k0, int nkt, int j0,
                                                         int ncols, uint16_t *restrict dst) {
  for (int g = 0; g < ncols / 32; g++) {
    const uint16_t *src = B + (long)k0 * N + j0 + 32 * g;
    for (int kt = 0; kt < nkt; kt++)
      for (int kk = 0; kk < 16; kk++)
        pack_step(src + (long)(kt * 32 + 2 * kk) * N, PB_D0(dst, g, nkt, kt, kk), PB_D1(dst, g, nkt, kt, kk));
  }
}

#if PACKA
/* A packing of one M x KC block: strips of 16*mb rows, Ap[strip][kt][m][r][32] (1 KB tiles). */
static inline __attribute__((always_inline)) void pack_a(const uint16_t *restrict A, int ic, int mrows, int pc) {
  for (int s0 = 0; s0 < mrows; s0 += 16 * MB) {
    const int mb = (mrows - s0 >= 16 * MB) ? MB : 1;
    uint16_t *dst = Ap + (long)s0 * KC;
    for (int m = 0; m < mb; m++)
      for (int r = 0; r < 16; r++) {
        const uint16_t *src = A + (long)(ic + s0 + m * 16 + r) * K + pc;
        uint16_t *d = dst + m * TE + r * 32;
        for (int kt = 0; kt < KCT; kt++)
          _mm512_store_si512(d + (long)kt * mb * TE, _mm512_loadu_si512(src + kt * 32));
      }
  }
}
#endif

/* ---------------------------------------------------------------------------------------------
 * Side work done once per k-step inside the microkernel. */
typedef struct {
  const uint16_t *pfn; /* PFN: next row strip of A (L2), NULL if none */
  /* PACKB 3: fused packing of the next strip group: pack steps [q, qend), `rate` per k-step */
  const uint16_t *src; /* B + pc*N + first column of the next group */
  uint16_t *dst;       /* the other half of the double buffer */
  int q, qend, rate;
} side_t;


#define PF_L1(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define PF_L2(p) _mm_prefetch((const char *)(p), _MM_HINT_T1)

static inline __attribute__((always_inline)) void side(side_t *sd, int kt, int nk, int mb, const uint16_t *a,
                                                       long as, const uint16_t *b, float *c, long ldc) {
#if PFA
  { /* A stream: the tiles PFA k-steps ahead */
    if (kt + PFA < nk) {
#if PACKA
      const char *p = (const char *)(a + (long)(kt + PFA) * as);
      for (int l = 0; l < 16 * mb; l++) PF_L1(p + 64 * l);
#else
      const char *p = (const char *)(a + (long)(kt + PFA) * as);
      for (int l = 0; l < 16 * mb; l++) PF_L1(p + (long)l * K * 2);
#endif
    }
  }
#else
  (void)a; (void)as;
#endif
#if PFB
  { /* B stream (contiguous); past the end of the block it runs into the next strip */
    const char *p = (const char *)(b + (long)(kt + PFB) * BS);
    for (int l = 0; l < 16 * NB; l++) PF_L1(p + 64 * l);
  }
#else
  (void)b;
#endif
#if PFC
  { /* prefetchw of the C block, spread over the first k-steps */
    const int lines = 16 * mb * NB, per = (lines + nk - 1) / nk;
    for (int l = kt * per; l < (kt + 1) * per && l < lines; l++)
      _m_prefetchw((void *)(c + (long)(l / NB) * ldc + (l % NB) * 16));
  }
#else
  (void)c; (void)ldc;
#endif
#if PFN
  if (sd->pfn) { /* next row strip of A into L2 */
#if PACKA && ORDER != 2
    const char *p = (const char *)(sd->pfn + (long)kt * mb * TE);
    for (int l = 0; l < 16 * mb; l++) PF_L2(p + 64 * l);
#else
    const char *p = (const char *)(sd->pfn + (long)kt * KSTEP);
    for (int l = 0; l < 16 * mb; l++) PF_L2(p + (long)l * K * 2);
#endif
  }
#endif
#if PACKB == 3
  for (int r = 0; r < sd->rate && sd->q < sd->qend; r++, sd->q++) {
    const int q = sd->q, g = q / (KC / 2), kp = q % (KC / 2), kt2 = kp / 16, kk = kp % 16;
    if (PFP) { /* source rows of the pack step PFP steps ahead */
      const int qf = q + PFP, gf = qf / (KC / 2), kf = qf % (KC / 2);
      PF_L1(sd->src + (long)(2 * kf) * N + 32 * gf);
      PF_L1(sd->src + (long)(2 * kf + 1) * N + 32 * gf);
    }
    pack_step(sd->src + (long)(2 * kp) * N + 32 * g, PB_D0(sd->dst, g, KCT, kt2, kk), PB_D1(sd->dst, g, KCT, kt2, kk));
  }
#endif
  (void)sd; (void)kt; (void)nk; (void)mb;
}

/* NTA / NTB: load the streamed operand with tileloaddt1 (non-temporal hint) so it does not
 * evict the L1-resident operand */
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

/* ---------------------------------------------------------------------------------------------
 * Microkernel: mb (1 or 2, a literal after inlining) x NB tiles of C over nk k-steps.
 * a: A strip at k-step 0, a1: element offset of its second tile, lda: A row stride in bytes,
 * as: A elements per k-step; b: B strip at k-step 0; c: C block; first: zero C, else load it. */
static inline __attribute__((always_inline)) void mk(int mb, const uint16_t *a, long a1, long lda, long as,
                                                     const uint16_t *b, const float *ci, long ldi, float *c, long ldc,
                                                     int nk, side_t *sd) {
  if (!ci) {
    _tile_zero(0);
    if (NB == 2) _tile_zero(1);
    if (mb == 2) _tile_zero(2);
    if (mb == 2 && NB == 2) _tile_zero(3);
  } else {
    _tile_loadd(0, ci, ldi * 4);
    if (NB == 2) _tile_loadd(1, ci + 16, ldi * 4);
    if (mb == 2) _tile_loadd(2, ci + 16 * ldi, ldi * 4);
    if (mb == 2 && NB == 2) _tile_loadd(3, ci + 16 * ldi + 16, ldi * 4);
  }
#if PIPE
  /* loads for k-step kt+1 are issued as soon as the register they overwrite has been consumed */
  LOAD_A(4, a, lda);
  LOAD_B(6, b, 64);
  if (NB == 2) LOAD_B(7, b + TE, 64);
  if (mb == 2) LOAD_A(5, a + a1, lda);
  int kt = 0;
  for (; kt < nk - 1; kt++) {
    const uint16_t *an = a + (kt + 1) * as, *bn = b + (kt + 1) * BS;
    side(sd, kt, nk, mb, a, as, b, c, ldc);
    _tile_dpbf16ps(0, 4, 6);
    if (NB == 2) _tile_dpbf16ps(1, 4, 7);
    LOAD_A(4, an, lda);
    if (mb == 2) _tile_dpbf16ps(2, 5, 6);
    LOAD_B(6, bn, 64);
    if (mb == 2 && NB == 2) _tile_dpbf16ps(3, 5, 7);
    if (mb == 2) LOAD_A(5, an + a1, lda);
    if (NB == 2) LOAD_B(7, bn + TE, 64);
  }
  side(sd, kt, nk, mb, a, as, b, c, ldc);
  _tile_dpbf16ps(0, 4, 6);
  if (NB == 2) _tile_dpbf16ps(1, 4, 7);
  if (mb == 2) _tile_dpbf16ps(2, 5, 6);
  if (mb == 2 && NB == 2) _tile_dpbf16ps(3, 5, 7);
#else
  for (int kt = 0; kt < nk; kt++) {
    side(sd, kt, nk, mb, a, as, b, c, ldc);
    LOAD_A(4, a + kt * as, lda);
    LOAD_B(6, b + kt * BS, 64);
    _tile_dpbf16ps(0, 4, 6);
    if (NB == 2) { LOAD_B(7, b + kt * BS + TE, 64); _tile_dpbf16ps(1, 4, 7); }
    if (mb == 2) { LOAD_A(5, a + kt * as + a1, lda); _tile_dpbf16ps(2, 5, 6); }
    if (mb == 2 && NB == 2) _tile_dpbf16ps(3, 5, 7);
  }
#endif
#if CNT
  if (ldc == N) { /* final result: stage in L1, then non-temporal (streaming) stores, no RFO of C */
    static float st[4 * 256] __attribute__((aligned(64)));
    _tile_stored(0, st, 64);
    if (NB == 2) _tile_stored(1, st + 256, 64);
    if (mb == 2) _tile_stored(2, st + 512, 64);
    if (mb == 2 && NB == 2) _tile_stored(3, st + 768, 64);
    for (int r = 0; r < 16 * mb; r++)
      for (int n = 0; n < NB; n++)
        _mm512_stream_ps(c + (long)r * ldc + 16 * n, _mm512_load_ps(st + ((r >> 4) * 2 + n) * 256 + (r & 15) * 16));
    return;
  }
#endif
  _tile_stored(0, c, ldc * 4);
  if (NB == 2) _tile_stored(1, c + 16, ldc * 4);
  if (mb == 2) _tile_stored(2, c + 16 * ldc, ldc * 4);
  if (mb == 2 && NB == 2) _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
}

/* one register block: rows [i, i + 16*mb) (of Ap packed from row a0 when PACKA, else of A),
 * k-steps [pc, pc + KC); b: packed B strip of the block's columns at k-step pc;
 * ci/ldi: C input (NULL: start from zero), c/ldc: C output (row strides in floats) */
static inline __attribute__((always_inline)) void block(const uint16_t *restrict A, int a0, int i, int mb, int pc,
                                                        const uint16_t *b, const float *ci, long ldi, float *c,
                                                        long ldc, side_t *sd) {
#if PACKA
  const uint16_t *a = Ap + (long)(i - a0) * KC;
  const long lda = 64, as = (long)mb * TE, a1 = TE;
  (void)A; (void)pc;
#else
  const uint16_t *a = A + (long)i * K + pc;
  const long lda = K * 2, as = KSTEP, a1 = 16L * K;
  (void)a0;
#endif
  if (MB == 2 && mb == 2) mk(2, a, a1, lda, as, b, ci, ldi, c, ldc, KCT, sd);
  else mk(1, a, a1, lda, as, b, ci, ldi, c, ldc, KCT, sd);
}

void gemm(const uint16_t *restrict A, const uint16_t *restrict B, float *restrict C) {
  tilecfg_t cfg __attribute__((aligned(64)));
  __builtin_memset(&cfg, 0, sizeof cfg);
  cfg.palette_id = 1;
  for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
  _tile_loadconfig(&cfg);
  side_t sd;
  __builtin_memset(&sd, 0, sizeof sd);

  for (int jc = 0; jc < N; jc += NC) {
#if PACKB == 1
    pack_b(B, 0, KT, jc, NC, Bp);
    BARRIER();
#define B_PANEL(j, pc) (Bp + ((long)((j) - jc) / (16 * NB) * KT + (pc) / KSTEP) * BS)
#endif
    for (int ic = 0; ic < M; ic += MC) {
      const int mrows = (M - ic < MC) ? (M - ic) : MC;
      const int mfull = mrows - mrows % (16 * MB); /* rows covered by full MB blocks */
#if ORDER == 2
      /* C-panel resident: for each group of G row strips the K loop runs inside, and partial
       * sums of the strip x NC panel live in the L1 scratch Cs (padded rows) between K blocks */
      for (int ig = ic; ig < ic + mrows; ig += 16 * MB * G) {
        const int iend = (ig + 16 * MB * G < ic + mrows) ? ig + 16 * MB * G : ic + mrows;
        for (int pc = 0; pc < K; pc += KC) {
#if PACKA
          pack_a(A, ig, iend - ig, pc);
          BARRIER();
#endif
          for (int j = jc; j < jc + NC; j += 16 * NB)
            for (int i = ig; i < iend; i += 16 * MB) {
              const int mb = (i < ic + mfull) ? MB : 1;
              float *cs = Cs + (long)(i - ig) * CSLD + (j - jc);
              const int last = (pc + KC == K);
              /* PFN: the first column strip prefetches this strip's next K block (or the next group) */
              const uint16_t *nx = (pc + KC < K) ? A + (long)i * K + pc + KC
                                   : (i + 16 * MB * G < ic + mrows) ? A + (long)(i + 16 * MB * G) * K : 0;
              sd.pfn = (PFN && j == jc) ? nx : 0;
              block(A, ig, i, mb, pc, B_PANEL(j, pc), pc == 0 ? 0 : cs, CSLD,
                    last ? C + (long)i * N + j : cs, last ? N : CSLD, &sd);
            }
        }
      }
#else
      for (int pc = 0; pc < K; pc += KC) {
        const int first = (pc == 0);
#if PACKA
        pack_a(A, ic, mrows, pc);
        BARRIER();
#define A_STRIP(i) (Ap + (long)((i) - ic) * KC)
#else
#define A_STRIP(i) (A + (long)(i) * K + pc)
#endif
#define C_IN(i, j) (first ? 0 : C + (long)(i) * N + (j))
#if ORDER == 0
#if PACKB == 3
        int buf = 0;
        pack_b(B, pc, KCT, jc, GW, Bp[0]);
        BARRIER();
#endif
        for (int jg = jc; jg < jc + NC; jg += GW) {
#if PACKB == 1
#define B_STRIP(j) B_PANEL(j, pc)
#elif PACKB == 2
          pack_b(B, pc, KCT, jg, GW, Bp);
          BARRIER();
#define B_STRIP(j) (Bp + (long)((j) - jg) / (16 * NB) * KCT * BS)
#else
#define B_STRIP(j) (Bp[buf] + (long)((j) - jg) / (16 * NB) * KCT * BS)
          { /* fused packing of the next group, spread evenly over this group's k-steps */
            const int nblk = (mrows / (16 * MB) + (mfull < mrows)) * G;
            sd.q = 0;
            sd.qend = (jg + GW < jc + NC) ? (GW / 32) * (KC / 2) : 0;
            sd.rate = (sd.qend + nblk * KCT - 1) / (nblk * KCT);
            sd.src = B + (long)pc * N + jg + GW;
            sd.dst = Bp[buf ^ 1];
          }
#endif
          for (int i = ic; i < ic + mrows; i += 16 * MB) {
            const int mb = (i < ic + mfull) ? MB : 1;
            for (int j = jg; j < jg + GW; j += 16 * NB)
              block(A, ic, i, mb, pc, B_STRIP(j), C_IN(i, j), N, C + (long)i * N + j, N, &sd);
          }
#if PACKB == 3
          buf ^= 1;
          BARRIER();
#endif
        }
#undef B_STRIP
#else /* ORDER 1 */
        for (int ig = ic; ig < ic + mrows; ig += 16 * MB * G) {
          const int iend = (ig + 16 * MB * G < ic + mrows) ? ig + 16 * MB * G : ic + mrows;
          for (int j = jc; j < jc + NC; j += 16 * NB)
            for (int i = ig; i < iend; i += 16 * MB) {
              const int mb = (i < ic + mfull) ? MB : 1;
              /* PFN: the first column strip prefetches the matching row strip of the next group */
              const int inext = i + 16 * MB * G;
              sd.pfn = (PFN && j == jc && inext < ic + mrows) ? A_STRIP(inext) : 0;
              block(A, ic, i, mb, pc, B_PANEL(j, pc), C_IN(i, j), N, C + (long)i * N + j, N, &sd);
            }
        }
#endif
#undef A_STRIP
#undef C_IN
      }
#endif
    }
  }
#if CNT
  _mm_sfence();
#endif
  _tile_release();
}
