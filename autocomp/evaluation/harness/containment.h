/*
 * Containment inside the harness process, applied after the kernels are loaded and before the
 * first kernel call (docs/evaluation-hygiene.md R3.3): Linux Landlock, which any unprivileged process
 * can apply to itself, for good, and which its children inherit.
 *
 *  - files: nothing outside the run's scratch directory can be read, written, created or
 *    executed (the kernel's code and its libraries are already mapped);
 *  - TCP: no connect and no bind (Landlock ABI >= 4);
 *  - no signals to, and no abstract UNIX sockets of, processes outside (ABI >= 6);
 *  - seccomp: creating a thread or process, exec, sockets and tracing kill the process with
 *    SIGSYS (a thread could keep running while the baseline is timed, and slow it down).
 *
 * The static policy rejects calls such as fopen or socket in the source, but source checks can
 * be dodged (token pasting builds a name the checker never sees); this holds whatever the code
 * calls. Where the kernel lacks Landlock the run goes on and the result says so: the rest of
 * the sandbox (scrubbed environment, rlimits, own process group, timeout) still applies.
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
#include <sys/prctl.h>
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

/* Landlock: files only under `scratch`, no TCP, no signals out; says what it applied in `out`. */
static void confine_files_and_network(const char *scratch, char *out, size_t cap) {
#ifdef AUTOCOMP_LANDLOCK
  long abi = syscall(LL_CREATE_RULESET, NULL, 0, LL_RULESET_VERSION);
  if (abi < 1) {
    snprintf(out, cap, "no Landlock (%s)", strerror(errno));
    return;
  }
  struct autocomp_landlock_ruleset_attr attr = {.handled_access_fs = landlock_fs_rights(abi)};
  if (abi >= 4) attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
  if (abi >= 6) attr.scoped = LL_SCOPE_ABSTRACT_UNIX_SOCKET | LL_SCOPE_SIGNAL;
  int ruleset = (int)syscall(LL_CREATE_RULESET, &attr, landlock_attr_size(abi), 0);
  int dir = open(scratch, O_PATH | O_CLOEXEC | O_DIRECTORY);
  struct autocomp_landlock_path_beneath_attr beneath = {.allowed_access = attr.handled_access_fs, .parent_fd = dir};
  if (ruleset < 0 || dir < 0 || syscall(LL_ADD_RULE, ruleset, LL_RULE_PATH_BENEATH, &beneath, 0) ||
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(LL_RESTRICT_SELF, ruleset, 0))
    snprintf(out, cap, "no Landlock (it failed: %s)", strerror(errno));
  else
    snprintf(out, cap, "landlock-v%ld: files only in the scratch directory%s%s", abi,
             abi >= 4 ? ", no TCP" : "", abi >= 6 ? ", no signals or abstract sockets outside" : "");
  if (dir >= 0) close(dir);
  if (ruleset >= 0) close(ruleset);
#else
  (void)scratch;
  snprintf(out, cap, "no Landlock (Linux only)");
#endif
}

/* Both layers, each where the system has it; `out` says what was applied, for the result. */
static void contain(const char *scratch, char *out, size_t cap) {
  confine_files_and_network(scratch, out, cap);
  size_t used = strlen(out);
#ifdef AUTOCOMP_SECCOMP
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || forbid_processes_and_sockets())
    snprintf(out + used, cap - used, "; no seccomp (it failed: %s)", strerror(errno));
  else
    snprintf(out + used, cap - used, "; seccomp: no threads, processes, exec or sockets");
#else
  snprintf(out + used, cap - used, "; no seccomp (x86-64 and AArch64 Linux only)");
#endif
}

#endif
