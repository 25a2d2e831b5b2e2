/*
 * autocomp generic C-kernel harness.
 *
 * Runs inside the sandboxed child process. It dlopens the candidate (and, for
 * timing, the baseline) shared objects, so helper symbols of the two never clash,
 * and calls them through `call_kernel`, generated per problem in shim.h.
 *
 * Memory: every buffer gets its own mapping between two wide PROT_NONE guard
 * regions; the buffer ends exactly at the upper guard and the alignment slack plus
 * the rest of the page below it hold canary bytes, so overruns fault (SIGSEGV) or
 * are reported. Outputs are poisoned before every call.
 *
 * Results: written to a private copy of stdout; the kernel's own stdout goes to
 * /dev/null. Every result line starts with a per-run secret from the job file (which
 * is deleted once read), and each mode ends with a line of counts Python checks.
 *
 * Containment: the process confines itself before it loads a kernel, so no byte of candidate
 * code (load-time constructors included) runs unconfined (Landlock: files only in its scratch
 * directory, the kernels' objects read-only; seccomp: no threads, processes or sockets; see
 * containment.h).
 *
 * Usage:  harness verify JOB   |   harness time JOB
 * The JOB format is written by autocomp/evaluation/c_kernel.py. The Python side owns
 * every verdict; this program only runs kernels and reports what happened.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "containment.h"
#include "shim.h"

/* Cold caches (job line cold_cache): write one cache line back to memory and drop it from
 * every level; then wait until all such flushes are done. */
#if defined(__x86_64__) || defined(__i386__)
#include <emmintrin.h> /* _mm_clflush, _mm_mfence: SSE2, part of every x86-64 CPU */
#define FLUSH_LINE(p) _mm_clflush(p)
#define FLUSH_FENCE() _mm_mfence()
#elif defined(__aarch64__)
#define FLUSH_LINE(p) __asm__ volatile("dc civac, %0" : : "r"(p) : "memory")
#define FLUSH_FENCE() __asm__ volatile("dsb ish" : : : "memory")
#endif

#define MAX_BUFS 32
#define CANARY 0xA5
#define GUARD_BYTES (256 * 1024) /* each side: a stray write must travel far to miss it */
#define CHECKED_CALLS 2          /* timed candidate calls verified against the reference */

typedef struct {
  char name[64];
  int is_output;
  size_t nbytes;
  size_t elem;                 /* element size in bytes (= poison pattern size) */
  unsigned char poison[2][16]; /* two different poison elements, alternated between calls */
} bufspec_t;

typedef struct {
  unsigned char *ptr;          /* 64-byte aligned, ends at the upper guard */
  unsigned char *region;       /* first writable byte of the mapping */
  size_t region_len;
} guarded_t;

static bufspec_t specs[MAX_BUFS];
static int nbufs, trials, timing_base, timing_sets = 1, warmup = 3, min_reps = 5, max_reps = 1000, cold_cache;
static double min_time = 0.5, patience = 1;
static char entry[128], candidate[4096], baseline[4096], dir[4096];
static char token[64];
static FILE *results;
static uint64_t rng_state;

static void die(const char *what, const char *detail) {
  fprintf(stderr, "harness: %s: %s\n", what, detail);
  exit(3);
}

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

/* splitmix64, seeded from the kernel-independent /dev/urandom */
static uint64_t next_random(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static void read_job(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open job", path);
  char key[64], b[64], c[64], d[64], e[64], line[8192];
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%63s", key) != 1) continue;
    if (!strcmp(key, "entry")) sscanf(line, "%*s %127s", entry);
    else if (!strcmp(key, "candidate")) sscanf(line, "%*s %4095s", candidate);
    else if (!strcmp(key, "baseline")) sscanf(line, "%*s %4095s", baseline);
    else if (!strcmp(key, "dir")) sscanf(line, "%*s %4095s", dir);
    else if (!strcmp(key, "token")) sscanf(line, "%*s %63s", token);
    else if (!strcmp(key, "trials")) sscanf(line, "%*s %d", &trials);
    else if (!strcmp(key, "timing_base")) sscanf(line, "%*s %d", &timing_base);
    else if (!strcmp(key, "timing_sets")) sscanf(line, "%*s %d", &timing_sets);
    else if (!strcmp(key, "warmup")) sscanf(line, "%*s %d", &warmup);
    else if (!strcmp(key, "min_reps")) sscanf(line, "%*s %d", &min_reps);
    else if (!strcmp(key, "max_reps")) sscanf(line, "%*s %d", &max_reps);
    else if (!strcmp(key, "min_time")) sscanf(line, "%*s %lf", &min_time);
    else if (!strcmp(key, "patience")) sscanf(line, "%*s %lf", &patience);
    else if (!strcmp(key, "cold_cache")) sscanf(line, "%*s %d", &cold_cache);
    else if (!strcmp(key, "buf")) {
      if (nbufs == MAX_BUFS) die("job", "too many buffers");
      bufspec_t *s = &specs[nbufs++];
      if (sscanf(line, "%*s %63s %63s %63s %63s %63s", s->name, b, c, d, e) != 5) die("bad buf line", line);
      s->is_output = !strcmp(b, "out");
      s->nbytes = strtoull(c, NULL, 10);
      s->elem = strlen(d) / 2;
      if (s->elem == 0 || s->elem > sizeof s->poison[0] || strlen(e) != strlen(d)) die("bad poison", d);
      for (size_t i = 0; i < s->elem; i++) {
        s->poison[0][i] = (unsigned char)(hexval(d[2 * i]) * 16 + hexval(d[2 * i + 1]));
        s->poison[1][i] = (unsigned char)(hexval(e[2 * i]) * 16 + hexval(e[2 * i + 1]));
      }
    }
  }
  fclose(f);
  unlink(path);
  if (!token[0]) die("job", "missing token");
  if (nbufs != N_KERNEL_BUFS) die("job", "buffer count does not match the compiled shim");
  if (timing_sets < 1 || timing_sets > 8) die("job", "timing_sets must be 1..8");
}

