#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
typedef struct __attribute__((packed)) { uint8_t p, s, r[14]; uint16_t c[16]; uint8_t rows[16]; } cfg_t;
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static uint16_t a[4][16*32] __attribute__((aligned(64)));
int main(int argc, char**argv){ syscall(SYS_arch_prctl,0x1023,18);
  long S = 1<<20; char *buf = aligned_alloc(4096, S); memset(buf, 0, S);
  char *l1buf = aligned_alloc(4096, 8192); memset(l1buf, 0, 8192);
  cfg_t cfg __attribute__((aligned(64))); memset(&cfg,0,64); cfg.p=1; for(int t=0;t<8;t++){cfg.rows[t]=16;cfg.c[t]=64;}
  _tile_loadconfig(&cfg);
  for (int nd = 8; nd <= 64; nd *= 2) for (int mode = 0; mode < 5; mode++) {
    long iters = 4000; long off = 0; double best = 1e9;
    for (int rep = 0; rep < 15; rep++) {
    double t0 = now();
    for (long i = 0; i < iters; i++) {
      for (int d = 0; d < nd; d += 4) {
        _tile_loadd(4,a[0],64); _tile_loadd(6,a[1],64);
        _tile_dpbf16ps(0,4,6); _tile_loadd(7,a[2],64); _tile_dpbf16ps(1,4,7); _tile_loadd(5,a[3],64); _tile_dpbf16ps(2,5,6); _tile_dpbf16ps(3,5,7); }
      if (mode == 1) { /* tile stores of accumulators to L2 buffer */
        _tile_stored(0, buf+off, 128); _tile_stored(1, buf+off+64, 128); _tile_stored(2, buf+off+2048, 128); _tile_stored(3, buf+off+2048+64, 128);
        off = (off + 4096) & (S-1);
      } else if (mode == 2) { /* avx512 stores of 4KB to L2 buffer */
        __m512i z = _mm512_set1_epi32(i);
        for (int l = 0; l < 64; l++) _mm512_store_si512(buf+off+64*l, z);
        off = (off + 4096) & (S-1);
      } else if (mode == 3) { /* 4KB avx512 stores to an L1 buffer */
        __m512i z = _mm512_set1_epi32(i);
        for (int l = 0; l < 64; l++) _mm512_store_si512(l1buf+64*l, z);
      } else if (mode == 4) { /* tile stores to L1 buffer */
        _tile_stored(0, l1buf, 64); _tile_stored(1, l1buf+1024, 64); _tile_stored(2, l1buf+2048, 64); _tile_stored(3, l1buf+3072, 64);
      }
    }
    double t = now() - t0; if (t < best) best = t; }
    double t = best;
    printf("dps per 4KB store=%2d mode=%d  %.0f GFLOP/s  (%.0f ns per iter)\n", nd, mode, iters*nd*16384.0/t*1e-9, t/iters*1e9);
  }
  _tile_release();
}
