/*
 * functional.c — the functional half of autocomp's clean-room Gemmini emulator.
 *
 * gemu_rocc() decodes every instruction exactly as the hardware encodes it (docs/gemmini-spec.md §4), checks
 * it strictly (docs/gemmini-spec.md §7: every misuse is a precise, fatal error naming the instruction, the
 * field and the fix), executes it on the emulated scratchpad / accumulator / DRAM, and hands
 * each primitive to the timing model (timing.c) as a gemu_op_t. The loop FSMs are expanded:
 * loop_ws into the primitive stream Spike would execute (each primitive executed here),
 * loop_conv_ws computed directly as a convolution plus an equivalent primitive stream for
 * timing only.
 *
 * Semantics choices that make bugs visible (see docs/gemmini-spec.md §2, §5, §7):
 *  - local memories persist across calls and start as deterministic pseudo-random garbage,
 *    so a forgotten accumulator clear or a never-written row gives a wrong answer;
 *  - mvout writes reach DRAM only at the next fence (or the harness's final fence), so a
 *    kernel that reads its own mvout results without a fence sees stale data; a mvin of such
 *    bytes is an error;
 *  - out-of-range rows are errors (the RTL wraps, Spike crashes).
 *
 * Written from docs/gemmini-spec.md only.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "gemmini_params.h"
#include "gemu.h"

#ifndef GEMU_LINT_ERROR
#define GEMU_LINT_ERROR 0
#endif

#define SPAD_ROWS GEMU_SPAD_ROWS
#define ADDR_ACC (1u << 31)
#define ADDR_ACCUMULATE (1u << 30)
#define ADDR_FULL_ROW (1u << 29)
#define ADDR_NORM (7u << 26)
#define ADDR_ROW_MASK ((1u << 26) - 1)
#define GARBAGE 0xFFFFFFFFu

#define F_CONFIG 0
#define F_MVIN2 1
#define F_MVIN 2
#define F_MVOUT 3
#define F_COMPUTE_PRELOADED 4
#define F_COMPUTE_ACCUMULATED 5
#define F_PRELOAD 6
#define F_FLUSH 7
#define F_LOOP_WS 8
#define F_MVIN3 14
#define F_LOOP_CONV_WS 15
#define F_COUNTER 126
#define F_FENCE 127 /* ours: gemmini_fence() */

typedef unsigned long long ull;

/* ------------------------------------------------------------------ state */

static elem_t spad[SPAD_ROWS][DIM];
static acc_t accm[ACC_ROWS][DIM];
static uint8_t spad_written[SPAD_ROWS], acc_written[ACC_ROWS]; /* ever written (lint) */
static uint8_t spad_used[SPAD_ROWS], acc_used[ACC_ROWS];       /* written in this region */

typedef struct {
  int set;
  uint64_t stride; /* DRAM row stride, bytes */
  float scale;
  int shrunk;
  uint32_t block_stride;
  uint32_t pixel_repeats;
} ld_cfg_t;

/* Execute parameters of one compute: from config_ex for CPU-issued computes, fixed by the
 * FSM for expanded ones. */
typedef struct {
  int dataflow; /* 0 OS, 1 WS */
  int act;
  int a_t, b_t;
  uint32_t a_stride, c_stride;
  uint32_t sys_shift;
} ex_cfg_t;

static struct {
  int inited;
  int ex_set;
  ex_cfg_t ex;
  float acc_scale_ex;
  ld_cfg_t ld[3];
  int st_set;
  uint64_t st_stride;
  int st_act;
  float st_scale;
  /* the last preload */
  int pl_valid, pl_fresh;
  uint32_t pl_b, pl_c;
  uint32_t pl_b_cols, pl_b_rows, pl_c_cols, pl_c_rows;
  /* weights held in the array (WS) / PE accumulators (OS) */
  int w_valid;
  acc_t W[DIM][DIM];
  acc_t os_acc[DIM][DIM];
  /* loop registers */
  uint64_t lw[5][2];
  uint32_t lw_count;
  uint64_t cv[6][2];
} S;

static gemu_stats_t st;
static uint64_t garbage_b_preloads;

/* Instruction context for messages. */
static uint64_t call_index;   /* RoCC calls since autocomp_metrics_begin (or process start) */
static const char *cur_name = "";
static char cur_sub[160];     /* "expanded mvin of A block (i=0, k=1)" inside a loop FSM */

/* ------------------------------------------------------------------ messages */

static void print_context(FILE *f) {
  if (!cur_name[0]) return;
  fprintf(f, "%s (instruction #%llu of this call", cur_name, (ull)call_index);
  if (cur_sub[0]) fprintf(f, ", %s", cur_sub);
  fprintf(f, "): ");
}

void gemu_error(const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "gemmini: error: ");
  print_context(stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  fflush(stderr);
  _exit(70);
}

void gemu_warn(const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "gemmini: warning: ");
  print_context(stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n");
  fflush(stderr);
}

enum { W_GARBAGE_A, W_GARBAGE_B, W_LINT, W_NO_PRELOAD, W_SPAD_FLAGS, W_COUNT };
static uint8_t warned[W_COUNT];
#define WARN_ONCE(id, ...)          \
  do {                              \
    if (!warned[id]) {              \
      warned[id] = 1;               \
      gemu_warn(__VA_ARGS__);       \
    }                               \
  } while (0)

/* ------------------------------------------------------------------ coverage counter */

uint64_t gemu_bb_count;
/* Candidate code (and library.c) is compiled with -fsanitize-coverage=trace-pc: every basic
 * block calls this. The timing model charges CPU cycles per basic block. */
void __sanitizer_cov_trace_pc(void) { gemu_bb_count++; }

/* ------------------------------------------------------------------ numerics (§3) */

static inline float f32_of_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

#if GEMU_FLOAT
static inline elem_t scale_to_elem(acc_t x, float scale) { return (elem_t)(x * scale); }
static inline acc_t relu(acc_t x) { return x > 0 ? x : 0; }
static inline elem_t sat_elem(acc_t x) { return (elem_t)x; }
#else
/* Round half to even without libm: adding and subtracting 2^23 rounds in the default
 * (round-to-nearest-even) mode; valid for |x| < 2^23, larger floats are integers already. */
static inline float rne(float x) {
  float ax = x < 0 ? -x : x;
  if (!(ax < 8388608.0f)) return x;
  float big = x < 0 ? -8388608.0f : 8388608.0f;
  volatile float t = x + big; /* volatile: keep the rounding step even under reassociation */
  return t - big;
}
/* acc -> elem and the spad mvin scale: round_half_even((float)x * scale), saturate. */
static inline elem_t scale_to_elem(acc_t x, float scale) {
  float v = (float)x * scale;
  if (v != v) return 0;
  if (v >= 127.0f) return 127;
  if (v <= -128.0f) return -128;
  return (elem_t)(int)rne(v);
}
static inline acc_t relu(acc_t x) { return x > 0 ? x : 0; }
static inline elem_t sat_elem(acc_t x) { return (elem_t)(x > elem_t_max ? elem_t_max : x < elem_t_min ? elem_t_min : x); }
#endif

/* OS output: rounding (half to even) right shift, then saturation. */
static inline acc_t os_shift(acc_t x, uint32_t shift) {
#if GEMU_FLOAT
  (void)shift;
  return x;
#else
  if (shift == 0) return x;
  if (shift > 31) shift = 31;
  int64_t v = x, q = v >> shift, rem = v - (q << shift), half = (int64_t)1 << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return (acc_t)q;
#endif
}

/* ------------------------------------------------------------------ garbage initialisation */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Memories power up with deterministic junk, never zeros: reading a row before writing it
 * must give a wrong answer, as on hardware. */
static void init_once(void) {
  if (S.inited) return;
  S.inited = 1;
  for (int r = 0; r < SPAD_ROWS; r++)
    for (int c = 0; c < DIM; c++) {
#if GEMU_FLOAT
      spad[r][c] = (float)((int)(rng() % 8192) - 4096) / 64.0f;
#else
      spad[r][c] = (elem_t)rng();
#endif
    }
  for (int r = 0; r < ACC_ROWS; r++)
    for (int c = 0; c < DIM; c++) {
#if GEMU_FLOAT
      accm[r][c] = (float)((int)(rng() % 8192) - 4096) / 16.0f;
#else
      accm[r][c] = (acc_t)(rng() % (1u << 21)) - (1 << 20);
#endif
    }
  gemu_timing_reset();
}

/* ------------------------------------------------------------------ deferred DRAM writes */

/* A mvout's bytes are queued and written at the next fence. Dirty 64-byte lines are kept in
 * an open-addressing table (line -> byte mask) so a mvin can be checked in O(1) per line. */
typedef struct {
  uint64_t addr;
  uint32_t len;
  size_t off;
} pw_t;
static pw_t *pw;
static size_t pw_n, pw_cap;
static uint8_t *pw_data;
static size_t pw_dn, pw_dcap;
static uint64_t pw_lo = UINT64_MAX, pw_hi;