/* Keep a private handle on stdout for results; the kernel's prints go to /dev/null. */
static void take_stdout(void) {
  int fd = dup(1), null = open("/dev/null", O_WRONLY);
  if (fd < 0 || null < 0 || dup2(null, 1) < 0) die("stdout", strerror(errno));
  close(null);
  results = fdopen(fd, "w");
  if (!results) die("stdout", strerror(errno));
  setvbuf(results, NULL, _IOLBF, 0);
  FILE *u = fopen("/dev/urandom", "rb");
  if (!u || fread(&rng_state, sizeof rng_state, 1, u) != 1) die("urandom", strerror(errno));
  fclose(u);
}

static guarded_t guarded_alloc(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t guard = round_up(GUARD_BYTES, page);
  size_t body = round_up(n ? n : 1, 64), span = round_up(body, page);
  unsigned char *base = mmap(NULL, span + 2 * guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap", strerror(errno));
  if (mprotect(base, guard, PROT_NONE) || mprotect(base + guard + span, guard, PROT_NONE))
    die("mprotect", strerror(errno));
  guarded_t g = {base + guard + span - body, base + guard, span};
  memset(g.region, CANARY, span);
  return g;
}

/* Returns 1 if any canary byte around the buffer was overwritten. */
static int canary_broken(const guarded_t *g, size_t n) {
  for (unsigned char *p = g->region; p < g->ptr; p++) if (*p != CANARY) return 1;
  for (unsigned char *p = g->ptr + n; p < g->region + g->region_len; p++) if (*p != CANARY) return 1;
  return 0;
}

/* Two patterns: an element a kernel never writes cannot match the answer under both. */
static void poison(const bufspec_t *s, unsigned char *p, int which) {
  for (size_t i = 0; i + s->elem <= s->nbytes; i += s->elem) memcpy(p + i, s->poison[which], s->elem);
}

static void load_file(const char *path, unsigned char *dst, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) die("cannot open input", path);
  if (fread(dst, 1, n, f) != n) die("short input file", path);
  fclose(f);
}

static void save_file(const char *path, const unsigned char *src, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) die("cannot write output", path);
  if (fwrite(src, 1, n, f) != n) die("short write", path);
  fclose(f);
}

/* Optional per-call metrics exported by a target's runtime linked into the kernel (e.g. the
 * Gemmini emulator's modeled cycles): begin() before the call, end() after it writes
 * "key value ..." pairs. Absent for plain C targets. */
typedef void (*metrics_begin_t)(void);
typedef int (*metrics_end_t)(char *buf, int cap);
static metrics_begin_t metrics_begin;
static metrics_end_t metrics_end;

static void *load_kernel(const char *so) {
  void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!h) die("dlopen", dlerror());
  void *fn = dlsym(h, entry);
  if (!fn) die("entry function not found", entry);
  metrics_begin = (metrics_begin_t)dlsym(h, "autocomp_metrics_begin");
  metrics_end = (metrics_end_t)dlsym(h, "autocomp_metrics_end");
  return fn;
}

/* Before any kernel is loaded: confine this process (containment.h) and say how. */
static void confine(void) {
  char how[256];
  const char *const objects[] = {candidate, baseline};
  contain(dir, objects, baseline[0] ? 2 : 1, how, sizeof how);
  fprintf(results, "%s containment %s\n", token, how);
}

