/*
 * autocomp generic C-kernel harness.
 *
 * Runs inside the sandboxed child process. It dlopens the candidate (and, for
 * timing, the baseline) shared objects, so helper symbols of the two never clash,
 * and calls them through `call_kernel`, generated per problem in shim.c.
 *
 * Every buffer gets its own mapping with a PROT_NONE guard page on both sides; the
 * buffer ends exactly at the upper guard and the 64-byte-alignment slack plus the
 * rest of the page below it are filled with canary bytes, so overruns either fault
 * (SIGSEGV) or are reported. Outputs are poisoned before every call.
 *
 * Usage:  harness verify JOB   |   harness time JOB   (JOB is deleted once read)
 * The JOB file is written by autocomp/evaluation/c_kernel.py; see that module for
 * its format. Results go to stdout as whitespace-separated lines; the Python side
 * owns every verdict.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "shim.h"

#define MAX_BUFS 32
#define CANARY 0xA5

typedef struct {
  char name[64];
  int is_output;
  size_t nbytes;
  size_t elem;                 /* poison element size in bytes */
  unsigned char poison[16];    /* one poison element */
} bufspec_t;

typedef struct {
  unsigned char *ptr;          /* 64-byte aligned, ends at the upper guard page */
  unsigned char *region;       /* first writable byte of the mapping */
  size_t region_len;
} guarded_t;

static bufspec_t specs[MAX_BUFS];
static int nbufs, trials, warmup = 3, min_reps = 5, max_reps = 1000;
static double min_time = 0.5;
static char entry[128], candidate[4096], baseline[4096], dir[4096];
/* Every result line starts with this per-run secret from the job file, which is
 * deleted once read, so a kernel printing look-alike lines cannot forge results. */
static char token[64];

static void die(const char *what, const char *detail) {
  fprintf(stderr, "harness: %s: %s\n", what, detail);
  exit(3);
}

static size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

static int hexval(char c) {
  return c <= '9' ? c - '0' : (c | 32) - 'a' + 10;
}

static void read_job(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) die("cannot open job", path);
  char key[64], b[64], c[64], d[64];
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%63s", key) != 1) continue;
    if (!strcmp(key, "entry")) sscanf(line, "%*s %127s", entry);
    else if (!strcmp(key, "candidate")) sscanf(line, "%*s %4095s", candidate);
    else if (!strcmp(key, "baseline")) sscanf(line, "%*s %4095s", baseline);
    else if (!strcmp(key, "dir")) sscanf(line, "%*s %4095s", dir);
    else if (!strcmp(key, "token")) sscanf(line, "%*s %63s", token);
    else if (!strcmp(key, "trials")) sscanf(line, "%*s %d", &trials);
    else if (!strcmp(key, "warmup")) sscanf(line, "%*s %d", &warmup);
    else if (!strcmp(key, "min_reps")) sscanf(line, "%*s %d", &min_reps);
    else if (!strcmp(key, "max_reps")) sscanf(line, "%*s %d", &max_reps);
    else if (!strcmp(key, "min_time")) sscanf(line, "%*s %lf", &min_time);
    else if (!strcmp(key, "buf")) {
      if (nbufs == MAX_BUFS) die("job", "too many buffers");
      bufspec_t *s = &specs[nbufs++];
      if (sscanf(line, "%*s %63s %63s %63s %63s", s->name, b, c, d) != 4) die("bad buf line", line);
      s->is_output = !strcmp(b, "out");
      s->nbytes = strtoull(c, NULL, 10);
      s->elem = strlen(d) / 2;
      if (s->elem == 0 || s->elem > sizeof s->poison) die("bad poison", d);
      for (size_t i = 0; i < s->elem; i++) s->poison[i] = (unsigned char)(hexval(d[2 * i]) * 16 + hexval(d[2 * i + 1]));
    }
  }
  fclose(f);
  unlink(path);
  if (!token[0]) die("job", "missing token");
  if (nbufs != N_KERNEL_BUFS) die("job", "buffer count does not match the compiled shim");
}

static guarded_t guarded_alloc(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t body = round_up(n ? n : 1, 64), span = round_up(body, page);
  unsigned char *base = mmap(NULL, span + 2 * page, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap", strerror(errno));
  if (mprotect(base, page, PROT_NONE) || mprotect(base + page + span, page, PROT_NONE))
    die("mprotect", strerror(errno));
  guarded_t g = {base + page + span - body, base + page, span};
  memset(g.region, CANARY, span);
  return g;
}

/* Returns 1 if any canary byte around the buffer was overwritten. */
static int canary_broken(const guarded_t *g, size_t n) {
  for (unsigned char *p = g->region; p < g->ptr; p++) if (*p != CANARY) return 1;
  for (unsigned char *p = g->ptr + n; p < g->region + g->region_len; p++) if (*p != CANARY) return 1;
  return 0;
}

static void poison(const bufspec_t *s, unsigned char *p) {
  for (size_t i = 0; i + s->elem <= s->nbytes; i += s->elem) memcpy(p + i, s->poison, s->elem);
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

static void *load_kernel(const char *so) {
  void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!h) die("dlopen", dlerror());
  void *fn = dlsym(h, entry);
  if (!fn) die("entry function not found", entry);
  return fn;
}

/* FNV-1a, continued across buffers; evaluation/c_kernel.py computes the same. */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; }
  return h;
}