typedef struct {
  uint64_t line, mask;
  uint32_t gen;
} dl_t;
static dl_t *dl;
static size_t dl_cap, dl_n;
static uint32_t dl_gen = 1;

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) gemu_error("out of host memory for pending mvout data (%zu bytes)", n);
  return q;
}

static dl_t *dl_slot(uint64_t line, int insert) {
  if (insert && (dl_n + 1) * 2 > dl_cap) {
    size_t ncap = dl_cap ? dl_cap * 2 : 4096;
    dl_t *old = dl;
    size_t ocap = dl_cap;
    dl = calloc(ncap, sizeof *dl);
    if (!dl) gemu_error("out of host memory for pending mvout tracking");
    dl_cap = ncap;
    dl_n = 0;
    for (size_t i = 0; i < ocap; i++)
      if (old[i].gen == dl_gen) {
        dl_t *s = dl_slot(old[i].line, 1);
        *s = old[i];
      }
    free(old);
  }
  if (!dl_cap) return NULL;
  size_t h = (size_t)((line * 0x9E3779B97F4A7C15ull) >> 20) & (dl_cap - 1);
  for (;;) {
    dl_t *s = &dl[h];
    if (s->gen != dl_gen) {
      if (!insert) return NULL;
      s->gen = dl_gen;
      s->line = line;
      s->mask = 0;
      dl_n++;
      return s;
    }
    if (s->line == line) return s;
    h = (h + 1) & (dl_cap - 1);
  }
}

static inline uint64_t line_mask(uint64_t lo, uint64_t hi, uint64_t line) {
  /* bytes [lo, hi) restricted to line `line` */
  uint64_t a = line << 6, b = a + 64;
  uint64_t s = lo > a ? lo - a : 0, e = (hi < b ? hi : b) - a;
  uint64_t m = (e - s == 64) ? ~0ull : (((1ull << (e - s)) - 1) << s);
  return m;
}

static void pending_write(uint64_t addr, const void *data, uint32_t len) {
  if (pw_n == pw_cap) {
    pw_cap = pw_cap ? pw_cap * 2 : 1024;
    pw = xrealloc(pw, pw_cap * sizeof *pw);
  }
  if (pw_dn + len > pw_dcap) {
    while (pw_dn + len > pw_dcap) pw_dcap = pw_dcap ? pw_dcap * 2 : 65536;
    pw_data = xrealloc(pw_data, pw_dcap);
  }
  memcpy(pw_data + pw_dn, data, len);
  pw[pw_n++] = (pw_t){addr, len, pw_dn};
  pw_dn += len;
  if (addr < pw_lo) pw_lo = addr;
  if (addr + len > pw_hi) pw_hi = addr + len;
  for (uint64_t l = addr >> 6; l <= (addr + len - 1) >> 6; l++) dl_slot(l, 1)->mask |= line_mask(addr, addr + len, l);
}

/* Does [addr, addr+len) overlap bytes written by a not yet fenced mvout? */
static int pending_overlaps(uint64_t addr, uint64_t len) {
  if (pw_n == 0 || len == 0 || addr + len <= pw_lo || addr >= pw_hi) return 0;
  for (uint64_t l = addr >> 6; l <= (addr + len - 1) >> 6; l++) {
    dl_t *s = dl_slot(l, 0);
    if (s && (s->mask & line_mask(addr, addr + len, l))) return 1;
  }
  return 0;
}

static void check_dram_read(uint64_t addr, uint64_t len, const char *what) {
  if (pending_overlaps(addr, len))
    gemu_error("%s reads DRAM bytes 0x%llx..0x%llx written by an earlier mvout with no fence in between; "
               "mvout data reaches DRAM only after a fence: call gemmini_fence() first",
               what, (ull)addr, (ull)(addr + len - 1));
}

/* The fence: every queued mvout reaches DRAM, in program order. */
static void commit_pending(void) {
  for (size_t i = 0; i < pw_n; i++) memcpy((void *)(uintptr_t)pw[i].addr, pw_data + pw[i].off, pw[i].len);
  pw_n = 0;
  pw_dn = 0;
  pw_lo = UINT64_MAX;
  pw_hi = 0;
  dl_n = 0;
  dl_gen++;
  if (dl_gen == 0) { /* wrapped: stale slots could look valid */
    memset(dl, 0, dl_cap * sizeof *dl);
    dl_gen = 1;
  }
}

/* ------------------------------------------------------------------ local addresses */

typedef struct {
  int garbage, acc, accumulate, full;
  uint32_t row;
} laddr_t;

static laddr_t decode_addr(uint32_t a, const char *what) {
  laddr_t l = {0};
  if (a == GARBAGE) {
    l.garbage = 1;
    return l;
  }
  if (a & ADDR_NORM)
    gemu_error("%s address 0x%08x has bits 28:26 set (a normalisation command, unsupported); did a row "
               "index overflow into the flag bits? Local addresses are row indices; the accumulator is "
               "1<<31 (| 1<<30 to accumulate, | 1<<29 for full rows)",
               what, a);
  l.acc = (a >> 31) & 1;
  l.accumulate = (a >> 30) & 1;
  l.full = (a >> 29) & 1;
  l.row = a & ADDR_ROW_MASK;
  if (!l.acc && (l.accumulate || l.full))
    WARN_ONCE(W_SPAD_FLAGS, "%s address 0x%08x is a scratchpad address with accumulator flag bits 30/29 set; "
                            "they are ignored for the scratchpad (did you forget bit 31?)",
              what, a);
  return l;
}

/* Error unless rows [l->row, last] exist. */
static void check_range(const laddr_t *l, uint64_t last, const char *what) {
  uint64_t n = l->acc ? ACC_ROWS : SPAD_ROWS;
  if (last >= n)
    gemu_error("%s rows %u..%llu are beyond the %s (%llu rows, valid rows 0..%llu); the hardware would "
               "wrap around, this emulator refuses: keep row + extent within the memory",
               what, l->row, (ull)last, l->acc ? "accumulator" : "scratchpad", (ull)n, (ull)(n - 1));
}

/* Rows the FSM fills in the timing-only stream of loop_conv_ws: used, but not holding data. */
static void mark_used(int acc, uint32_t row) {
  uint8_t *u = acc ? &acc_used[row] : &spad_used[row];
  if (!*u) {
    *u = 1;
    if (acc) st.acc_rows_used++;
    else st.spad_rows_used++;
  }
}

static void mark_written(int acc, uint32_t row) {
  if (acc) {
    if (!acc_used[row]) {
      acc_used[row] = 1;
      st.acc_rows_used++;
    }
    acc_written[row] = 1;
  } else {
    if (!spad_used[row]) {
      spad_used[row] = 1;
      st.spad_rows_used++;
    }
    spad_written[row] = 1;
  }
}

/* Lint (docs/gemmini-spec.md §7.8): a read of a row never written since power-up reads garbage. */
static void lint_read(int acc, uint32_t row, const char *what) {
  if (acc ? acc_written[row] : spad_written[row]) return;
  st.lint_unwritten_reads++;
#if GEMU_LINT_ERROR
  gemu_error("%s reads %s row %u, which was never written: it holds garbage; load (mvin) it first",
             what, acc ? "accumulator" : "scratchpad", row);
#else
  WARN_ONCE(W_LINT, "%s reads %s row %u, which was never written: it holds garbage (further such reads are "
                    "counted in lint_unwritten_reads, not reported)",
            what, acc ? "accumulator" : "scratchpad", row);
#endif
}

/* ------------------------------------------------------------------ timing hand-off */

static void issue(gemu_op_t *op) {
  st.instructions++;
  st.macs += op->macs;
  gemu_timing_issue(op);
}

static gemu_rows_t rows_of(int acc, uint32_t first, uint32_t count) {
  gemu_rows_t r = {first, count, acc};
  return r;
}

static uint32_t requests_for(uint64_t addr, uint64_t len) {
  return len ? (uint32_t)(((addr + len - 1) >> 6) - (addr >> 6) + 1) : 0;
}

/* ------------------------------------------------------------------ mvin / mvout (§5.4, §5.5) */

static const char *mvin_name(int id) { return id == 0 ? "mvin" : id == 1 ? "mvin2" : "mvin3"; }
static const uint32_t mvin_funct[3] = {F_MVIN, F_MVIN2, F_MVIN3};

static void check_rows_cols(const char *what, uint32_t rows, uint32_t cols, uint32_t max_cols, const char *why) {
  if (rows == 0 || cols == 0)
    gemu_error("%s has rows = %u, cols = %u: it moves nothing, which is almost certainly a bug (arguments are "
               "(..., cols, rows))",
               what, rows, cols);
  if (rows > DIM)
    gemu_error("%s rows = %u exceeds DIM = %d; one instruction covers at most DIM rows (note the argument order "
               "is cols before rows)",
               what, rows, DIM);
  if (cols > max_cols)
    gemu_error("%s cols = %u exceeds the limit of %u (%s); split it into several instructions", what, cols,
               max_cols, why);
}

