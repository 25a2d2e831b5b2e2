/*
 * timing.c — event-driven timing model of Gemmini (clean-room, from the reference spec §8).
 *
 * The model is a list scheduler: primitives arrive in program order (gemu_timing_issue) and
 * each one is scheduled exactly once, when it arrives, against a bounded window of earlier
 * instructions that had not completed by then (the reservation station, at most 8+16+4
 * entries). There is no per-cycle loop, so an op costs O(RS entries).
 *
 *   CPU       in-order Rocket. A CPU-issued instruction costs
 *             cpu_bb_cycles * (basic blocks since the previous one) + cpu_issue_cycles
 *             and then blocks until its RS class has a free entry (rs_full_stall).
 *   FSM       loop_ws / loop_conv_ws primitives (op->from_fsm) cost no CPU time; they enter
 *             the RS at most one per fsm_feed_interval cycles, throttled by RS occupancy.
 *   RS        per-class capacity ld/ex/st; an entry is freed when its instruction completes.
 *             Cross-queue dependencies over local row ranges (spec §8.3).
 *   LD        in order; occupancy max(requests, bytes/beat) on the DMA bus; completion adds
 *             load_latency (+ scale latency). Zero-fill: rows cycles, no bus.
 *   EX        in order; preload+compute processed as a pair, max(A_rows, B_rows, min)
 *             cycles, same-bank A/B penalty, completion after a drain of ~2*DIM+6.
 *   ST        fully serialised; occupancy rows*max(1, bytes_per_row/beat) on the bus,
 *             completion adds store_latency (+ scale latency).
 *   Bus       one 16 B/beat DMA bus shared by loads and stores, modeled as a calendar of
 *             reserved intervals so a transfer can use an earlier idle gap.
 *
 * All parameters are GEMU_T_* macros generated from timing.toml (see docs/gemmini-timing.md).
 */
#include <stdint.h>
#include <string.h>

#include "gemu.h"
#include "gemu_timing_params.h"

/* DIM and the scratchpad bank geometry come from the configuration's header. */
#ifndef DIM
#include "gemmini.h"
#endif
#if !defined(DIM) || !defined(BANK_ROWS)
#error "timing.c needs DIM and BANK_ROWS from the configuration (gemmini.h or -D flags)"
#endif

#define T_DIM ((uint64_t)(DIM))
#define T_EX_DRAIN ((uint64_t)(GEMU_T_EX_DRAIN_DIM * T_DIM + GEMU_T_EX_DRAIN_CONST))
#define T_PRELOAD_LONE ((uint64_t)(GEMU_T_PRELOAD_LONE_DIM * T_DIM))

/* ------------------------------------------------------------------ in-flight window */

#define WIN_MAX 32 /* >= largest RS class */
_Static_assert(GEMU_T_RS_LD_ENTRIES <= WIN_MAX && GEMU_T_RS_EX_ENTRIES <= WIN_MAX &&
                   GEMU_T_RS_ST_ENTRIES <= WIN_MAX && GEMU_T_RS_LD_ENTRIES > 0 &&
                   GEMU_T_RS_EX_ENTRIES > 0 && GEMU_T_RS_ST_ENTRIES > 0,
               "RS capacities must be in 1..WIN_MAX");

typedef struct {
  uint64_t done;     /* completion cycle */
  gemu_rows_t rd[4]; /* rows read (A, D, B for a compute) */
  gemu_rows_t wr[2]; /* rows written */
} entry_t;

typedef struct {
  entry_t e[WIN_MAX];
  int n;
  int cap;
} window_t;

/* Busy intervals of the DMA bus that end in the future (bounded by in-flight transfers). */
#define BUS_MAX (2 * WIN_MAX)
typedef struct {
  uint64_t start, end;
} interval_t;

static struct {
  uint64_t cpu;          /* CPU clock */
  double cpu_frac;       /* fractional CPU cycles carried between instructions */
  uint64_t bb_last;      /* gemu_bb_count at the previous CPU-issued instruction */
  uint64_t last_arrival; /* RS arrival of the previous instruction (program order) */
  uint64_t last_done;    /* latest completion of anything issued */
  window_t win[3];       /* per RS class */
  /* load unit */
  uint64_t ld_start; /* start of the previous load (in-order issue) */
  uint64_t ld_free;  /* load unit free (zero-fill uses it without the bus) */
  /* execute unit */
  uint64_t ex_free;
  int pl_pending;     /* a preload waits for its compute */
  gemu_rows_t pl_b;   /* its B rows */
  uint32_t pl_b_rows; /* its B row count */
  /* store unit */
  uint64_t st_start, st_done;
  /* DMA bus calendar, sorted by start */
  interval_t bus[BUS_MAX];
  int nbus;
  /* statistics */
  uint64_t cpu_cycles, ld_busy, ex_busy, st_busy, rs_full_stall, fence_stall;
} T;

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

