/*
 * Containment inside every process that loads candidate code (the verifying harness, and each
 * runner the timer forks in timing; the timer itself never loads any), applied before any
 * candidate code is loaded, so a kernel's load-time code (constructors however spelled,
 * .init_array entries, ifunc resolvers) runs confined like its calls (docs/evaluation-hygiene.md R3.3):
 * Linux Landlock, which any unprivileged process can apply to itself, for good, and which its
 * children inherit.
 *
 *  - files: only the run's scratch directory can be read, written or created (a timing runner:
 *    none); the kernels' shared objects and the system's library folders can be read (dlopen
 *    maps them), nothing else (no /proc, so no other process's environment);
 *  - TCP: no connect and no bind (Landlock ABI >= 4);
 *  - no signals to, and no abstract UNIX sockets of, processes outside (ABI >= 6);
 *  - seccomp: creating a thread or process, exec, sockets and tracing kill the process with
 *    SIGSYS (a thread could keep running while the baseline is timed, and slow it down).
 *
 * The static policy rejects calls such as fopen or socket in the source, but source checks can
 * be dodged (token pasting builds a name the checker never sees, raw syscall bytes in asm); this
 * holds whatever the code calls. Where the kernel lacks Landlock the run goes on and the result
 * says so: bubblewrap's namespaces (sandbox.py) and the rest of the sandbox (scrubbed
 * environment, rlimits, own process group, timeout) still apply.
 */
#ifndef AUTOCOMP_CONTAINMENT_H
#define AUTOCOMP_CONTAINMENT_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#define AUTOCOMP_LANDLOCK 1

/* The Landlock UAPI (stable; see landlock(7)), declared here because the installed
 * <linux/landlock.h> is often older than the running kernel and lacks the network and
 * scope fields. The system call numbers are the same on every architecture. */
struct autocomp_landlock_ruleset_attr {
  uint64_t handled_access_fs, handled_access_net, scoped;
};
struct autocomp_landlock_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));
enum { LL_CREATE_RULESET = 444, LL_ADD_RULE = 445, LL_RESTRICT_SELF = 446 };
#define LL_RULESET_VERSION 1u            /* flag of create_ruleset: ask for the ABI version */
#define LL_RULE_PATH_BENEATH 1
#define LL_NET_BIND_TCP 1ull             /* ABI 4 */
#define LL_NET_CONNECT_TCP 2ull
#define LL_SCOPE_ABSTRACT_UNIX_SOCKET 1ull /* ABI 6 */
#define LL_SCOPE_SIGNAL 2ull
#define LL_FS_READ_FILE 4ull
#define LL_FS_READ_DIR 8ull

/* Every file-system right the running kernel's Landlock knows: v1 has 13, v2 adds REFER,
 * v3 TRUNCATE, v5 IOCTL_DEV. Rights a kernel does not know cannot be handled, so not denied. */
static uint64_t landlock_fs_rights(long abi) {
  int bits = abi >= 5 ? 16 : abi >= 3 ? 15 : abi >= 2 ? 14 : 13;
  return (1ull << bits) - 1;
}

/* The size of the ruleset attributes this ABI reads: older kernels reject the newer fields. */
static size_t landlock_attr_size(long abi) {
  return abi >= 6 ? sizeof(struct autocomp_landlock_ruleset_attr) : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
}
#endif

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define AUTOCOMP_SECCOMP 1
#ifdef __x86_64__
#define AUTOCOMP_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define AUTOCOMP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/* A seccomp filter that kills the process on the system calls no kernel needs (see above);
 * returns 0 on success. Everything else stays allowed: the harness still writes its results. */
static int forbid_processes_and_sockets(void) {
  static const int banned[] = {
    SYS_clone, 435 /* clone3 */, SYS_execve, SYS_execveat, SYS_socket, SYS_socketpair, SYS_ptrace,
    SYS_process_vm_readv, SYS_process_vm_writev,
#ifdef SYS_fork
    SYS_fork,
#endif
#ifdef SYS_vfork
    SYS_vfork,
#endif
  };
  enum { NB = sizeof banned / sizeof banned[0] };
  struct sock_filter prog[NB + 8];
  int n = 0;
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUTOCOMP_AUDIT_ARCH, 1, 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS); /* another ABI: no */
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, NB + 1, 0); /* x32 numbers: no */
#endif
  for (int i = 0; i < NB; i++) /* a match jumps to the kill at the end */
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)banned[i], (uint8_t)(NB - i), 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0);
}
#endif

#ifdef AUTOCOMP_SECCOMP
/* A second seccomp filter, for the process a timed kernel runs in (the harness's timer runs in
 * another, harness.c): no changing its own scheduling (moving to a quieter core, yielding the
 * core so that a slow call looks preempted and is left out, lowering its priority), no
 * asynchronous I/O or user-space page-fault handling that could work while it looks stopped, no
 * hardware counters, and signals only to itself (stopping itself is how it says "done"). */