/* shrunk: -1 = take it from the config_ld register set; 0/1 = forced (loop_ws low_D). */
static void do_mvin(int id, uint64_t dram, uint32_t laddr, uint32_t cols, uint32_t rows, int from_fsm, int shrunk) {
  const char *name = mvin_name(id);
  ld_cfg_t *c = &S.ld[id];
  if (!c->set)
    gemu_error("%s uses config_ld register set %d, which was never configured; call config_ld(stride, scale, "
               "block_stride, %d) (or gemmini_extended3_config_ld(stride, scale, false, %d)) first",
               name, id, id, id);
  laddr_t l = decode_addr(laddr, "destination");
  if (l.garbage) gemu_error("%s destination is GARBAGE_ADDR (0xFFFFFFFF); give a scratchpad or accumulator row", name);
  check_rows_cols(name, rows, cols, l.acc ? GEMU_MVIN_ACC_MAX_COLS : GEMU_MVIN_SPAD_MAX_COLS,
                  l.acc ? "accumulator: one DMA request of MAX_BYTES" : "scratchpad: MAX_BLOCK_LEN blocks of DIM");
  if (dram != 0 && dram < 4096)
    gemu_error("%s DRAM address 0x%llx is not a valid pointer (0 means zero-fill); are the DRAM and local "
               "address arguments swapped?",
               name, (ull)dram);
  uint32_t nblocks = (cols + DIM - 1) / DIM, bs = c->block_stride;
  uint64_t extent = (uint64_t)rows + (uint64_t)(nblocks - 1) * bs;
  check_range(&l, l.row + extent - 1, "destination");
  int sh = shrunk >= 0 ? shrunk : c->shrunk;
  size_t esize = (l.acc && !sh) ? sizeof(acc_t) : sizeof(elem_t);
  uint64_t rbytes = (uint64_t)cols * esize;
  uint32_t reqs = 0;
  if (dram)
    for (uint32_t r = 0; r < rows; r++) {
      check_dram_read(dram + r * c->stride, rbytes, name);
      reqs += requests_for(dram + r * c->stride, rbytes);
    }
  float scale = c->scale;
  for (uint32_t r = 0; r < rows; r++) {
    const uint8_t *src = (const uint8_t *)(uintptr_t)(dram + r * c->stride);
    for (uint32_t b = 0; b < nblocks; b++) {
      uint32_t row = l.row + r + b * bs, c0 = b * DIM, n = cols - c0 < DIM ? cols - c0 : DIM;
      if (!l.acc) {
        for (uint32_t j = 0; j < n; j++) {
          elem_t x = 0;
          if (dram) memcpy(&x, src + (c0 + j) * esize, sizeof x);
#if GEMU_FLOAT
          spad[row][j] = x * scale;
#else
          spad[row][j] = scale == 1.0f ? x : scale_to_elem(x, scale);
#endif
        }
      } else {
        if (l.accumulate) lint_read(1, row, name);
        for (uint32_t j = 0; j < n; j++) {
          acc_t x = 0;
          if (dram) {
            if (esize == sizeof(acc_t)) {
              memcpy(&x, src + (c0 + j) * esize, sizeof x);
            } else {
              elem_t e;
              memcpy(&e, src + (c0 + j) * esize, sizeof e);
              x = (acc_t)e;
            }
          }
#if GEMU_FLOAT
          x = x * scale; /* fp32: the acc mvin is scaled too (docs/gemmini-spec.md §1) */
#endif
          accm[row][j] = l.accumulate ? accm[row][j] + x : x;
        }
      }
      mark_written(l.acc, row);
    }
  }
  gemu_op_t op = {0};
  op.funct = mvin_funct[id];
  op.queue = GEMU_Q_LD;
  op.from_fsm = from_fsm;
  op.rows = rows;
  op.cols = cols;
  op.dst[0] = rows_of(l.acc, l.row, (uint32_t)extent);
  op.dram_bytes = dram ? rows * rbytes : 0;
  op.dram_requests = reqs;
  op.zero_fill = dram == 0;
  op.scaled = !l.acc || GEMU_FLOAT;
  st.dram_bytes_read += op.dram_bytes;
  issue(&op);
}

static void do_mvout(uint64_t dram, uint32_t laddr, uint32_t cols, uint32_t rows, int from_fsm, int act) {
  if (!S.st_set)
    gemu_error("mvout before any config_st: the DRAM row stride and scale are unset; call config_st(stride) first");
  laddr_t l = decode_addr(laddr, "source");
  if (l.garbage) gemu_error("mvout source is GARBAGE_ADDR (0xFFFFFFFF); give a scratchpad or accumulator row");
  check_rows_cols("mvout", rows, cols, l.acc ? GEMU_MVOUT_ACC_MAX_COLS : GEMU_MVOUT_SPAD_MAX_COLS,
                  l.acc ? "from the accumulator: DIM" : "from the scratchpad: MAX_BLOCK_LEN blocks of DIM");
  if (dram == 0)
    gemu_error("mvout to DRAM address 0 (a null pointer); pass the output buffer address");
  if (dram < 4096)
    gemu_error("mvout DRAM address 0x%llx is not a valid pointer; are the DRAM and local address arguments swapped?",
               (ull)dram);
  uint32_t nblocks = l.acc ? 1 : (cols + DIM - 1) / DIM;
  uint64_t extent = (uint64_t)rows + (uint64_t)(nblocks - 1) * DIM;
  check_range(&l, l.row + extent - 1, "source");
  int full = l.acc && l.full;
  size_t osize = full ? sizeof(acc_t) : sizeof(elem_t);
  uint8_t buf[GEMU_MVOUT_SPAD_MAX_COLS * sizeof(acc_t) + GEMU_MVOUT_ACC_MAX_COLS * sizeof(acc_t)];
  uint32_t reqs = 0;
  for (uint32_t r = 0; r < rows; r++) {
    if (l.acc) {
      uint32_t row = l.row + r;
      lint_read(1, row, "mvout");
      for (uint32_t j = 0; j < cols; j++) {
        acc_t x = accm[row][j];
        if (full) {
          memcpy(buf + j * osize, &x, sizeof x);
        } else {
          elem_t e = scale_to_elem(x, S.st_scale);
          if (act == 1) e = (elem_t)relu((acc_t)e);
          memcpy(buf + j * osize, &e, sizeof e);
        }
      }
    } else {
      for (uint32_t b = 0; b < nblocks; b++) {
        uint32_t row = l.row + r + b * DIM, c0 = b * DIM, n = cols - c0 < DIM ? cols - c0 : DIM;
        lint_read(0, row, "mvout");
        memcpy(buf + c0 * osize, spad[row], n * osize);
      }
    }
    uint64_t a = dram + r * S.st_stride;
    pending_write(a, buf, (uint32_t)(cols * osize));
    reqs += requests_for(a, cols * osize);
  }
  gemu_op_t op = {0};
  op.funct = F_MVOUT;
  op.queue = GEMU_Q_ST;
  op.from_fsm = from_fsm;
  op.rows = rows;
  op.cols = cols;
  op.src[0] = rows_of(l.acc, l.row, (uint32_t)extent);
  op.dram_bytes = (uint64_t)rows * cols * osize;
  op.dram_requests = reqs;
  op.scaled = l.acc && !full;
  st.dram_bytes_written += op.dram_bytes;
  issue(&op);
}

/* ------------------------------------------------------------------ preload / compute (§5.6) */

static void check_exec_operand(const char *name, const char *opnd, uint32_t rows, uint32_t cols) {
  if (rows > DIM || cols > DIM)
    gemu_error("%s %s is %u rows x %u cols; both must be <= DIM = %d (arguments are (..., cols, rows))", name, opnd,
               rows, cols, DIM);
  if (rows == 0 || cols == 0)
    gemu_error("%s %s has rows = %u, cols = %u; a non-garbage operand needs at least one row and column", name,
               opnd, rows, cols);
}

static void do_preload(uint32_t b, uint32_t b_cols, uint32_t b_rows, uint32_t c, uint32_t c_cols, uint32_t c_rows,
                       int from_fsm, uint32_t c_stride) {
  laddr_t lb = decode_addr(b, "preload B/D"), lc = decode_addr(c, "preload C");
  if (!lb.garbage) {
    check_exec_operand("preload", "B/D", b_rows, b_cols);
    if (lb.acc)
      gemu_error("preload B/D at accumulator address 0x%08x: operands read from the accumulator are not supported "
                 "(Spike rejects them); mvin B into the scratchpad",
                 b);
    check_range(&lb, (uint64_t)lb.row + b_rows - 1, "preload B/D");
  }
  if (!lc.garbage) check_exec_operand("preload", "C", c_rows, c_cols);
  S.pl_valid = 1;
  S.pl_fresh = 1;
  S.pl_b = b;
  S.pl_c = c;
  S.pl_b_cols = b_cols;
  S.pl_b_rows = b_rows;
  S.pl_c_cols = c_cols;
  S.pl_c_rows = c_rows;
  gemu_op_t op = {0};
  op.funct = F_PRELOAD;
  op.queue = GEMU_Q_EX;
  op.from_fsm = from_fsm;
  op.is_preload = 1;
  op.rows = lb.garbage ? 0 : b_rows;
  op.cols = lb.garbage ? 0 : b_cols;
  if (!lb.garbage) op.src[0] = rows_of(0, lb.row, b_rows);
  if (!lc.garbage) op.dst[0] = rows_of(lc.acc, lc.row, (c_rows - 1) * c_stride + 1);
  op.b_rows = lb.garbage ? 0 : b_rows;
  issue(&op);
}