static int overlaps(const gemu_rows_t *a, const gemu_rows_t *b) {
  if (a->count == 0 || b->count == 0 || a->acc != b->acc) return 0;
  return a->first < b->first + b->count && b->first < a->first + a->count;
}

static int any_overlap(const gemu_rows_t *as, int na, const gemu_rows_t *bs, int nb) {
  for (int i = 0; i < na; i++)
    for (int j = 0; j < nb; j++)
      if (overlaps(&as[i], &bs[j])) return 1;
  return 0;
}

/* Drop entries of one class that completed by time t (they can no longer delay anyone,
 * because arrivals are monotonic). */
static void prune(window_t *w, uint64_t t) {
  int k = 0;
  for (int i = 0; i < w->n; i++)
    if (w->e[i].done > t) w->e[k++] = w->e[i];
  w->n = k;
}

/* Earliest time >= t at which class q has a free RS entry. */
static uint64_t admit(gemu_queue_t q, uint64_t t) {
  window_t *w = &T.win[q];
  prune(w, t);
  while (w->n >= w->cap) {
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < w->n; i++)
      if (w->e[i].done < m) m = w->e[i].done;
    t = max_u64(t, m);
    prune(w, t);
  }
  return t;
}

static void record(gemu_queue_t q, const entry_t *e) {
  window_t *w = &T.win[q];
  w->e[w->n++] = *e; /* admit() guaranteed room */
  if (e->done > T.last_done) T.last_done = e->done;
}

/* Latest completion among the earlier entries of class q that conflict. mode selects the
 * ranges compared: the new op's set `mine` against the entry's reads (R), writes (W) or both. */
enum { CMP_R = 1, CMP_W = 2 };
static uint64_t dep_wait(gemu_queue_t q, const gemu_rows_t *mine, int nmine, int mode) {
  const window_t *w = &T.win[q];
  uint64_t t = 0;
  for (int i = 0; i < w->n; i++) {
    const entry_t *e = &w->e[i];
    if (e->done <= t) continue;
    if (((mode & CMP_R) && any_overlap(mine, nmine, e->rd, 4)) ||
        ((mode & CMP_W) && any_overlap(mine, nmine, e->wr, 2)))
      t = e->done;
  }
  return t;
}

/* Reserve `len` bus cycles at the earliest gap starting >= t; returns the start. */
static uint64_t bus_reserve(uint64_t t, uint64_t len, uint64_t horizon) {
  /* forget intervals that ended before anything can still be placed */
  int k = 0;
  for (int i = 0; i < T.nbus; i++)
    if (T.bus[i].end > horizon) T.bus[k++] = T.bus[i];
  T.nbus = k;
  if (len == 0) return t;
  uint64_t s = t;
  int pos = 0;
  for (; pos < T.nbus; pos++) {
    if (T.bus[pos].end <= s) continue;
    if (T.bus[pos].start >= s + len) break; /* fits in the gap before interval pos */
    s = T.bus[pos].end;
  }
  if (T.nbus == BUS_MAX) { /* keep the calendar bounded: merge the two oldest intervals */
    T.bus[1].start = T.bus[0].start;
    memmove(&T.bus[0], &T.bus[1], (size_t)(T.nbus - 1) * sizeof(interval_t));
    T.nbus--;
    if (pos > 0) pos--;
  }
  memmove(&T.bus[pos + 1], &T.bus[pos], (size_t)(T.nbus - pos) * sizeof(interval_t));
  T.bus[pos].start = s;
  T.bus[pos].end = s + len;
  T.nbus++;
  return s;
}

/* ------------------------------------------------------------------ units */