static void report_metrics(int t, int call) {
  char buf[4096];
  if (!metrics_end) return;
  int n = metrics_end(buf, (int)sizeof buf);
  if (n < 0 || n >= (int)sizeof buf) n = 0;
  buf[n] = 0;
  for (char *c = buf; *c; c++) if (*c == '\n' || *c == '\r') *c = ' ';
  fprintf(results, "%s metrics %d %d %s\n", token, t, call, buf);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Involuntary context switches of this thread so far. A timed call during which the count
 * moves was preempted (another process on the pinned core, a compile): its wall time
 * measures the machine, not the kernel. Voluntary switches (waiting for a page from disk)
 * are the kernel's own cost and stay in. */
static long preemptions(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

static void file_path(char *out, size_t cap, const char *kind, int t, const char *name, const char *suffix) {
  snprintf(out, cap, "%s/%s%d_%s%s.bin", dir, kind, t, name, suffix);
}

/* Verification: per trial, fresh guarded buffers (new addresses), poisoned outputs,
 * one call; trial 0 is called a second time on the same inputs to expose
 * nondeterminism and kernels that only work on their first call. */
static int verify(void) {
  confine();
  void *fn = load_kernel(candidate);
  char path[8192];
  for (int t = 0; t < trials; t++) {
    guarded_t g[MAX_BUFS];
    unsigned char *pristine[MAX_BUFS] = {0};
    void *args[MAX_BUFS];
    for (int i = 0; i < nbufs; i++) {
      g[i] = guarded_alloc(specs[i].nbytes);
      args[i] = g[i].ptr;
      if (!specs[i].is_output) {
        file_path(path, sizeof path, "in", t, specs[i].name, "");
        load_file(path, g[i].ptr, specs[i].nbytes);
        pristine[i] = malloc(specs[i].nbytes);
        memcpy(pristine[i], g[i].ptr, specs[i].nbytes);
      }
    }
    for (int call = 0; call < (t == 0 ? 2 : 1); call++) {
      for (int i = 0; i < nbufs; i++) if (specs[i].is_output) poison(&specs[i], g[i].ptr, call);
      if (metrics_begin) metrics_begin();
      call_kernel(fn, args);
      report_metrics(t, call);
      for (int i = 0; i < nbufs; i++) {
        if (canary_broken(&g[i], specs[i].nbytes)) fprintf(results, "%s canary %d %s\n", token, t, specs[i].name);
        if (specs[i].is_output) {
          file_path(path, sizeof path, "out", t, specs[i].name, call ? ".call2" : "");
          save_file(path, g[i].ptr, specs[i].nbytes);
        } else if (memcmp(pristine[i], g[i].ptr, specs[i].nbytes)) {
          fprintf(results, "%s input_modified %d %s\n", token, t, specs[i].name);
        }
      }
    }
    for (int i = 0; i < nbufs; i++) free(pristine[i]);
  }
  fprintf(results, "%s verified %d\n", token, trials);
  return 0;
}

/* Before every call: refill inputs from one of the (never verified, so unseen)
 * timing sets, swap two random elements of one input so no two calls see the same
 * values (a cache keyed by pointer or by input values misses), poison outputs. */
static void prepare_call(guarded_t *g, unsigned char *inputs[][MAX_BUFS], int set) {
  int nin = 0, ins[MAX_BUFS];
  int which = (int)(next_random() & 1);
  for (int i = 0; i < nbufs; i++)
    if (specs[i].is_output) poison(&specs[i], g[i].ptr, which);
    else { memcpy(g[i].ptr, inputs[set][i], specs[i].nbytes); ins[nin++] = i; }
  if (!nin) return;
  const bufspec_t *s = &specs[ins[next_random() % nin]];
  unsigned char *p = g[s - specs].ptr, tmp[16];
  size_t n = s->nbytes / s->elem, a = next_random() % n, b = next_random() % n;
  memcpy(tmp, p + a * s->elem, s->elem);
  memcpy(p + a * s->elem, p + b * s->elem, s->elem);
  memcpy(p + b * s->elem, tmp, s->elem);
}

/* Cold caches: write every line of every kernel buffer back to memory and drop it from all
 * cache levels, and wait until that is done, so the next call reads its operands from DRAM.
 * Only the buffers are flushed: the kernel's own code, stack and static data stay warm. */
static void flush_buffers(const guarded_t *g) {
#ifdef FLUSH_LINE
  for (int i = 0; i < nbufs; i++)
    for (size_t off = 0; off < specs[i].nbytes; off += 64) FLUSH_LINE(g[i].ptr + off);
  FLUSH_FENCE();
#else
  (void)g;
  die("cold_cache", "flushing caches is implemented for x86-64 and AArch64 only");
#endif
}

/* Timing: candidate and baseline share one buffer set and are interleaved, always
 * running whichever has less measured time. A preempted call is flagged and does not
 * count toward min_reps / min_time, so a busy machine buys more calls (up to `patience`
 * times the time share, and max_reps) instead of slower medians. With `cold_cache`,
 * every call starts with its buffers flushed from the caches (outside the timed window).
 * CHECKED_CALLS candidate calls, drawn by reservoir sampling (so no call can know it is
 * checked), keep copies of their inputs and outputs, which Python verifies against the
 * reference after the run. */
static int time_kernels(void) {
  confine();
  void *fns[2] = {load_kernel(candidate), baseline[0] ? load_kernel(baseline) : NULL};
  char path[8192];
  unsigned char *inputs[8][MAX_BUFS], *kept[CHECKED_CALLS][MAX_BUFS];
  long kept_call[CHECKED_CALLS];
  guarded_t g[MAX_BUFS];
  void *args[MAX_BUFS];
  for (int i = 0; i < nbufs; i++) {
    g[i] = guarded_alloc(specs[i].nbytes);
    args[i] = g[i].ptr;
    for (int r = 0; r < CHECKED_CALLS; r++) kept[r][i] = malloc(specs[i].nbytes);
    for (int s = 0; s < timing_sets; s++) {
      inputs[s][i] = NULL;
      if (specs[i].is_output) continue;
      inputs[s][i] = malloc(specs[i].nbytes);
      file_path(path, sizeof path, "in", timing_base + s, specs[i].name, "");
      load_file(path, inputs[s][i], specs[i].nbytes);
    }
  }
  int nfn = fns[1] ? 2 : 1, reps[2] = {0, 0}, clean_reps[2] = {0, 0};
  long calls = 0;
  double spent[2] = {0, 0}, clean_spent[2] = {0, 0}, share = min_time / nfn;
  for (int w = 0; w < warmup * nfn; w++) {
    prepare_call(g, inputs, w % timing_sets);
    if (cold_cache) flush_buffers(g);
    call_kernel(fns[w % nfn], args);
  }
  for (;;) {
    int need[2] = {0, 0};
    for (int k = 0; k < nfn; k++)
      need[k] = reps[k] < min_reps || ((clean_reps[k] < min_reps || clean_spent[k] < share) && reps[k] < max_reps &&
                                       spent[k] < patience * share);
    if (!need[0] && !need[1]) break;
    int k = need[0] && need[1] ? (spent[1] < spent[0]) : need[1];
    prepare_call(g, inputs, (int)(calls++ % timing_sets));
    long slot = CHECKED_CALLS; /* reservoir sampling over candidate calls, decided before the call */
    if (k == 0) {
      long seen = reps[0] + 1;
      slot = seen <= CHECKED_CALLS ? seen - 1 : (long)(next_random() % (uint64_t)seen);
      if (slot < CHECKED_CALLS) {
        for (int i = 0; i < nbufs; i++)
          if (!specs[i].is_output) memcpy(kept[slot][i], g[i].ptr, specs[i].nbytes);
        kept_call[slot] = seen;
      }
    }
    if (cold_cache) flush_buffers(g); /* last: the copies above read the inputs back into the cache */
    long preempted = preemptions();
    double t0 = now();
    call_kernel(fns[k], args);
    double dt = now() - t0;
    int was_preempted = preemptions() != preempted;
    spent[k] += dt;
    reps[k]++;
    if (!was_preempted) {
      clean_spent[k] += dt;
      clean_reps[k]++;
    }
    fprintf(results, "%s time %s %.9e %d\n", token, k ? "base" : "cand", dt, was_preempted);
    if (slot < CHECKED_CALLS)
      for (int i = 0; i < nbufs; i++) {
        if (specs[i].is_output) memcpy(kept[slot][i], g[i].ptr, specs[i].nbytes);
        else if (memcmp(kept[slot][i], g[i].ptr, specs[i].nbytes))
          fprintf(results, "%s input_modified - %s\n", token, specs[i].name);
      }
  }
  for (int i = 0; i < nbufs; i++)
    if (canary_broken(&g[i], specs[i].nbytes)) fprintf(results, "%s canary - %s\n", token, specs[i].name);
  int nkept = reps[0] < CHECKED_CALLS ? reps[0] : CHECKED_CALLS;
  for (int r = 0; r < nkept; r++) {
    for (int i = 0; i < nbufs; i++) {
      file_path(path, sizeof path, "chk", r, specs[i].name, "");
      save_file(path, kept[r][i], specs[i].nbytes);
    }
    fprintf(results, "%s checked %d %ld\n", token, r, kept_call[r]);
  }
  fprintf(results, "%s end %d %d %d\n", token, reps[0], reps[1], nkept);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) die("usage", "harness verify|time JOB");
  take_stdout();
  read_job(argv[2]);
  harness_init();
  if (!strcmp(argv[1], "verify")) return verify();
  if (!strcmp(argv[1], "time")) return time_kernels();
  die("unknown mode", argv[1]);
  return 3;
}