/* Load a rows x cols block from the scratchpad (row i at base + stride*i), zero-padded to
 * DIM x DIM, optionally transposed. */
static void load_block(acc_t out[DIM][DIM], uint32_t base, uint32_t stride, uint32_t rows, uint32_t cols, int transpose,
                       const char *what) {
  acc_t tmp[DIM][DIM];
  memset(tmp, 0, sizeof tmp);
  for (uint32_t i = 0; i < rows; i++) {
    uint32_t row = base + stride * i;
    lint_read(0, row, what);
    for (uint32_t k = 0; k < cols; k++) tmp[i][k] = (acc_t)spad[row][k];
  }
  if (!transpose) {
    memcpy(out, tmp, sizeof tmp);
  } else {
    for (int i = 0; i < DIM; i++)
      for (int k = 0; k < DIM; k++) out[i][k] = tmp[k][i];
  }
}

/* out[i] = D[i] + A[i] * W for the first n rows: the array's work, written so the compiler
 * vectorises the j loop (DIM is a compile-time constant). */
static void matmul_block(acc_t out[DIM][DIM], const acc_t A[DIM][DIM], const acc_t Wm[DIM][DIM], int n) {
  for (int i = 0; i < n; i++) {
    acc_t o[DIM];
    for (int j = 0; j < DIM; j++) o[j] = out[i][j];
    for (int k = 0; k < DIM; k++) {
      acc_t a = A[i][k];
      if (a == 0) continue;
      for (int j = 0; j < DIM; j++) o[j] += a * Wm[k][j];
    }
    for (int j = 0; j < DIM; j++) out[i][j] = o[j];
  }
}

static void write_output(const acc_t out[DIM][DIM], const laddr_t *lc, const ex_cfg_t *ex, const char *name, int os) {
  uint32_t rows = S.pl_c_rows, cols = S.pl_c_cols;
  check_range(lc, (uint64_t)lc->row + (uint64_t)ex->c_stride * (rows - 1), "output C");
  for (uint32_t i = 0; i < rows; i++) {
    uint32_t row = lc->row + ex->c_stride * i;
    if (lc->acc) {
      if (lc->accumulate) {
        lint_read(1, row, name);
        for (uint32_t j = 0; j < cols; j++) accm[row][j] += out[i][j];
      } else {
        for (uint32_t j = 0; j < cols; j++) accm[row][j] = out[i][j];
      }
    } else {
      for (uint32_t j = 0; j < cols; j++) {
        acc_t v = os ? os_shift(out[i][j], ex->sys_shift) : out[i][j];
        elem_t e = sat_elem(v);
        if (ex->act == 1) e = (elem_t)relu((acc_t)e);
        spad[row][j] = e;
      }
    }
    mark_written(lc->acc, row);
  }
}

static void do_compute(int preloaded, uint32_t a, uint32_t a_cols, uint32_t a_rows, uint32_t bd, uint32_t bd_cols,
                       uint32_t bd_rows, int from_fsm, const ex_cfg_t *ex) {
  const char *name = preloaded ? "compute_preloaded" : "compute_accumulated";
  if (!S.pl_valid)
    gemu_error("%s without any earlier preload: the output address C is unknown; issue preload(B, C, ...) first", name);
  if (!S.pl_fresh)
    WARN_ONCE(W_NO_PRELOAD, "%s follows another compute without its own preload; it reuses that preload's C address "
                            "(0x%08x). Issue preload(GARBAGE_ADDR, C, ...) before each compute",
              name, S.pl_c);
  S.pl_fresh = 0;
  laddr_t la = decode_addr(a, "A"), lbd = decode_addr(bd, ex->dataflow ? "bias D" : "B");
  laddr_t lc = decode_addr(S.pl_c, "preload C");
  if (la.garbage) {
    WARN_ONCE(W_GARBAGE_A, "%s with A = GARBAGE_ADDR: A is undefined on hardware; treated as zeros", name);
  } else {
    check_exec_operand(name, "A", a_rows, a_cols);
    if (la.acc)
      gemu_error("%s A at accumulator address 0x%08x: operands read from the accumulator are not supported "
                 "(Spike rejects them); mvin A into the scratchpad",
                 name, a);
    check_range(&la, (uint64_t)la.row + (uint64_t)ex->a_stride * (a_rows - 1), "A");
  }
  if (!lbd.garbage) {
    check_exec_operand(name, ex->dataflow ? "bias D" : "B", bd_rows, bd_cols);
    if (lbd.acc)
      gemu_error("%s %s at accumulator address 0x%08x: accumulator-resident operands are not supported (Spike "
                 "rejects them); mvin it into the scratchpad, or mvin the bias into the accumulator C rows instead",
                 name, ex->dataflow ? "bias D" : "B", bd);
    check_range(&lbd, (uint64_t)lbd.row + bd_rows - 1, ex->dataflow ? "bias D" : "B");
  }
  acc_t A[DIM][DIM], out[DIM][DIM];
  if (la.garbage) memset(A, 0, sizeof A);
  else load_block(A, la.row, ex->a_stride, a_rows, a_cols, ex->a_t, name);

  if (ex->dataflow == 1) { /* weight stationary */
    if (preloaded) {
      laddr_t lb = decode_addr(S.pl_b, "preload B");
      if (lb.garbage) {
        memset(S.W, 0, sizeof S.W);
        garbage_b_preloads++;
        WARN_ONCE(W_GARBAGE_B, "compute_preloaded with GARBAGE B loads zero weights; use compute_accumulated to keep "
                               "the previous weights");
      } else {
        load_block(S.W, lb.row, 1, S.pl_b_rows, S.pl_b_cols, ex->b_t, name);
      }
      S.w_valid = 1;
    } else if (!S.w_valid) {
      gemu_error("compute_accumulated before any compute_preloaded: the array holds no weights; use "
                 "compute_preloaded with the preloaded B first");
    }
    if (lbd.garbage) memset(out, 0, sizeof out);
    else load_block(out, lbd.row, 1, bd_rows, bd_cols, 0, name);
    if (!lc.garbage) {
      matmul_block(out, A, S.W, (int)S.pl_c_rows);
      write_output(out, &lc, ex, name, 0);
    }
  } else { /* output stationary: D preloaded into the PEs, B streams with A */
    acc_t B[DIM][DIM];
    if (lbd.garbage) memset(B, 0, sizeof B);
    else load_block(B, lbd.row, 1, bd_rows, bd_cols, ex->b_t, name);
    if (preloaded) {
      laddr_t ld = decode_addr(S.pl_b, "preload D");
      if (ld.garbage) memset(S.os_acc, 0, sizeof S.os_acc);
      else load_block(S.os_acc, ld.row, 1, S.pl_b_rows, S.pl_b_cols, 0, name);
    }
    matmul_block(S.os_acc, A, B, DIM);
    if (!lc.garbage) write_output(S.os_acc, &lc, ex, name, 1);
  }

  gemu_op_t op = {0};
  op.funct = preloaded ? F_COMPUTE_PRELOADED : F_COMPUTE_ACCUMULATED;
  op.queue = GEMU_Q_EX;
  op.from_fsm = from_fsm;
  op.is_compute = 1;
  op.preloaded = preloaded;
  op.rows = la.garbage ? DIM : a_rows;
  op.cols = la.garbage ? DIM : a_cols;
  if (!la.garbage) op.src[0] = rows_of(0, la.row, (a_rows - 1) * ex->a_stride + 1);
  if (!lbd.garbage) op.src[1] = rows_of(0, lbd.row, bd_rows);
  if (!lc.garbage) op.dst[0] = rows_of(lc.acc, lc.row, (S.pl_c_rows - 1) * ex->c_stride + 1);
  {
    laddr_t lb = decode_addr(S.pl_b, "preload B");
    op.b_rows = (preloaded && !lb.garbage) ? S.pl_b_rows : 0;
  }
  op.macs = (uint64_t)op.rows * op.cols * S.pl_c_cols;
  issue(&op);
}

/* ------------------------------------------------------------------ configuration (§5.1-5.3) */

