/*
 * autocomp generic C-kernel harness.
 *
 * Runs inside the sandboxed child process and calls kernels through `call_kernel`, generated
 * per problem in shim.h.
 *
 * verify: one process dlopens the candidate, confines itself (containment.h) and calls it on
 * every trial, writing the outputs for Python to check.
 *
 * time: the measured code never shares a process with the measurement (evaluation hygiene,
 * "clock forgery"). This process is the timer: it never loads candidate code. It forks one runner per
 * kernel (candidate, and the baseline it is compared with), each of which confines itself
 * before loading its kernel and then runs `call kernel; stop itself` forever. The timer owns
 * the inputs, the schedule (which runner, which inputs, which calls are checked, all decided
 * here, the last after the call) and the results stream. It wakes a runner (SIGCONT), waits for
 * it to stop (waitpid), and reads from /proc/PID/schedstat what the OS accounted to the runner
 * meanwhile, which the kernel cannot forge: the CPU time it ran (the measurement: on a shared
 * core it leaves out other processes' time, and the timer's own, to the nanosecond) and the
 * time it waited for the core (a call that waited was preempted). The wall time by the timer's
 * clock goes along, for Python to check the two against each other. A stopped process computes
 * nothing, so stopping early only leaves the answer unfinished. All share the one pinned core.
 *
 * Containment: every process that loads candidate code confines itself before it loads any
 * (Landlock: files only in its scratch directory, none for a timing runner, the kernels' objects
 * and system libraries read-only; seccomp: no threads, processes or sockets, and for a runner
 * no scheduling changes or signals out; see containment.h), so no byte of candidate code
 * (load-time constructors included) runs unconfined. Each process dies with its parent.
 *
 * Memory: every buffer gets its own mapping between two wide PROT_NONE guard regions; the
 * buffer ends exactly at the upper guard and the alignment slack plus the rest of the page
 * below it hold canary bytes, so overruns fault (SIGSEGV) or are reported. Outputs are
 * poisoned before every call. In timing, one buffer set is shared by the timer and the runners.
 *
 * Results: written to a private copy of stdout; kernels' own stdout goes to /dev/null. Every
 * result line starts with a per-run secret from the job file (which is deleted once read, and
 * wiped from every runner before it loads a kernel), and each mode ends with a line of counts
 * Python checks.
 *
 * Usage:  harness verify JOB   |   harness time JOB
 * The JOB format is written by autocomp/evaluation/c_kernel.py. The Python side owns every
 * verdict; this program only runs kernels and reports what happened.
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
#include <signal.h>
#include <sys/wait.h>
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
#define CHECKED_CALLS 6          /* timed candidate calls verified against the reference */
#define MIX_BLOCK 64             /* timed inputs are a fresh mosaic of the timing sets, in blocks of this many bytes */
#define ROUND_TRIPS 16           /* empty wake/stop round trips timed before a runner loads its kernel */

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
}

/* Seeds the harness's random choices; in timing mode only after the runners are forked, so no
 * process that loads a kernel ever holds the state that picks inputs and checked calls. */
static void seed_random(void) {
  FILE *u = fopen("/dev/urandom", "rb");
  if (!u || fread(&rng_state, sizeof rng_state, 1, u) != 1) die("urandom", strerror(errno));
  fclose(u);
}