static void schedule_load(const gemu_op_t *op, uint64_t t) {
  entry_t e;
  memset(&e, 0, sizeof e);
  if (op->funct == 0) { /* config_ld: completes on issue */
    uint64_t s = max_u64(t, T.ld_start);
    T.ld_start = s;
    e.done = s + GEMU_T_CONFIG_MEM_CYCLES;
    T.ld_busy += GEMU_T_CONFIG_MEM_CYCLES;
    record(GEMU_Q_LD, &e);
    return;
  }
  e.wr[0] = op->dst[0];
  e.wr[1] = op->dst[1];
  /* waits for earlier ex entries touching its destination, and stores reading it */
  uint64_t ready = max_u64(t, T.ld_start);
  ready = max_u64(ready, dep_wait(GEMU_Q_EX, e.wr, 2, CMP_R | CMP_W));
  ready = max_u64(ready, dep_wait(GEMU_Q_ST, e.wr, 2, CMP_R));
  ready = max_u64(ready, T.ld_free);
  uint64_t s, occ;
  if (op->zero_fill || op->dram_bytes == 0) {
    occ = (uint64_t)op->rows * GEMU_T_ZERO_FILL_ROW_CYCLES;
    s = ready;
    e.done = s + occ + GEMU_T_ZERO_FILL_LATENCY;
  } else {
    occ = max_u64(op->dram_requests, ceil_div(op->dram_bytes, GEMU_T_DMA_BEAT_BYTES));
    s = bus_reserve(ready, occ, T.last_arrival);
    e.done = s + occ + GEMU_T_LOAD_LATENCY + (op->scaled ? GEMU_T_LOAD_SCALE_LATENCY : 0);
  }
  T.ld_start = s;
  T.ld_free = s + occ;
  T.ld_busy += occ;
  record(GEMU_Q_LD, &e);
}

static void flush_lone_preload(void) {
  if (!T.pl_pending) return;
  T.pl_pending = 0;
  T.ex_free += T_PRELOAD_LONE;
  T.ex_busy += T_PRELOAD_LONE;
  if (T.ex_free > T.last_done) T.last_done = T.ex_free;
}

static uint32_t spad_bank(const gemu_rows_t *r) { return r->first / (uint32_t)(BANK_ROWS); }

static void schedule_exec(const gemu_op_t *op, uint64_t t) {
  entry_t e;
  memset(&e, 0, sizeof e);
  e.rd[0] = op->src[0];
  e.rd[1] = op->src[1];
  e.rd[2] = op->src[2];
  e.wr[0] = op->dst[0];
  e.wr[1] = op->dst[1];
  int paired = op->is_compute && T.pl_pending;
  if (!op->is_compute) flush_lone_preload();
  if (paired && op->preloaded) e.rd[3] = T.pl_b; /* the compute consumes the preloaded B */

  /* waits for loads writing its operands or outputs, and stores reading what it writes */
  uint64_t ready = max_u64(t, T.ex_free);
  ready = max_u64(ready, dep_wait(GEMU_Q_LD, e.rd, 4, CMP_W));
  ready = max_u64(ready, dep_wait(GEMU_Q_LD, e.wr, 2, CMP_W));
  ready = max_u64(ready, dep_wait(GEMU_Q_ST, e.wr, 2, CMP_R));

  uint64_t occ;
  if (op->funct == 0) { /* config_ex */
    occ = GEMU_T_CONFIG_EX_CYCLES;
    e.done = ready + occ;
  } else if (op->is_preload) {
    /* processed together with the compute that follows; a lone one is charged later */
    occ = 0;
    e.done = ready;
    T.pl_pending = 1;
    T.pl_b = op->src[0];
    T.pl_b_rows = op->src[0].count ? op->b_rows : 0;
  } else if (op->is_compute) {
    uint64_t a_rows = op->rows;
    uint64_t b_rows = (paired && op->preloaded) ? T.pl_b_rows : 0;
    if (op->b_rows > b_rows && op->preloaded) b_rows = op->b_rows;
    occ = max_u64(max_u64(a_rows, b_rows), GEMU_T_EX_MIN_CYCLES);
    const gemu_rows_t *a = &op->src[0];
    if (paired && op->preloaded && a->count && T.pl_b.count && !a->acc && !T.pl_b.acc &&
        spad_bank(a) == spad_bank(&T.pl_b))
      occ += (a_rows < b_rows ? a_rows : b_rows) * GEMU_T_EX_BANK_CONFLICT_PCT / 100;
    e.done = ready + occ + T_EX_DRAIN;
    T.pl_pending = 0;
  } else { /* flush or anything else routed to EX */
    occ = 1;
    e.done = ready + occ;
  }
  T.ex_free = ready + occ;
  T.ex_busy += occ;
  record(GEMU_Q_EX, &e);
}