static void do_config(uint64_t rs1, uint64_t rs2) {
  gemu_op_t op = {0};
  op.funct = F_CONFIG;
  op.config_kind = rs1 & 3;
  switch (rs1 & 3) {
  case 0: { /* config_ex */
    cur_name = "config_ex";
    int dataflow = (rs1 >> 2) & 1, act = (rs1 >> 3) & 3, only_strides = (rs1 >> 7) & 1;
    int a_t = (rs1 >> 8) & 1, b_t = (rs1 >> 9) & 1;
    S.ex.a_stride = (rs1 >> 16) & 0xFFFF;
    S.ex.c_stride = (rs2 >> 48) & 0xFFFF;
    if (!only_strides) {
      if (dataflow == 1 && a_t && b_t)
        gemu_error("weight-stationary dataflow with both A and B transposed is illegal; transpose one operand in "
                   "DRAM instead");
      if (dataflow == 0 && b_t && !a_t)
        gemu_error("output-stationary dataflow with only B transposed is illegal; use weight-stationary or "
                   "transpose B in DRAM");
      if (act > 1)
        gemu_error("activation %d (LAYERNORM/IGELU/SOFTMAX) is not supported by this emulator; use NO_ACTIVATION (0) "
                   "or RELU (1)",
                   act);
      S.ex.dataflow = dataflow;
      S.ex.act = act;
      S.ex.a_t = a_t;
      S.ex.b_t = b_t;
      S.ex.sys_shift = (uint32_t)rs2;
      S.acc_scale_ex = f32_of_bits((uint32_t)(rs1 >> 32));
      S.ex_set = 1;
    }
    op.queue = GEMU_Q_EX;
    break;
  }
  case 1: { /* config_ld */
    cur_name = "config_ld";
    int id = (rs1 >> 3) & 3;
    if (id == 3)
      gemu_error("config_ld register set id = 3 does not exist; ids are 0 (mvin), 1 (mvin2), 2 (mvin3)");
    ld_cfg_t *c = &S.ld[id];
    c->set = 1;
    c->stride = rs2;
    c->shrunk = (rs1 >> 2) & 1;
    c->pixel_repeats = (rs1 >> 8) & 0xFF;
    c->block_stride = (rs1 >> 16) & 0xFFFF;
    c->scale = f32_of_bits((uint32_t)(rs1 >> 32));
    op.queue = GEMU_Q_LD;
    break;
  }
  case 2: { /* config_st */
    cur_name = "config_st";
    int act = (rs1 >> 2) & 3, pool_stride = (rs1 >> 4) & 3;
    if (pool_stride)
      gemu_error("config_st with pooling (pool stride %d) is not supported by this emulator; pass pool stride 0",
                 pool_stride);
    if (act > 1)
      gemu_error("config_st activation %d is not supported; use NO_ACTIVATION (0) or RELU (1)", act);
    S.st_set = 1;
    S.st_stride = (uint32_t)rs2;
    S.st_scale = f32_of_bits((uint32_t)(rs2 >> 32));
    S.st_act = act;
    op.queue = GEMU_Q_ST;
    break;
  }
  default: /* config_norm: accepted, ignored */
    cur_name = "config_norm";
    op.queue = GEMU_Q_ST;
    break;
  }
  issue(&op);
}

/* ------------------------------------------------------------------ loop_ws (§5.8) */

static void do_loop_ws(uint64_t rs1, uint64_t rs2) {
  uint32_t I = S.lw[0][1] & 0xFFFF, J = (S.lw[0][1] >> 16) & 0xFFFF, K = (S.lw[0][1] >> 32) & 0xFFFF;
  uint32_t pI = S.lw[0][0] & 0xFFFF, pJ = (S.lw[0][0] >> 16) & 0xFFFF, pK = (S.lw[0][0] >> 32) & 0xFFFF;
  uint64_t A = S.lw[1][0], B = S.lw[1][1], D = S.lw[2][0], C = S.lw[2][1];
  uint64_t sA = S.lw[3][0], sB = S.lw[3][1], sD = S.lw[4][0], sC = S.lw[4][1];
  int ex_acc = rs1 & 1, full_C = (rs1 >> 1) & 1, low_D = (rs1 >> 2) & 1, act = (rs1 >> 8) & 0x7F;
  int b_id = (rs1 >> 16) & 3, a_id = (rs1 >> 18) & 3;
  int a_t = rs2 & 1, b_t = (rs2 >> 1) & 1, resadd = (rs2 >> 2) & 1;
  (void)sC;
  (void)sD;

  if (I == 0 || J == 0 || K == 0)
    gemu_error("loop_ws with I = %u, J = %u, K = %u blocks: every bound must be >= 1 (bounds count DIM-blocks)", I, J, K);
  if (pI >= DIM || pJ >= DIM || pK >= DIM)
    gemu_error("loop_ws padding pad_I = %u, pad_J = %u, pad_K = %u: each must be < DIM = %d (elements missing from "
               "the last block)",
               pI, pJ, pK, DIM);
  if ((uint64_t)(I * K + K * J) * DIM > SPAD_ROWS / 2)
    gemu_error("loop_ws needs (I*K + K*J)*DIM = %llu scratchpad rows but at most spad_rows/2 = %d fit (the FSM "
               "double-buffers); use smaller tiles (I=%u, J=%u, K=%u blocks)",
               (ull)(I * K + K * J) * DIM, SPAD_ROWS / 2, I, J, K);
  if ((uint64_t)I * J * DIM > ACC_ROWS / 2)
    gemu_error("loop_ws needs I*J*DIM = %llu accumulator rows but at most acc_rows/2 = %d fit; use smaller I or J "
               "(I=%u, J=%u blocks)",
               (ull)I * J * DIM, ACC_ROWS / 2, I, J);
  if (a_t && b_t) gemu_error("loop_ws with both A and B transposed is illegal in weight-stationary mode");
  if (resadd) gemu_error("loop_ws residual-add mode (is_resadd) is not supported by this emulator");
  if (act > 1) gemu_error("loop_ws activation %d is not supported; use NO_ACTIVATION (0) or RELU (1)", act);
  if (a_id > 2 || b_id > 2) gemu_error("loop_ws spad ids a = %d, b = %d: each must be 0, 1 or 2", a_id, b_id);
  if (!A && a_id == 0)
    gemu_error("loop_ws with A = NULL reuses A from an earlier loop, which needs a_spad_id 1 or 2 (not 0)");
  if (!B && b_id == 0)
    gemu_error("loop_ws with B = NULL reuses B from an earlier loop, which needs b_spad_id 1 or 2 (not 0)");
  if (C && !S.st_set)
    gemu_error("loop_ws stores C with the current config_st, but config_st was never issued; call config_st(stride) "
               "first");

  /* Placement (docs/gemmini-spec.md §5.8):
   *  - scratchpad: A from the start of a spad half, B packed to end at the end of that half;
   *    spad id 0 alternates halves between loops (so the next loop's loads overlap this loop's
   *    computes), 1/2 pin half 0/1 (so a NULL A or B reuses an earlier loop's data).
   *  - accumulator: C/D always from accumulator row 0, so partial sums carry over between
   *    loops (ex_accumulate) and the next loop's computes wait for this loop's stores of the
   *    same rows. (We tried alternating accumulator halves too: it hides every store, puts
   *    large FSM GEMMs at 99.5-99.9% utilisation, above FireSim's 86-96%, and fits the DOSA
   *    FireSim cycles no better; see docs/gemmini-timing.md.) */
  uint32_t half = SPAD_ROWS / 2, parity = S.lw_count++ & 1;
  uint32_t a_base = (a_id ? (uint32_t)(a_id - 1) : parity) * half;
  uint32_t b_base = ((b_id ? (uint32_t)(b_id - 1) : parity) + 1) * half - K * J * DIM;
  const uint32_t acc_base = ADDR_ACC;
  const ex_cfg_t ex = {1, 0, a_t, b_t, 1, 1, 0};
  size_t d_size = low_D ? sizeof(elem_t) : sizeof(acc_t), c_size = full_C ? sizeof(acc_t) : sizeof(elem_t);
  int out_act = act ? act : S.st_act;
#define ROWS_I(i) ((i) == I - 1 ? DIM - pI : DIM)
#define ROWS_J(j) ((j) == J - 1 ? DIM - pJ : DIM)
#define ROWS_K(k) ((k) == K - 1 ? DIM - pK : DIM)

  if (D) /* bias into the C rows of the accumulator (overwrite) */
    for (uint32_t i = 0; i < I; i++)
      for (uint32_t j = 0; j < J; j++) {
        snprintf(cur_sub, sizeof cur_sub, "expanded mvin3 of D block (i=%u, j=%u)", i, j);
        do_mvin(2, D + ((uint64_t)i * DIM * sD + (uint64_t)j * DIM) * d_size, acc_base + (i * J + j) * DIM,
                ROWS_J(j), ROWS_I(i), 1, low_D);
      }
  for (uint32_t k = 0; k < K; k++)
    for (uint32_t j = 0; j < J; j++)
      for (uint32_t i = 0; i < I; i++) {
        uint32_t a_sp = a_base + (i * K + k) * DIM, b_sp = b_base + (k * J + j) * DIM;
        uint32_t a_rows = a_t ? ROWS_K(k) : ROWS_I(i), a_cols = a_t ? ROWS_I(i) : ROWS_K(k);
        uint32_t b_rows = b_t ? ROWS_J(j) : ROWS_K(k), b_cols = b_t ? ROWS_K(k) : ROWS_J(j);
        if (j == 0 && A) {
          snprintf(cur_sub, sizeof cur_sub, "expanded mvin of A block (i=%u, k=%u)", i, k);
          uint64_t off = a_t ? (uint64_t)k * DIM * sA + (uint64_t)i * DIM : (uint64_t)i * DIM * sA + (uint64_t)k * DIM;
          do_mvin(0, A + off * sizeof(elem_t), a_sp, a_cols, a_rows, 1, -1);
        }
        if (i == 0 && B) {
          snprintf(cur_sub, sizeof cur_sub, "expanded mvin2 of B block (k=%u, j=%u)", k, j);
          uint64_t off = b_t ? (uint64_t)j * DIM * sB + (uint64_t)k * DIM : (uint64_t)k * DIM * sB + (uint64_t)j * DIM;
          do_mvin(1, B + off * sizeof(elem_t), b_sp, b_cols, b_rows, 1, -1);
        }
        int accumulate = k > 0 || ex_acc || D;
        uint32_t c_sp = (acc_base + (i * J + j) * DIM) | (accumulate ? ADDR_ACCUMULATE : 0);
        snprintf(cur_sub, sizeof cur_sub, "expanded preload/compute of block (i=%u, j=%u, k=%u)", i, j, k);
        if (i == 0) {
          do_preload(b_sp, b_cols, b_rows, c_sp, ROWS_J(j), ROWS_I(i), 1, 1);
          do_compute(1, a_sp, a_cols, a_rows, GARBAGE, DIM, DIM, 1, &ex);
        } else {
          do_preload(GARBAGE, DIM, DIM, c_sp, ROWS_J(j), ROWS_I(i), 1, 1);
          do_compute(0, a_sp, a_cols, a_rows, GARBAGE, DIM, DIM, 1, &ex);
        }
        if (k == K - 1 && C) {
          snprintf(cur_sub, sizeof cur_sub, "expanded mvout of C block (i=%u, j=%u)", i, j);
          do_mvout(C + ((uint64_t)i * DIM * sC + (uint64_t)j * DIM) * c_size,
                   (acc_base + (i * J + j) * DIM) | (full_C ? ADDR_FULL_ROW : 0), ROWS_J(j), ROWS_I(i), 1, out_act);
        }
      }
#undef ROWS_I
#undef ROWS_J
#undef ROWS_K
  cur_sub[0] = 0;
}

