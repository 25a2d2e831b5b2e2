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
static uint16_t a[16*32] __attribute__((aligned(64)));
int main(int argc, char**argv){ syscall(SYS_arch_prctl,0x1023,18);
  long S = 1<<20; char *buf = aligned_alloc(4096, S); memset(buf, 0, S);
  cfg_t cfg __attribute__((aligned(64))); memset(&cfg,0,64); cfg.p=1; for(int t=0;t<8;t++){cfg.rows[t]=16;cfg.c[t]=64;}
  _tile_loadconfig(&cfg); _tile_loadd(4,a,64);_tile_loadd(5,a,64);_tile_loadd(6,a,64);_tile_loadd(7,a,64);
  for (int nd = 4; nd <= 64; nd *= 2) for (int mode = 0; mode < 4; mode++) {
    long iters = 20000; long off = 0;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
      for (int d = 0; d < nd; d += 4) { _tile_dpbf16ps(0,4,6); _tile_dpbf16ps(1,4,7); _tile_dpbf16ps(2,5,6); _tile_dpbf16ps(3,5,7); }
      if (mode == 1) { /* store accumulators (dependent) */
        _tile_stored(0, buf+off, 128); _tile_stored(1, buf+off+64, 128); _tile_stored(2, buf+off+2048, 128); _tile_stored(3, buf+off+2048+64, 128);
        off = (off + 4096) & (S-1);
      } else if (mode == 2) { /* store an independent tile (tile 4 = A) */
        _tile_stored(4, buf+off, 64); _tile_stored(4, buf+off+1024, 64); _tile_stored(4, buf+off+2048, 64); _tile_stored(4, buf+off+3072, 64);
        off = (off + 4096) & (S-1);
      } else if (mode == 3) { /* avx512 stores of 4KB */
        __m512i z = _mm512_set1_epi32(i);
        for (int l = 0; l < 64; l++) _mm512_store_si512(buf+off+64*l, z);
        off = (off + 4096) & (S-1);
      }
    }
    double t = now() - t0;
    printf("dps/4KBstore=%2d mode=%d  %.0f GFLOP/s  (store 4KB per %.0f ns)\n", nd, mode, iters*nd*16384.0/t*1e-9, t/iters*1e9);
  }
  _tile_release();
}
