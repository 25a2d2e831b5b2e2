/* Sabotage (issue 17, hole 2, another way in): where the candidate shares a process with the
 * initial code it is compared with, it finds that code's `gemm` (dl_iterate_phdr lists every
 * loaded object; the initial code's lives in .../baseline/kernel.so), makes its page writable
 * and overwrites its first bytes with a jump to a copy that computes everything twice. The
 * candidate itself is the initial triple loop: a forged 2x. Needs dlopen/mprotect through the
 * policy (the test lets them through: only the process boundary may stop this). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* <dlfcn.h>, <link.h> and <sys/mman.h> are banned headers; their declarations are not */
struct dl_phdr_info {
  uintptr_t dlpi_addr;
  const char *dlpi_name;
};
extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *);
extern void *dlopen(const char *, int);
extern void *dlsym(void *, const char *);
extern int mprotect(void *, size_t, int);
#define RTLD_NOW 2
#define RTLD_NOLOAD 4
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4

static void naive(const float *restrict A, const float *restrict B, float *restrict C) {
  for (int i = 0; i < 256; i++)
    for (int j = 0; j < 256; j++) {
      float acc = 0.0f;
      for (int k = 0; k < 256; k++) acc += A[(size_t)i * 256 + k] * B[(size_t)k * 256 + j];
      C[(size_t)i * 256 + j] = acc;
    }
}

static void twice(const float *restrict A, const float *restrict B, float *restrict C) {
  naive(A, B, C);
  naive(A, B, C);
}

static int find_baseline(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  const char *name = info->dlpi_name, *tail = "/baseline/kernel.so";
  size_t n = name ? strlen(name) : 0, t = strlen(tail);
  if (n < t || strcmp(name + n - t, tail)) return 0;
  void *h = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
  *(void **)data = h ? dlsym(h, "gemm") : NULL;
  return 1;
}

static int tried;

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  if (!tried) {
    tried = 1;
    void *target = NULL;
    dl_iterate_phdr(find_baseline, &target);
    if (target) {
      uintptr_t page = (uintptr_t)target & ~(uintptr_t)4095;
      if (!mprotect((void *)page, 8192, PROT_READ | PROT_WRITE | PROT_EXEC)) {
#if defined(__x86_64__)
        unsigned char jump[12] = {0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xE0}; /* movabs rax, twice; jmp rax */
        uint64_t to = (uint64_t)(uintptr_t)twice;
        memcpy(jump + 2, &to, 8);
        memcpy(target, jump, sizeof jump);
#endif
      }
    }
  }
  naive(A, B, C);
}