/* ------------------------------------------------------------------ loop_conv_ws (§5.9) */

#define F16(x, sh) ((uint32_t)(((x) >> (sh)) & 0xFFFF))
#define F8(x, sh) ((uint32_t)(((x) >> (sh)) & 0xFF))
#define F4(x, sh) ((uint32_t)(((x) >> (sh)) & 0xF))

static uint32_t ceil_div_u(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

static void do_loop_conv_ws(uint64_t rs1, uint64_t rs2) {
  (void)rs2;
  uint64_t c1a = S.cv[0][0], c1b = S.cv[0][1], c2a = S.cv[1][0], c2b = S.cv[1][1], c3a = S.cv[2][0],
           c3b = S.cv[2][1], c4a = S.cv[3][0];
  uint32_t in_rows_dim = F16(c1a, 16), in_cols_dim = F16(c1a, 32), in_ch = F16(c1a, 48);
  uint32_t out_rows_dim = F16(c1b, 16), out_cols_dim = F16(c1b, 32);
  uint32_t stride = F8(c2a, 16), kdim = F8(c2a, 32), dil = F8(c2a, 40), pool_size = F8(c2a, 48),
           pool_stride = F4(c2a, 56);
  uint32_t batches = F16(c2b, 0), pochs = F16(c2b, 48);
  uint32_t krows = F16(c3a, 0), kcols = F16(c3a, 16), kchs = F16(c3a, 32), orows = F16(c3a, 48);
  uint32_t ocols = F16(c3b, 0), lpad = F8(c3b, 16), rpad = F8(c3b, 24), upad = F8(c3b, 32), dpad = F8(c3b, 40);
  uint32_t in_stride = F16(c4a, 0), w_stride = F16(c4a, 16), out_stride = F16(c4a, 32);
  uint64_t weights = S.cv[4][0], output = S.cv[4][1], bias = S.cv[5][0], input = S.cv[5][1];
  int no_bias = rs1 & 1, no_pool = (rs1 >> 7) & 1, act = (rs1 >> 10) & 3;
  int a_id = (rs1 >> 16) & 3;
  (void)in_rows_dim;
  if (dil == 0) dil = 1;

  if (rs1 & 0x37E)
    gemu_error("loop_conv_ws flags 0x%llx request wrot180, transposes, depthwise, downsample or input dilation; "
               "none is supported by this emulator (clear flag bits 1-6, 8, 9)",
               (ull)(rs1 & 0x37E));
  if (!no_pool && (pool_size > 1 || pool_stride > 1))
    gemu_error("loop_conv_ws pooling (pool_size %u, pool_stride %u) is not supported; pass no_pool = true", pool_size,
               pool_stride);
  if (act > 1) gemu_error("loop_conv_ws activation %d is not supported; use NO_ACTIVATION (0) or RELU (1)", act);
  if (!batches || !orows || !ocols || !pochs || !krows || !kcols || !kchs || !stride)
    gemu_error("loop_conv_ws tile has a zero size (batches %u, orows %u, ocols %u, pochs %u, krows %u, kcols %u, "
               "kchs %u, stride %u); every one must be >= 1",
               batches, orows, ocols, pochs, krows, kcols, kchs, stride);
  if (!in_stride || !w_stride || !input || !weights)
    gemu_error("loop_conv_ws needs input and weights addresses and non-zero in_stride / weight_stride (got input "
               "0x%llx, weights 0x%llx, in_stride %u, weight_stride %u)",
               (ull)input, (ull)weights, in_stride, w_stride);
  if (output && !out_stride) gemu_error("loop_conv_ws output given with out_stride = 0");
  if (output && !S.st_set)
    gemu_error("loop_conv_ws stores its output with the current config_st, but config_st was never issued");
  uint32_t irows = (orows - 1) * stride + (krows - 1) * dil + 1, icols = (ocols - 1) * stride + (kcols - 1) * dil + 1;
  if (upad + dpad > irows || lpad + rpad > icols)
    gemu_error("loop_conv_ws paddings (u %u, d %u, l %u, r %u) exceed the tile's %u x %u input window", upad, dpad,
               lpad, rpad, irows, icols);
  uint32_t kb_n = ceil_div_u(kchs, DIM), ob_n = ceil_div_u(pochs, DIM);
  uint64_t npix = (uint64_t)batches * orows * ocols;
  uint64_t in_rows_sp = (uint64_t)batches * irows * icols * kb_n, w_rows_sp = (uint64_t)krows * kcols * kchs * ob_n;
  if (in_rows_sp + w_rows_sp > SPAD_ROWS / 2)
    gemu_error("loop_conv_ws tile needs %llu scratchpad rows (input %llu + weights %llu) but at most spad_rows/2 = %d "
               "fit; use smaller tiles",
               (ull)(in_rows_sp + w_rows_sp), (ull)in_rows_sp, (ull)w_rows_sp, SPAD_ROWS / 2);
  if (npix * ob_n > ACC_ROWS / 2)
    gemu_error("loop_conv_ws tile needs batches*orows*ocols*ceil(pochs/DIM) = %llu accumulator rows but at most "
               "acc_rows/2 = %d fit; use smaller tiles",
               (ull)(npix * ob_n), ACC_ROWS / 2);

  /* ---- functional: a direct convolution into the accumulator rows of the tile ---- */
  /* acc row of (output pixel p, och block ob) = ob*npix + p */
  uint32_t icols_real = icols - lpad - rpad, irows_real = irows - upad - dpad;
  for (uint32_t b = 0; b < batches; b++)
    for (uint32_t r = 0; r < irows_real; r++) {
      uint64_t a = input + (((uint64_t)b * in_rows_dim + r) * in_cols_dim) * in_stride * sizeof(elem_t);
      if (icols_real)
        check_dram_read(a, ((uint64_t)(icols_real - 1) * in_stride + kchs) * sizeof(elem_t), "loop_conv_ws input");
    }
  for (uint32_t kr = 0; kr < krows; kr++)
    for (uint32_t kc = 0; kc < kcols; kc++) {
      uint64_t a = weights + ((uint64_t)(kr * kdim + kc) * in_ch) * w_stride * sizeof(elem_t);
      check_dram_read(a, ((uint64_t)(kchs - 1) * w_stride + pochs) * sizeof(elem_t), "loop_conv_ws weights");
    }
  if (bias && !no_bias) check_dram_read(bias, (uint64_t)pochs * sizeof(acc_t), "loop_conv_ws bias");

  acc_t *tmp = malloc(sizeof(acc_t) * pochs);
  elem_t *obuf = malloc(sizeof(elem_t) * pochs);
  if (!tmp || !obuf) gemu_error("out of host memory");
  const elem_t *in = (const elem_t *)(uintptr_t)input, *w = (const elem_t *)(uintptr_t)weights;
  for (uint32_t b = 0; b < batches; b++)
    for (uint32_t orow = 0; orow < orows; orow++)
      for (uint32_t ocol = 0; ocol < ocols; ocol++) {
        uint64_t p = ((uint64_t)b * orows + orow) * ocols + ocol;
        if (bias) {
          for (uint32_t o = 0; o < pochs; o++) {
            acc_t v = 0;
            if (!no_bias) memcpy(&v, (const uint8_t *)(uintptr_t)bias + o * sizeof(acc_t), sizeof v);
            tmp[o] = v;
          }
        } else {
          for (uint32_t o = 0; o < pochs; o++) {
            uint32_t row = (uint32_t)((o / DIM) * npix + p);
            lint_read(1, row, "loop_conv_ws");
            tmp[o] = accm[row][o % DIM];
          }
        }
        for (uint32_t kr = 0; kr < krows; kr++) {
          uint32_t ir = orow * stride + kr * dil;
          if (ir < upad || ir >= irows - dpad) continue; /* zero padding */
          for (uint32_t kc = 0; kc < kcols; kc++) {
            uint32_t ic = ocol * stride + kc * dil;
            if (ic < lpad || ic >= icols - rpad) continue;
            const elem_t *px = in + (((uint64_t)b * in_rows_dim + (ir - upad)) * in_cols_dim + (ic - lpad)) * in_stride;
            const elem_t *wk = w + ((uint64_t)(kr * kdim + kc) * in_ch) * w_stride;
            for (uint32_t ch = 0; ch < kchs; ch++) {
              acc_t x = (acc_t)px[ch];
              if (x == 0) continue;
              const elem_t *wr = wk + (uint64_t)ch * w_stride;
              for (uint32_t o = 0; o < pochs; o++) tmp[o] += x * (acc_t)wr[o];
            }
          }
        }
        for (uint32_t o = 0; o < pochs; o++) {
          uint32_t row = (uint32_t)((o / DIM) * npix + p);
          accm[row][o % DIM] = tmp[o];
          if (o % DIM == 0) mark_written(1, row);
        }
        if (output) {
          int oact = act ? act : S.st_act;
          for (uint32_t o = 0; o < pochs; o++) {
            elem_t e = scale_to_elem(tmp[o], S.st_scale);
            obuf[o] = oact == 1 ? (elem_t)relu((acc_t)e) : e;
          }
          pending_write(output + (((uint64_t)b * out_rows_dim + orow) * out_cols_dim + ocol) * out_stride * sizeof(elem_t),
                        obuf, (uint32_t)(pochs * sizeof(elem_t)));
          st.dram_bytes_written += pochs * sizeof(elem_t);
        }
      }
  free(tmp);
  free(obuf);

  /* ---- timing: the equivalent primitive stream (not executed; the result is above) ---- */
  uint32_t sp_base = (a_id == 2 ? 1u : a_id == 1 ? 0u : (S.lw_count++ & 1)) * (SPAD_ROWS / 2);
  uint32_t w_base = sp_base + (uint32_t)in_rows_sp;
#define IN_ROW(kb, b, ir, ic) (sp_base + (uint32_t)((((uint64_t)(kb) * batches + (b)) * irows + (ir)) * icols + (ic)))
  /* bias broadcast into the accumulator */
  if (bias)
    for (uint32_t ob = 0; ob < ob_n; ob++) {
      uint32_t oc = pochs - ob * DIM < DIM ? pochs - ob * DIM : DIM;
      for (uint64_t p0 = 0; p0 < npix; p0 += DIM) {
        uint32_t n = (uint32_t)(npix - p0 < DIM ? npix - p0 : DIM);
        gemu_op_t op = {0};
        op.funct = F_MVIN3;
        op.queue = GEMU_Q_LD;
        op.from_fsm = 1;
        op.rows = n;
        op.cols = oc;
        op.dst[0] = rows_of(1, (uint32_t)(ob * npix + p0), n);
        op.zero_fill = no_bias;
        op.dram_bytes = no_bias ? 0 : (uint64_t)n * oc * sizeof(acc_t);
        op.dram_requests = no_bias ? 0 : n * ceil_div_u(oc * sizeof(acc_t), 64);
        st.dram_bytes_read += op.dram_bytes;
        issue(&op);
      }
    }
  uint8_t *loaded = calloc((size_t)kb_n * batches * irows, 1);
  if (!loaded) gemu_error("out of host memory");
  for (uint32_t ob = 0; ob < ob_n; ob++) {
    uint32_t oc = pochs - ob * DIM < DIM ? pochs - ob * DIM : DIM;
    for (uint32_t kr = 0; kr < krows; kr++)
      for (uint32_t kc = 0; kc < kcols; kc++)
        for (uint32_t kb = 0; kb < kb_n; kb++) {
          uint32_t kn = kchs - kb * DIM < DIM ? kchs - kb * DIM : DIM;
          uint32_t w_row = w_base + (uint32_t)((((uint64_t)ob * krows + kr) * kcols + kc) * kchs + kb * DIM);
          gemu_op_t wl = {0};
          wl.funct = F_MVIN2;
          wl.queue = GEMU_Q_LD;
          wl.from_fsm = 1;
          wl.rows = kn;
          wl.cols = oc;
          wl.dst[0] = rows_of(0, w_row, kn);
          wl.dram_bytes = (uint64_t)kn * oc * sizeof(elem_t);
          wl.dram_requests = kn * ceil_div_u(oc * sizeof(elem_t), 64);
          wl.scaled = 1;
          st.dram_bytes_read += wl.dram_bytes;
          issue(&wl);
          for (uint32_t r = w_row; r < w_row + kn; r++) mark_used(0, r);
          int first = 1;
          for (uint32_t b = 0; b < batches; b++)
            for (uint32_t orow = 0; orow < orows; orow++) {
              uint32_t ir = orow * stride + kr * dil;
              uint8_t *ld = &loaded[((size_t)kb * batches + b) * irows + ir];
              if (!*ld) { /* the input row, first use: mvin it in chunks of DIM pixels */
                *ld = 1;
                int padrow = ir < upad || ir >= irows - dpad;
                for (uint32_t c0 = 0; c0 < icols; c0 += DIM) {
                  uint32_t n = icols - c0 < DIM ? icols - c0 : DIM, real = 0;
                  for (uint32_t c = c0; c < c0 + n; c++) real += !padrow && c >= lpad && c < icols - rpad;
                  gemu_op_t il = {0};
                  il.funct = F_MVIN;
                  il.queue = GEMU_Q_LD;
                  il.from_fsm = 1;
                  il.rows = n;
                  il.cols = kn;
                  il.dst[0] = rows_of(0, IN_ROW(kb, b, ir, c0), n);
                  il.zero_fill = real == 0;
                  il.dram_bytes = (uint64_t)real * kn * sizeof(elem_t);
                  il.dram_requests = real * ceil_div_u(kn * sizeof(elem_t), 64);
                  il.scaled = 1;
                  st.dram_bytes_read += il.dram_bytes;
                  issue(&il);
                  for (uint32_t r = 0; r < n; r++) {
                    uint32_t row = IN_ROW(kb, b, ir, c0 + r);
                    mark_used(0, row);
                  }
                }
              }
              for (uint32_t o0 = 0; o0 < ocols; o0 += DIM) {
                uint32_t n = ocols - o0 < DIM ? ocols - o0 : DIM;
                uint32_t c_row = (uint32_t)(ob * npix + ((uint64_t)b * orows + orow) * ocols + o0);
                gemu_op_t pl = {0};
                pl.funct = F_PRELOAD;
                pl.queue = GEMU_Q_EX;
                pl.from_fsm = 1;
                pl.is_preload = 1;
                pl.rows = first ? kn : 0;
                pl.cols = first ? oc : 0;
                if (first) pl.src[0] = rows_of(0, w_row, kn);
                pl.dst[0] = rows_of(1, c_row, n);
                pl.b_rows = first ? kn : 0;
                issue(&pl);
                gemu_op_t cp = {0};
                cp.funct = first ? F_COMPUTE_PRELOADED : F_COMPUTE_ACCUMULATED;
                cp.queue = GEMU_Q_EX;
                cp.from_fsm = 1;
                cp.is_compute = 1;
                cp.preloaded = first;
                cp.rows = n;
                cp.cols = kn;
                cp.src[0] = rows_of(0, IN_ROW(kb, b, ir, o0 * stride + kc * dil), (n - 1) * stride + 1);
                cp.dst[0] = rows_of(1, c_row, n);
                cp.b_rows = first ? kn : 0;
                cp.macs = (uint64_t)n * kn * oc;
                issue(&cp);
                first = 0;
              }
            }
        }
  }
  free(loaded);
  if (output)
    for (uint32_t ob = 0; ob < ob_n; ob++) {
      uint32_t oc = pochs - ob * DIM < DIM ? pochs - ob * DIM : DIM;
      for (uint64_t p0 = 0; p0 < npix; p0 += DIM) {
        uint32_t n = (uint32_t)(npix - p0 < DIM ? npix - p0 : DIM);
        gemu_op_t op = {0};
        op.funct = F_MVOUT;
        op.queue = GEMU_Q_ST;
        op.from_fsm = 1;
        op.rows = n;
        op.cols = oc;
        op.src[0] = rows_of(1, (uint32_t)(ob * npix + p0), n);
        op.dram_bytes = (uint64_t)n * oc * sizeof(elem_t);
        op.dram_requests = n * ceil_div_u(oc * sizeof(elem_t), 64);
        op.scaled = 1;
        issue(&op);
      }
    }
#undef IN_ROW
}

/* ------------------------------------------------------------------ entry point */

static const char *funct_name(uint32_t f) {
  switch (f) {
  case F_CONFIG: return "config";
  case F_MVIN2: return "mvin2";
  case F_MVIN: return "mvin";
  case F_MVOUT: return "mvout";
  case F_COMPUTE_PRELOADED: return "compute_preloaded";
  case F_COMPUTE_ACCUMULATED: return "compute_accumulated";
  case F_PRELOAD: return "preload";
  case F_FLUSH: return "flush";
  case F_LOOP_WS: return "loop_ws";
  case 9: return "loop_ws config_bounds";
  case 10: return "loop_ws config_addrs_ab";
  case 11: return "loop_ws config_addrs_dc";
  case 12: return "loop_ws config_strides_ab";
  case 13: return "loop_ws config_strides_dc";
  case F_MVIN3: return "mvin3";
  case F_LOOP_CONV_WS: return "loop_conv_ws";
  case 16: case 17: case 18: case 19: case 20: case 21: return "loop_conv_ws config";
  case F_COUNTER: return "counter";
  case F_FENCE: return "fence";
  default: return "unknown instruction";
  }
}

uint64_t gemu_rocc(uint32_t funct, uint64_t rs1, uint64_t rs2) {
  init_once();
  call_index++;
  cur_name = funct_name(funct);
  cur_sub[0] = 0;
  if (funct != F_FENCE) st.cpu_instructions++;
  uint32_t lo2 = (uint32_t)rs2, cols2 = (rs2 >> 32) & 0xFFFF, rows2 = (rs2 >> 48) & 0xFFFF;
  uint32_t lo1 = (uint32_t)rs1, cols1 = (rs1 >> 32) & 0xFFFF, rows1 = (rs1 >> 48) & 0xFFFF;
  switch (funct) {
  case F_CONFIG: do_config(rs1, rs2); break;
  case F_MVIN: do_mvin(0, rs1, lo2, cols2, rows2, 0, -1); break;
  case F_MVIN2: do_mvin(1, rs1, lo2, cols2, rows2, 0, -1); break;
  case F_MVIN3: do_mvin(2, rs1, lo2, cols2, rows2, 0, -1); break;
  case F_MVOUT: do_mvout(rs1, lo2, cols2, rows2, 0, S.st_act); break;
  case F_PRELOAD: do_preload(lo1, cols1, rows1, lo2, cols2, rows2, 0, S.ex.c_stride ? S.ex.c_stride : 1); break;
  case F_COMPUTE_PRELOADED:
  case F_COMPUTE_ACCUMULATED:
    if (!S.ex_set)
      gemu_error("compute before any config_ex: the dataflow and A stride are unset; call "
                 "config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false) first");
    do_compute(funct == F_COMPUTE_PRELOADED, lo1, cols1, rows1, lo2, cols2, rows2, 0, &S.ex);
    break;
  case F_FLUSH: {
    gemu_op_t op = {0};
    op.funct = F_FLUSH;
    op.queue = GEMU_Q_NONE;
    issue(&op);
    break;
  }
  case 9: case 10: case 11: case 12: case 13: {
    S.lw[funct - 9][0] = rs1;
    S.lw[funct - 9][1] = rs2;
    gemu_op_t op = {0};
    op.funct = funct;
    op.queue = GEMU_Q_NONE;
    issue(&op);
    break;
  }
  case F_LOOP_WS: {
    gemu_op_t op = {0};
    op.funct = funct;
    op.queue = GEMU_Q_NONE;
    issue(&op); /* the start instruction's CPU cost, then the FSM's stream */
    do_loop_ws(rs1, rs2);
    break;
  }
  case 16: case 17: case 18: case 19: case 20: case 21: {
    S.cv[funct - 16][0] = rs1;
    S.cv[funct - 16][1] = rs2;
    gemu_op_t op = {0};
    op.funct = funct;
    op.queue = GEMU_Q_NONE;
    issue(&op);
    break;
  }
  case F_LOOP_CONV_WS: {
    gemu_op_t op = {0};
    op.funct = funct;
    op.queue = GEMU_Q_NONE;
    issue(&op);
    do_loop_conv_ws(rs1, rs2);
    break;
  }
  case F_COUNTER: {
    gemu_op_t op = {0};
    op.funct = funct;
    op.queue = GEMU_Q_NONE;
    issue(&op);
    return 0; /* Spike returns random values; no correct program depends on them */
  }
  case F_FENCE:
    commit_pending();
    gemu_timing_fence();
    break;
  default:
    gemu_error("funct %u is not a Gemmini instruction of the 2023 ISA (rs1 0x%llx, rs2 0x%llx)", funct, (ull)rs1,
               (ull)rs2);
  }
  cur_name = "";
  return 0;
}

/* ------------------------------------------------------------------ harness hooks */

void autocomp_metrics_begin(void) {
  init_once();
  memset(&st, 0, sizeof st);
  garbage_b_preloads = 0;
  memset(spad_used, 0, sizeof spad_used);
  memset(acc_used, 0, sizeof acc_used);
  call_index = 0;
  gemu_timing_reset();
}

/* mvout data still pending when the kernel returns is committed (the upstream harness fences
 * after the solution), except data aimed at the stack: that can only be the dead frame of the
 * kernel (our callers' live frames are not reachable to a correct kernel), and writing it now
 * would corrupt the frames of whoever runs there. On hardware it would be lost the same way. */
static uint64_t stack_lo, stack_hi; /* the main thread's stack, which the harness calls kernels on */

/* Found without /proc, since the harness confines itself before it loads a kernel (no
 * /proc/self/maps, and no load-time code): the main thread's stack starts just above glibc's
 * __libc_stack_end (the initial stack pointer; only the program's arguments and environment lie
 * above it) and reaches down at most RLIMIT_STACK. The memory map keeps mappings at least that far
 * below the stack, so nothing else falls in the range. */
#ifdef __GLIBC__
extern void *__libc_stack_end;
#endif
static void find_stack(void) {
#ifdef __GLIBC__
  if (stack_hi || !__libc_stack_end) return;
  struct rlimit rl;
  uint64_t size = getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? (uint64_t)rl.rlim_cur : 8ull << 20;
  stack_hi = ((uint64_t)(uintptr_t)__libc_stack_end + 4095) & ~(uint64_t)4095;
  stack_lo = stack_hi > size ? stack_hi - size : 0;
#endif
}

static void drop_pending_stack_writes(void) {
  find_stack();
  if (pw_n == 0 || stack_hi == 0) return;
  uint64_t s = stack_lo, e = stack_hi;
  size_t kept = 0, dropped = 0;
  for (size_t i = 0; i < pw_n; i++) {
    if (pw[i].addr < e && pw[i].addr + pw[i].len > s) dropped++;
    else pw[kept++] = pw[i];
  }
  pw_n = kept;
  if (dropped)
    gemu_warn("%zu mvout(s) into a stack buffer were never fenced before the kernel returned, so the CPU never saw "
              "that data; call gemmini_fence() before reading mvout results on the CPU", dropped);
}

int autocomp_metrics_end(char *buf, int cap) {
  init_once();
  drop_pending_stack_writes();
  commit_pending(); /* the harness fences after the solution */
  uint64_t mine[] = {st.instructions, st.cpu_instructions, st.macs, st.spad_rows_used, st.acc_rows_used,
                     st.dram_bytes_read, st.dram_bytes_written, st.lint_unwritten_reads};
  gemu_timing_finish(&st);
  st.instructions = mine[0];
  st.cpu_instructions = mine[1];
  st.macs = mine[2];
  st.spad_rows_used = mine[3];
  st.acc_rows_used = mine[4];
  st.dram_bytes_read = mine[5];
  st.dram_bytes_written = mine[6];
  st.lint_unwritten_reads = mine[7];
  st.garbage_b_preloads = garbage_b_preloads;
  int n = snprintf(buf, cap > 0 ? (size_t)cap : 0,
                   "cycles %llu macs %llu instructions %llu cpu_instructions %llu spad_rows_used %llu "
                   "acc_rows_used %llu cpu_cycles %llu ld_busy %llu ex_busy %llu st_busy %llu rs_full_stall %llu "
                   "fence_stall %llu dram_bytes_read %llu dram_bytes_written %llu lint_unwritten_reads %llu "
                   "garbage_b_preloads %llu ex_startup %llu ex_gaps %llu ex_drain %llu",
                   (ull)st.cycles, (ull)st.macs, (ull)st.instructions, (ull)st.cpu_instructions,
                   (ull)st.spad_rows_used, (ull)st.acc_rows_used, (ull)st.cpu_cycles, (ull)st.ld_busy,
                   (ull)st.ex_busy, (ull)st.st_busy, (ull)st.rs_full_stall, (ull)st.fence_stall,
                   (ull)st.dram_bytes_read, (ull)st.dram_bytes_written, (ull)st.lint_unwritten_reads,
                   (ull)st.garbage_b_preloads, (ull)st.ex_startup, (ull)st.ex_gaps, (ull)st.ex_drain);
  if (n >= cap) n = cap > 0 ? cap - 1 : 0;
  return n;
}