static int forbid_scheduling_and_foreign_signals(pid_t self) {
  static const int banned[] = {
    SYS_sched_setaffinity, SYS_sched_setscheduler, SYS_sched_setparam, SYS_sched_setattr, SYS_sched_yield,
    SYS_setpriority, SYS_perf_event_open, SYS_userfaultfd, 425 /* io_uring_setup */, 426 /* io_uring_enter */,
    427 /* io_uring_register */, 424 /* pidfd_send_signal */, 434 /* pidfd_open */,
  };
  static const int signalling[] = {SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_rt_tgsigqueueinfo};
  enum { NB = sizeof banned / sizeof banned[0], NS = sizeof signalling / sizeof signalling[0] };
  struct sock_filter prog[NB + NS + 12];
  int n = 0;
  /* indices, fixed by the layout below: ALLOW after the lists, then the pid check, then KILL */
  const int lists = 5, allow = lists + NB + NS, check = allow + 1, kill_at = check + 3;
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUTOCOMP_AUDIT_ARCH, 1, 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef __x86_64__
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, (uint8_t)(kill_at - 5), 0);
#else
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0); /* keeps the layout */
#endif
  for (int i = 0; i < NB; i++, n++)
    prog[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)banned[i], (uint8_t)(kill_at - n - 1), 0);
  for (int i = 0; i < NS; i++, n++)
    prog[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)signalling[i], (uint8_t)(check - n - 1), 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW); /* = allow */
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])); /* = check */
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)self, 0, 1); /* the kernel reads an int */
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS); /* = kill_at */
  (void)allow;
  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0);
}
#endif

#ifdef AUTOCOMP_LANDLOCK
/* Folders the dynamic loader reads a kernel's libraries (libm) from, and its cache. */
static const char *const system_libraries[] = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib",
                                               "/etc/ld.so.cache"};

/* Read-only access beneath `path` (a folder, or one file); missing paths are skipped. */
static int allow_reading(int ruleset, const char *path) {
  int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  struct stat st;
  int rc = fstat(fd, &st);
  struct autocomp_landlock_path_beneath_attr rule = {
      .allowed_access = LL_FS_READ_FILE | (S_ISDIR(st.st_mode) ? LL_FS_READ_DIR : 0), .parent_fd = fd};
  if (rc == 0) rc = (int)syscall(LL_ADD_RULE, ruleset, LL_RULE_PATH_BENEATH, &rule, 0);
  close(fd);
  return rc;
}
#endif

/* Landlock: full access under `scratch` (NULL: no files to write at all), read-only access to
 * the `nread` paths in `readable` and the system's libraries; no TCP, no signals out; says what
 * it applied in `out`. */
static void confine_files_and_network(const char *scratch, const char *const *readable, int nread, char *out,
                                      size_t cap) {
#ifdef AUTOCOMP_LANDLOCK
  long abi = syscall(LL_CREATE_RULESET, NULL, 0, LL_RULESET_VERSION);
  if (abi < 1) {
    snprintf(out, cap, "no Landlock (%s)", strerror(errno));
    return;
  }
  struct autocomp_landlock_ruleset_attr attr = {.handled_access_fs = landlock_fs_rights(abi)};
  if (abi >= 4) attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
  if (abi >= 6) attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
  int ruleset = (int)syscall(LL_CREATE_RULESET, &attr, landlock_attr_size(abi), 0), failed = ruleset < 0;
  if (scratch && !failed) {
    int dir = open(scratch, O_PATH | O_CLOEXEC | O_DIRECTORY);
    struct autocomp_landlock_path_beneath_attr beneath = {.allowed_access = attr.handled_access_fs, .parent_fd = dir};
    failed = dir < 0 || syscall(LL_ADD_RULE, ruleset, LL_RULE_PATH_BENEATH, &beneath, 0);
    if (dir >= 0) close(dir);
  }
  for (int i = 0; !failed && i < nread; i++) failed = allow_reading(ruleset, readable[i]) != 0;
  for (size_t i = 0; !failed && i < sizeof system_libraries / sizeof *system_libraries; i++)
    failed = allow_reading(ruleset, system_libraries[i]) != 0;
  if (failed || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(LL_RESTRICT_SELF, ruleset, 0))
    snprintf(out, cap, "no Landlock (it failed: %s)", strerror(errno));
  else
    snprintf(out, cap, "landlock-v%ld: %s%s%s", abi,
             scratch ? "files only in the scratch directory (kernels and system libraries read-only)"
                     : "no files but its kernel and the system libraries, read-only",
             abi >= 4 ? ", no TCP" : "", abi >= 6 ? ", no signals or abstract sockets outside" : "");
  if (ruleset >= 0) close(ruleset);
#else
  (void)scratch, (void)readable, (void)nread;
  snprintf(out, cap, "no Landlock (Linux only)");
#endif
}

/* The process dies with its parent: a kill -9 of autocomp takes the harness along, and the
 * harness's death its timing runners, bubblewrap or not. */
static void die_with_parent(void) {
#ifdef __linux__
  prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
}

/* Both layers, each where the system has it, applied by a process before it loads the kernels
 * in `readable` (their shared objects); `out` says what was applied, for the result.
 *  - the verifying harness: `scratch` is its run directory (inputs in, outputs out);
 *  - a timing runner (`runner` set, `scratch` NULL): no files to write, and the second seccomp
 *    filter (no scheduling changes, signals only to itself). */
static void contain(const char *scratch, const char *const *readable, int nread, int runner, char *out, size_t cap) {
  die_with_parent();
  confine_files_and_network(scratch, readable, nread, out, cap);
  size_t used = strlen(out);
#ifdef AUTOCOMP_SECCOMP
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || forbid_processes_and_sockets() ||
      (runner && forbid_scheduling_and_foreign_signals(getpid())))
    snprintf(out + used, cap - used, "; no seccomp (it failed: %s)", strerror(errno));
  else
    snprintf(out + used, cap - used, "; seccomp: no threads, processes, exec%s",
             runner ? ", sockets, scheduling changes or signals out" : " or sockets");
#else
  (void)runner;
  snprintf(out + used, cap - used, "; no seccomp (x86-64 and AArch64 Linux only)");
#endif
}

#endif