/* `shared`: MAP_SHARED, so a runner forked afterwards and the timer see the same bytes. */
static guarded_t guarded_alloc(size_t n, int shared) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t guard = round_up(GUARD_BYTES, page);
  size_t body = round_up(n ? n : 1, 64), span = round_up(body, page);
  unsigned char *base = mmap(NULL, span + 2 * guard, PROT_READ | PROT_WRITE,
                             (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
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

/* Verification, before the candidate is loaded: confine this process (containment.h) and say how. */
static void confine(void) {
  char how[256];
  const char *const objects[] = {candidate};
  contain(dir, objects, 1, 0, how, sizeof how);
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
      g[i] = guarded_alloc(specs[i].nbytes, 0);
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

/* ---- timing: the timer and its runners ------------------------------------------------------ */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* What the OS says about a runner (/proc/PID/schedstat); read by the timer, never by the runner.
 * The time it waited for the core marks a preempted call, rather than its involuntary context
 * switches: the timer's own wake-up, when the runner stops, takes the core from it that way at
 * the end of many calls, while another process running in the middle of a call always shows as
 * waiting. Neither can be produced by the kernel (it cannot yield or make other processes). */
typedef struct {
  long long cpu_ns;   /* time it ran on a CPU */
  long long wait_ns;  /* time it was ready to run but waited for the core */
} runner_stats_t;

typedef struct {
  pid_t pid;
  int schedstat_fd;
  char *said;                /* shared page: the runner's containment line, written before it loads code */
  runner_stats_t at_stop;    /* as it stopped last: a stopped runner must not have run since */
  double outside_cpu_s;      /* CPU time it had outside its timed calls (must stay ~0) */
  long reps, clean_reps;
  double spent, clean_spent;
} runner_t;

static runner_t runners[2];
static int nrunners;
/* One buffer set, shared by the timer and both runners (only one runs at a time, and the timer
 * rewrites every byte a call reads before it): both kernels see the same addresses and the same
 * physical pages, so neither is timed with luckier cache placement (separate buffers made a
 * kernel differ from itself by up to 3.5%). */
static guarded_t bufs[MAX_BUFS];
static void *args[MAX_BUFS];

static long long read_proc(int fd, char *buf, size_t cap) {
  ssize_t n = pread(fd, buf, cap - 1, 0);
  if (n <= 0) die("reading a runner's /proc entry", strerror(errno));
  buf[n] = 0;
  return n;
}

static runner_stats_t runner_stats(const runner_t *r) {
  char buf[4096];
  runner_stats_t st = {0, 0};
  read_proc(r->schedstat_fd, buf, sizeof buf);
  if (sscanf(buf, "%lld %lld", &st.cpu_ns, &st.wait_ns) != 2) die("schedstat", buf);
  return st;
}

static void stop_runners(void) {
  for (int k = 0; k < nrunners; k++)
    if (runners[k].pid > 0) {
      kill(runners[k].pid, SIGKILL);
      waitpid(runners[k].pid, NULL, 0);
      runners[k].pid = 0;
    }
}

/* Waits until runner `r` stops (the end of a call, or of a start-up step). A runner that ended
 * instead (a crash, an exit from inside its kernel) ends this process the same way, so Python
 * reports it as before: killed by the same signal, or the same exit status. */
static void wait_stopped(runner_t *r) {
  int status;
  while (waitpid(r->pid, &status, WUNTRACED) < 0)
    if (errno != EINTR) die("waitpid", strerror(errno));
  if (WIFSTOPPED(status)) return;
  r->pid = 0;
  stop_runners();
  fflush(results);
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
  }
  exit(WIFEXITED(status) ? WEXITSTATUS(status) : 3);
}

/* The runner: confine, say how, load the kernel, then call it each time the timer wakes it and
 * stop. Never returns. What it must not touch (the results stream, the run's secret, the other
 * runner's page) is closed, wiped or unmapped before any candidate byte is loaded; the timing
 * inputs and the random state that picks them do not exist yet when it is forked. */
static void runner_main(int k, const char *so) {
  close(fileno(results));
  memset(token, 0, sizeof token);
  for (int other = 0; other < nrunners; other++)
    if (other != k) munmap(runners[other].said, 4096);
  harness_init();
  contain(NULL, &so, 1, 1, runners[k].said, 256);
  raise(SIGSTOP); /* confined: the timer reads what it said */
  for (int i = 0; i < ROUND_TRIPS; i++) raise(SIGSTOP); /* empty calls: what waking and stopping costs, in every call */
  void *fn = load_kernel(so);
  for (;;) {
    raise(SIGSTOP); /* ready for the next call (the first time: loaded) */
    call_kernel(fn, args);
  }
}

static void start_runner(int k, const char *so) {
  runner_t *r = &runners[k];
  fflush(NULL);
  r->pid = fork();
  if (r->pid < 0) die("fork", strerror(errno));
  if (r->pid == 0) runner_main(k, so);
}

static void open_proc(runner_t *r) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/schedstat", (int)r->pid);
  r->schedstat_fd = open(path, O_RDONLY | O_CLOEXEC);
  if (r->schedstat_fd < 0) die("timing needs /proc/PID/schedstat of its runner (Linux with CONFIG_SCHED_INFO)", strerror(errno));
}

/* One timed call of runner `r`: wake it, wait for it to stop. Returns the wall time between the
 * two by the timer's clock; `during` gets what the OS accounted to the runner meanwhile. */
static double timed_call(runner_t *r, runner_stats_t *during) {
  runner_stats_t before = runner_stats(r);
  r->outside_cpu_s += (before.cpu_ns - r->at_stop.cpu_ns) * 1e-9;
  double t0 = now();
  if (kill(r->pid, SIGCONT)) die("SIGCONT", strerror(errno));
  wait_stopped(r);
  double dt = now() - t0;
  r->at_stop = runner_stats(r);
  during->cpu_ns = r->at_stop.cpu_ns - before.cpu_ns;
  during->wait_ns = r->at_stop.wait_ns - before.wait_ns;
  return dt;
}

/* Timed inputs: every call gets a fresh mosaic of the timing sets (none of them seen during
 * verification), each MIX_BLOCK-byte block of every input from a set drawn at random, so about
 * 3 in 4 blocks of each input differ from any earlier call and every output element depends on
 * something that changed: neither a cache keyed by a few sampled values nor one that recomputes
 * only what changed can hit and be right. The draw comes from `seed`, so a checked call's inputs
 * can be built again afterwards. */
static void mosaic(unsigned char *dst, unsigned char *const sets[8], size_t n, uint64_t seed) {
  uint64_t bits = 0;
  int left = 0;
  for (size_t off = 0; off < n; off += MIX_BLOCK) {
    if (!left) {
      uint64_t z = (seed += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      bits = z ^ (z >> 31);
      left = 16;
    }
    int s = (int)(bits & 15) % timing_sets;
    bits >>= 4;
    left--;
    memcpy(dst + off, sets[s] + off, n - off < MIX_BLOCK ? n - off : MIX_BLOCK);
  }
}

static void prepare_call(unsigned char *inputs[][MAX_BUFS], uint64_t seed) {
  int which = (int)(next_random() & 1);
  for (int i = 0; i < nbufs; i++) {
    unsigned char *sets[8];
    for (int s = 0; s < timing_sets; s++) sets[s] = inputs[s][i];
    if (specs[i].is_output) poison(&specs[i], bufs[i].ptr, which);
    else mosaic(bufs[i].ptr, sets, specs[i].nbytes, seed + (uint64_t)i * 0x632BE59BD9B4E019ULL);
  }
  if (cold_cache) flush_buffers(bufs); /* last: the writes above brought the inputs into the cache */
}

/* Timing: the runners are interleaved, always calling whichever has spent less time. A
 * preempted call (the runner waited for the core meanwhile) is flagged and does not count
 * toward min_reps / min_time, so a busy machine buys more calls (up to `patience` times the time
 * share of wall time, and max_reps) instead of slower medians. With
 * `cold_cache`, every call starts with its buffers flushed from the caches. After each
 * candidate call the timer decides, by reservoir sampling, whether to keep it for checking (its
 * inputs are built again from the call's seed, its outputs copied); Python verifies the kept
 * calls against the reference after the run. */
static int time_kernels(void) {
  die_with_parent();
  const char *sos[2] = {candidate, baseline};
  nrunners = baseline[0] ? 2 : 1;
  for (int i = 0; i < nbufs; i++) {
    bufs[i] = guarded_alloc(specs[i].nbytes, 1);
    args[i] = bufs[i].ptr;
  }
  for (int k = 0; k < nrunners; k++) { /* all mapped before the first fork: both runners start from one layout */
    runners[k].said = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (runners[k].said == MAP_FAILED) die("mmap", strerror(errno));
    strcpy(runners[k].said, "unknown (the runner did not say)");
  }
  for (int k = 0; k < nrunners; k++) start_runner(k, sos[k]);
  seed_random();
  char path[8192];
  for (int k = 0; k < nrunners; k++) {
    runner_t *r = &runners[k];
    open_proc(r);
    wait_stopped(r); /* confined */
    if (k == 0) fprintf(results, "%s containment %s\n", token, r->said); /* the candidate's */
    long long trips[ROUND_TRIPS];
    runner_stats_t during;
    r->at_stop = runner_stats(r);
    for (int i = 0; i < ROUND_TRIPS; i++) { /* sorted as they come in */
      timed_call(r, &during);
      int at = i;
      for (; at > 0 && trips[at - 1] > during.cpu_ns; at--) trips[at] = trips[at - 1];
      trips[at] = during.cpu_ns;
    }
    /* the median: part of every call's CPU time; Python takes it off (trusted: no kernel loaded yet);
     * and its spread, the median absolute deviation: calls not well above it are too short to time */
    long long mid = trips[ROUND_TRIPS / 2], dev[ROUND_TRIPS];
    for (int i = 0; i < ROUND_TRIPS; i++) {
      long long d = trips[i] > mid ? trips[i] - mid : mid - trips[i];
      int at = i;
      for (; at > 0 && dev[at - 1] > d; at--) dev[at] = dev[at - 1];
      dev[at] = d;
    }
    fprintf(results, "%s overhead %s %.9e %.9e\n", token, k ? "base" : "cand", mid * 1e-9, dev[ROUND_TRIPS / 2] * 1e-9);
    if (kill(r->pid, SIGCONT)) die("SIGCONT", strerror(errno));
    wait_stopped(r); /* loaded (a crash while loading ends here, as it would have in one process) */
    r->at_stop = runner_stats(r);
    r->outside_cpu_s = 0;
  }
  unsigned char *inputs[8][MAX_BUFS], *kept[CHECKED_CALLS][MAX_BUFS];
  long kept_call[CHECKED_CALLS];
  for (int i = 0; i < nbufs; i++) {
    for (int c = 0; c < CHECKED_CALLS; c++) kept[c][i] = malloc(specs[i].nbytes);
    for (int s = 0; s < timing_sets; s++) {
      inputs[s][i] = NULL;
      if (specs[i].is_output) continue;
      inputs[s][i] = malloc(specs[i].nbytes);
      file_path(path, sizeof path, "in", timing_base + s, specs[i].name, "");
      load_file(path, inputs[s][i], specs[i].nbytes);
    }
  }
  double share = min_time / nrunners;
  runner_stats_t during;
  for (int w = 0; w < warmup * nrunners; w++) {
    runner_t *r = &runners[w % nrunners];
    prepare_call(inputs, next_random());
    timed_call(r, &during);
  }
  for (;;) {
    int need[2] = {0, 0};
    for (int k = 0; k < nrunners; k++) {
      runner_t *r = &runners[k];
      need[k] = r->reps < min_reps || ((r->clean_reps < min_reps || r->clean_spent < share) && r->reps < max_reps &&
                                       r->spent < patience * share);
    }
    if (!need[0] && !need[1]) break;
    int k = need[0] && need[1] ? (runners[1].spent < runners[0].spent) : need[1];
    runner_t *r = &runners[k];
    uint64_t seed = next_random();
    prepare_call(inputs, seed);
    double wall = timed_call(r, &during), cpu = during.cpu_ns * 1e-9;
    /* preempted: the runner waited for the core longer than a wake-up takes (another process ran
     * in the middle of the call, and took the caches with it) */
    int preempted = during.wait_ns > 20000 + (long long)(cpu * 1e9 * 0.01);
    r->spent += wall;
    r->reps++;
    if (!preempted) {
      r->clean_spent += cpu;
      r->clean_reps++;
    }
    fprintf(results, "%s time %s %.9e %d %.9e %.9e\n", token, k ? "base" : "cand", cpu, preempted, wall, during.wait_ns * 1e-9);
    if (k != 0) continue;
    long seen = r->reps; /* reservoir sampling over candidate calls, decided after the call */
    long slot = seen <= CHECKED_CALLS ? seen - 1 : (long)(next_random() % (uint64_t)seen);
    if (slot >= CHECKED_CALLS) continue;
    kept_call[slot] = seen;
    for (int i = 0; i < nbufs; i++) {
      if (specs[i].is_output) {
        memcpy(kept[slot][i], bufs[i].ptr, specs[i].nbytes);
        continue;
      }
      unsigned char *sets[8];
      for (int s = 0; s < timing_sets; s++) sets[s] = inputs[s][i];
      mosaic(kept[slot][i], sets, specs[i].nbytes, seed + (uint64_t)i * 0x632BE59BD9B4E019ULL);
      if (memcmp(kept[slot][i], bufs[i].ptr, specs[i].nbytes))
        fprintf(results, "%s input_modified - %s\n", token, specs[i].name);
    }
  }
  for (int k = 0; k < nrunners; k++) {
    runner_t *r = &runners[k];
    r->outside_cpu_s += (runner_stats(r).cpu_ns - r->at_stop.cpu_ns) * 1e-9;
    fprintf(results, "%s outside %s %.9e\n", token, k ? "base" : "cand", r->outside_cpu_s);
  }
  for (int i = 0; i < nbufs; i++)
    if (canary_broken(&bufs[i], specs[i].nbytes)) fprintf(results, "%s canary - %s\n", token, specs[i].name);
  stop_runners();
  int nkept = runners[0].reps < CHECKED_CALLS ? (int)runners[0].reps : CHECKED_CALLS;
  for (int c = 0; c < nkept; c++) {
    for (int i = 0; i < nbufs; i++) {
      file_path(path, sizeof path, "chk", c, specs[i].name, "");
      save_file(path, kept[c][i], specs[i].nbytes);
    }
    fprintf(results, "%s checked %d %ld\n", token, c, kept_call[c]);
  }
  fprintf(results, "%s end %ld %ld %d\n", token, runners[0].reps, nrunners > 1 ? runners[1].reps : 0L, nkept);
  return 0;
}
int main(int argc, char **argv) {
  if (argc != 3) die("usage", "harness verify|time JOB");
  take_stdout();
  read_job(argv[2]);
  if (!strcmp(argv[1], "verify")) {
    seed_random();
    harness_init();
    return verify();
  }
  if (!strcmp(argv[1], "time")) return time_kernels();
  die("unknown mode", argv[1]);
  return 3;
}