static uint64_t outputs_hash(const guarded_t *g) {
  uint64_t h = 1469598103934665603ULL;
  for (int i = 0; i < nbufs; i++)
    if (specs[i].is_output) h = fnv1a(h, g[i].ptr, specs[i].nbytes);
  return h;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void trial_path(char *out, size_t cap, const char *kind, int t, const char *name, const char *suffix) {
  snprintf(out, cap, "%s/%s%d_%s%s.bin", dir, kind, t, name, suffix);
}

/* Verification: per trial, fresh guarded buffers, poisoned outputs, one call;
 * trial 0 is called a second time on the same inputs to expose nondeterminism
 * and "work only on the first call" kernels. */
static int verify(void) {
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
        trial_path(path, sizeof path, "in", t, specs[i].name, "");
        load_file(path, g[i].ptr, specs[i].nbytes);
        pristine[i] = malloc(specs[i].nbytes);
        memcpy(pristine[i], g[i].ptr, specs[i].nbytes);
      }
    }
    for (int call = 0; call < (t == 0 ? 2 : 1); call++) {
      for (int i = 0; i < nbufs; i++) if (specs[i].is_output) poison(&specs[i], g[i].ptr);
      call_kernel(fn, args);
      if (!call) printf("%s outhash %d %016llx\n", token, t, (unsigned long long)outputs_hash(g));
      for (int i = 0; i < nbufs; i++) {
        if (canary_broken(&g[i], specs[i].nbytes)) printf("%s canary %d %s\n", token, t, specs[i].name);
        if (specs[i].is_output) {
          trial_path(path, sizeof path, "out", t, specs[i].name, call ? ".call2" : "");
          save_file(path, g[i].ptr, specs[i].nbytes);
        } else if (memcmp(pristine[i], g[i].ptr, specs[i].nbytes)) {
          printf("%s input_modified %d %s\n", token, t, specs[i].name);
        }
      }
    }
    for (int i = 0; i < nbufs; i++) free(pristine[i]);
  }
  printf("%s verified %d\n", token, trials);
  return 0;
}

/* Timing: candidate and baseline share one buffer set; before every call the
 * inputs are refilled from one of two verified trials (alternating, so a cache
 * keyed by pointer returns stale data) and outputs are poisoned, both untimed.
 * Calls are interleaved, always running whichever kernel has less measured time,
 * so both get a similar share of a noisy machine. Each call reports its time and
 * the hash of its outputs; Python checks every hash against the verified output. */
static int time_kernels(void) {
  void *fns[2] = {load_kernel(candidate), baseline[0] ? load_kernel(baseline) : NULL};
  int sets = trials < 2 ? 1 : 2;
  char path[8192];
  unsigned char *inputs[2][MAX_BUFS];
  guarded_t g[MAX_BUFS];
  void *args[MAX_BUFS];
  for (int i = 0; i < nbufs; i++) {
    g[i] = guarded_alloc(specs[i].nbytes);
    args[i] = g[i].ptr;
    for (int s = 0; s < sets; s++) {
      inputs[s][i] = NULL;
      if (specs[i].is_output) continue;
      inputs[s][i] = malloc(specs[i].nbytes);
      trial_path(path, sizeof path, "in", s, specs[i].name, "");
      load_file(path, inputs[s][i], specs[i].nbytes);
    }
  }
  int nfn = fns[1] ? 2 : 1, reps[2] = {0, 0}, calls = 0;
  double spent[2] = {0, 0};
  for (int w = 0; w < warmup * nfn; w++) {
    int k = w % nfn, s = w % sets;
    for (int i = 0; i < nbufs; i++)
      if (specs[i].is_output) poison(&specs[i], g[i].ptr);
      else memcpy(g[i].ptr, inputs[s][i], specs[i].nbytes);
    call_kernel(fns[k], args);
  }
  for (;;) {
    int done = 1;
    for (int k = 0; k < nfn; k++)
      if (reps[k] < min_reps || (spent[k] < min_time / nfn && reps[k] < max_reps)) done = 0;
    if (done) break;
    int k = (nfn == 2 && spent[1] < spent[0]) ? 1 : 0;
    if (reps[k] >= max_reps && reps[k] >= min_reps) k = 1 - k;
    int s = calls++ % sets;
    for (int i = 0; i < nbufs; i++)
      if (specs[i].is_output) poison(&specs[i], g[i].ptr);
      else memcpy(g[i].ptr, inputs[s][i], specs[i].nbytes);
    double t0 = now();
    call_kernel(fns[k], args);
    double dt = now() - t0;
    spent[k] += dt;
    reps[k]++;
    printf("%s time %s %d %.9e %016llx\n", token, k ? "base" : "cand", s, dt,
           (unsigned long long)outputs_hash(g));
  }
  for (int i = 0; i < nbufs; i++)
    if (canary_broken(&g[i], specs[i].nbytes)) printf("%s canary - %s\n", token, specs[i].name);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 3) die("usage", "harness verify|time JOB");
  setvbuf(stdout, NULL, _IOLBF, 0);
  read_job(argv[2]);
  harness_init();
  if (!strcmp(argv[1], "verify")) return verify();
  if (!strcmp(argv[1], "time")) return time_kernels();
  die("unknown mode", argv[1]);
  return 3;
}