static void schedule_store(const gemu_op_t *op, uint64_t t) {
  entry_t e;
  memset(&e, 0, sizeof e);
  if (op->funct == 0) { /* config_st / config_norm: complete on issue */
    uint64_t s = max_u64(t, T.st_start);
    T.st_start = s;
    e.done = s + GEMU_T_CONFIG_MEM_CYCLES;
    T.st_busy += GEMU_T_CONFIG_MEM_CYCLES;
    record(GEMU_Q_ST, &e);
    return;
  }
  e.rd[0] = op->src[0];
  e.rd[1] = op->src[1];
  e.rd[2] = op->src[2];
  /* waits for loads/execs writing what it reads, and for all earlier stores */
  uint64_t ready = max_u64(max_u64(t, T.st_start), T.st_done);
  ready = max_u64(ready, dep_wait(GEMU_Q_LD, e.rd, 3, CMP_W));
  ready = max_u64(ready, dep_wait(GEMU_Q_EX, e.rd, 3, CMP_W));
  uint64_t rows = op->rows ? op->rows : 1;
  uint64_t bpr = op->dram_bytes / rows;
  uint64_t occ = rows * max_u64(1, ceil_div(bpr, GEMU_T_DMA_BEAT_BYTES));
  uint64_t s = bus_reserve(ready, occ, T.last_arrival);
  e.done = s + occ + GEMU_T_STORE_LATENCY + (op->scaled ? GEMU_T_STORE_SCALE_LATENCY : 0);
  T.st_start = s;
  T.st_done = e.done;
  T.st_busy += e.done - s;
  record(GEMU_Q_ST, &e);
}

/* ------------------------------------------------------------------ CPU */

/* Charge the CPU for the basic blocks since the previous instruction plus `fixed` cycles. */
static void charge_cpu(double fixed) {
  uint64_t bb = gemu_bb_count - T.bb_last;
  T.bb_last = gemu_bb_count;
  double c = T.cpu_frac + (double)GEMU_T_CPU_BB_CYCLES * (double)bb + fixed;
  uint64_t whole = (uint64_t)c;
  T.cpu_frac = c - (double)whole;
  T.cpu += whole;
  T.cpu_cycles += whole;
}

void gemu_timing_reset(void) {
  memset(&T, 0, sizeof T);
  T.bb_last = gemu_bb_count;
  T.win[GEMU_Q_LD].cap = GEMU_T_RS_LD_ENTRIES;
  T.win[GEMU_Q_EX].cap = GEMU_T_RS_EX_ENTRIES;
  T.win[GEMU_Q_ST].cap = GEMU_T_RS_ST_ENTRIES;
}

void gemu_timing_issue(const gemu_op_t *op) {
  uint64_t t;
  if (!op->from_fsm) {
    charge_cpu((double)GEMU_T_CPU_ISSUE_CYCLES);
    if (op->queue == GEMU_Q_NONE) return; /* e.g. loop_ws configuration, flush: CPU cost only */
    t = max_u64(T.cpu, T.last_arrival);
    uint64_t a = admit(op->queue, t);
    T.rs_full_stall += a - t;
    t = a;
    T.cpu = t; /* the in-order CPU blocks until the RoCC command is accepted */
  } else {
    if (op->queue == GEMU_Q_NONE) return;
    t = max_u64(T.cpu, T.last_arrival + GEMU_T_FSM_FEED_INTERVAL);
    t = admit(op->queue, t);
  }
  T.last_arrival = t;
  switch (op->queue) {
  case GEMU_Q_LD: schedule_load(op, t); break;
  case GEMU_Q_EX: schedule_exec(op, t); break;
  case GEMU_Q_ST: schedule_store(op, t); break;
  default: break;
  }
}

static void wait_all(void) {
  flush_lone_preload();
  uint64_t until = max_u64(T.last_done, T.last_arrival);
  if (until > T.cpu) {
    T.fence_stall += until - T.cpu;
    T.cpu = until;
  }
}

void gemu_timing_fence(void) {
  charge_cpu((double)GEMU_T_CPU_ISSUE_CYCLES);
  wait_all();
}

void gemu_timing_finish(gemu_stats_t *out) {
  charge_cpu(0.0); /* CPU work after the last instruction */
  wait_all();
  out->cycles = T.cpu;
  out->cpu_cycles = T.cpu_cycles;
  out->ld_busy = T.ld_busy;
  out->ex_busy = T.ex_busy;
  out->st_busy = T.st_busy;
  out->rs_full_stall = T.rs_full_stall;
  out->fence_stall = T.fence_stall;
}
