/*
 * gemu.h — internal interface of autocomp's clean-room Gemmini emulator.
 *
 * Three parts meet here:
 *   functional.c  decodes every RoCC instruction (gemmini.h macros call gemu_rocc), checks it,
 *                 executes it on the emulated scratchpad/accumulator/DRAM, expands the loop
 *                 FSMs (loop_ws, loop_conv_ws) into primitive instructions, and hands every
 *                 primitive to the timing model as a gemu_op_t;
 *   timing.c      the event-driven timing model: consumes gemu_op_t in program order, charges
 *                 CPU issue cost from gemu_bb_count, and produces cycles + a breakdown;
 *   library.c     our own tiled_matmul_auto / tiled_conv_auto (FSM and CPU-issued variants).
 * Candidate kernels never include this file; they see only gemmini.h.
 * Fields may be added (append-only) when a part needs more information.
 */
#ifndef GEMU_H
#define GEMU_H
#include <stdint.h>

/* Basic blocks executed by code compiled with -fsanitize-coverage=trace-pc (the candidate
 * kernel and library.c). functional.c defines the counter and __sanitizer_cov_trace_pc. */
extern uint64_t gemu_bb_count;

/* Entry point of every instruction: funct per docs/gemmini-spec.md §4, operands encoded as on hardware.
 * Returns the value of the counter op, 0 otherwise. */
uint64_t gemu_rocc(uint32_t funct, uint64_t rs1, uint64_t rs2);

typedef enum { GEMU_Q_LD = 0, GEMU_Q_EX = 1, GEMU_Q_ST = 2, GEMU_Q_NONE = 3 } gemu_queue_t;

/* A range of local rows touched by an instruction; count == 0 means none. */
typedef struct {
  uint32_t first; /* row index within its memory */
  uint32_t count; /* number of rows (incl. block-stride gaps, per docs/gemmini-spec.md §8.3 "Ranges") */
  int acc;        /* 1 = accumulator, 0 = scratchpad */
} gemu_rows_t;

typedef struct {
  uint32_t funct;          /* primitive id: 0 config, 1/2/14 mvin2/mvin/mvin3, 3 mvout, 4/5 compute, 6 preload, 7 flush */
  uint32_t config_kind;    /* for funct 0: 0 EX, 1 LD, 2 ST, 3 NORM */
  gemu_queue_t queue;      /* reservation-station class (config_ld -> LD, config_st -> ST, config_ex -> EX) */
  int from_fsm;            /* expanded from loop_ws / loop_conv_ws: no CPU issue cost */
  uint32_t rows, cols;     /* decoded rows/cols of the main operand (mvin/mvout: the transfer; compute: A) */
  gemu_rows_t dst[2];      /* local rows written (mvin destination; preload/compute: C) */
  gemu_rows_t src[3];      /* local rows read (mvout source; compute: A and D; preload: B) */
  uint64_t dram_bytes;     /* bytes moved between DRAM and local memory (0 for a zero-fill mvin) */
  uint32_t dram_requests;  /* 64-byte aligned DRAM requests needed */
  int zero_fill;           /* mvin from DRAM address 0 */
  int scaled;              /* a mvin/mvout that applies a scale (spad mvin, acc->elem mvout) */
  int is_preload;          /* funct 6 */
  int is_compute;          /* funct 4 or 5 */
  int preloaded;           /* compute_preloaded (loads new weights), 0 for compute_accumulated */
  uint32_t b_rows;         /* rows of the preloaded B for the compute it pairs with (0 if garbage) */
  uint64_t macs;           /* multiply-accumulates performed by this compute */
} gemu_op_t;

/* Statistics of one measured region (the harness brackets each kernel call). */
typedef struct {
  uint64_t cycles;             /* modeled cycles from begin to the completion of everything issued */
  uint64_t instructions;       /* primitives executed (incl. FSM-expanded) */
  uint64_t cpu_instructions;   /* instructions issued by the CPU (RoCC calls) */
  uint64_t macs;               /* MACs performed on the array */
  uint64_t spad_rows_used;     /* distinct scratchpad rows written */
  uint64_t acc_rows_used;      /* distinct accumulator rows written */
  uint64_t cpu_cycles;         /* cycles the CPU spent on its own work (basic blocks + issue) */
  uint64_t ld_busy, ex_busy, st_busy;   /* cycles each unit was occupied */
  uint64_t rs_full_stall;      /* CPU cycles stalled because its instruction's RS class was full */
  uint64_t fence_stall;        /* CPU cycles waiting in fence */
  uint64_t ex_startup, ex_gaps, ex_drain; /* execute unit idle: before the first compute, between computes, after the last */
  uint64_t dram_bytes_read, dram_bytes_written;
  uint64_t lint_unwritten_reads;   /* reads of never-written local rows (lint) */
  uint64_t garbage_b_preloads;     /* compute_preloaded with a GARBAGE B (loads zero weights) */
} gemu_stats_t;

/* timing.c */
void gemu_timing_reset(void);               /* start of a measured region: CPU clock = 0, queues empty */
void gemu_timing_issue(const gemu_op_t *op);/* one primitive, in program order */
void gemu_timing_fence(void);               /* CPU waits until every issued instruction completed */
void gemu_timing_finish(gemu_stats_t *out); /* implicit fence; fills cycles and the busy/stall fields */

/* functional.c: errors are fatal; the message names the instruction and the fix. */
void gemu_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void gemu_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exported to the autocomp harness (evaluation/harness/harness.c looks them up with dlsym):
 * begin resets statistics (not memory contents: a real accelerator keeps its scratchpad and
 * accumulator between calls); end performs the implicit final fence and writes
 * "key value key value ..." (integers) into buf, returning its length. */
void autocomp_metrics_begin(void);
int autocomp_metrics_end(char *buf, int cap);

#endif
