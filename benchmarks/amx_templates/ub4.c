#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
typedef struct __attribute__((packed)) { uint8_t p, s, r[14]; uint16_t c[16]; uint8_t rows[16]; } cfg_t;
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static uint16_t a[16*32] __attribute__((aligned(64)));
#define ITERS 200000
#define RUN(name, extra) { __m512i x=_mm512_set1_epi16(1), y=_mm512_set1_epi16(2), z=_mm512_set1_epi16(3), w=_mm512_set1_epi16(5), idx=_mm512_set1_epi16(7); \
  double t0=now(); for(long i=0;i<ITERS;i++){ _tile_dpbf16ps(0,4,6); extra; _tile_dpbf16ps(1,4,7); extra; _tile_dpbf16ps(2,5,6); extra; _tile_dpbf16ps(3,5,7); extra; } \
  double t=now()-t0; __asm__ volatile(""::"v"(x),"v"(y),"v"(z),"v"(w)); printf("%-30s %.0f GFLOP/s\n", name, 4.0*ITERS*16384/t*1e-9); }
int main(){ syscall(SYS_arch_prctl,0x1023,18);
  cfg_t cfg __attribute__((aligned(64))); memset(&cfg,0,64); cfg.p=1; for(int t=0;t<8;t++){cfg.rows[t]=16;cfg.c[t]=64;}
  _tile_loadconfig(&cfg); _tile_loadd(4,a,64);_tile_loadd(5,a,64);_tile_loadd(6,a,64);_tile_loadd(7,a,64);
  RUN("none", );
  RUN("4 vpermt2w per dp", {x=_mm512_permutex2var_epi16(x,idx,y); y=_mm512_permutex2var_epi16(y,idx,z); z=_mm512_permutex2var_epi16(z,idx,w); w=_mm512_permutex2var_epi16(w,idx,x);});
  RUN("8 vpermt2w per dp", {x=_mm512_permutex2var_epi16(x,idx,y); y=_mm512_permutex2var_epi16(y,idx,z); z=_mm512_permutex2var_epi16(z,idx,w); w=_mm512_permutex2var_epi16(w,idx,x);x=_mm512_permutex2var_epi16(x,idx,y); y=_mm512_permutex2var_epi16(y,idx,z); z=_mm512_permutex2var_epi16(z,idx,w); w=_mm512_permutex2var_epi16(w,idx,x);});
  RUN("8 vpunpcklwd per dp", {x=_mm512_unpacklo_epi16(x,y); y=_mm512_unpacklo_epi16(y,z); z=_mm512_unpacklo_epi16(z,w); w=_mm512_unpacklo_epi16(w,x);x=_mm512_unpacklo_epi16(x,y); y=_mm512_unpacklo_epi16(y,z); z=_mm512_unpacklo_epi16(z,w); w=_mm512_unpacklo_epi16(w,x);});
  RUN("8 vpaddd per dp", {x=_mm512_add_epi32(x,y); y=_mm512_add_epi32(y,z); z=_mm512_add_epi32(z,w); w=_mm512_add_epi32(w,x);x=_mm512_add_epi32(x,y); y=_mm512_add_epi32(y,z); z=_mm512_add_epi32(z,w); w=_mm512_add_epi32(w,x);});
  _tile_release();
}
