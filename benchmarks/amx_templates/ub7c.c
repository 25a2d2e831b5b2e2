/* block-structure microbenchmark: A chunk in L1 (8 k-steps x 2 tiles), B streamed from a 512 KB buffer,
 * C scratch in L1. Variants of C handling. */
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
#define KS 8
static char Ach[KS * 2 * 1024] __attribute__((aligned(64)));
static char Bst[512 * 1024] __attribute__((aligned(64)));
static float Cs[32 * 144] __attribute__((aligned(64)));
#define LDC (144*4)
static void v1(long nblk, int cio) { /* 2x2 with C load/store per block */
  long boff = 0;
  for (long blk = 0; blk < nblk; blk++) {
    float *c = Cs + (blk & 3) * 32;
    if (cio & 1) { _tile_loadd(0, c, LDC); _tile_loadd(1, c + 16, LDC); _tile_loadd(2, c + 16*144, LDC); _tile_loadd(3, c + 16*144+16, LDC); }
    else { _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3); }
    for (int k = 0; k < KS; k++) {
      char *b = Bst + boff; boff = (boff + 2048) & (sizeof(Bst) - 1);
      _tile_loadd(4, Ach + k * 2048, 64); _tile_loadd(6, b, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(7, b + 1024, 64);
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(5, Ach + k * 2048 + 1024, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_dpbf16ps(3, 5, 7);
    }
    if (cio & 2) { _tile_stored(0, c, LDC); _tile_stored(1, c + 16, LDC); _tile_stored(2, c + 16*144, LDC); _tile_stored(3, c + 16*144+16, LDC); }
  }
}
/* 2x1 with double-buffered C: even blocks accumulate in tiles 0,1, odd in 2,3; the other pair is
 * stored/loaded during the k loop. A tiles 4,5, B tile 6. */
#define V3BLOCK(CA, CB, XA, XB) { \
    float *c = Cs + (blk & 7) * 16; float *cp = Cs + ((blk - 1) & 7) * 16; float *cn = Cs + ((blk + 1) & 7) * 16; \
    for (int k = 0; k < KS; k++) { \
      char *b = Bst + boff; boff = (boff + 1024) & (sizeof(Bst) - 1); \
      _tile_loadd(4, Ach + k * 2048, 64); _tile_loadd(6, b, 64); \
      _tile_dpbf16ps(CA, 4, 6); \
      _tile_loadd(5, Ach + k * 2048 + 1024, 64); \
      _tile_dpbf16ps(CB, 5, 6); \
      if (cio && k == 1) { _tile_stored(XA, cp, LDC); _tile_stored(XB, cp + 16*144, LDC); } \
      if (cio && k == KS - 2) { _tile_loadd(XA, cn, LDC); _tile_loadd(XB, cn + 16*144, LDC); } \
      if (!cio && k == KS - 2) { _tile_zero(XA); _tile_zero(XB); } \
    } }
static void v3(long nblk, int cio) {
  long boff = 0;
  _tile_zero(0); _tile_zero(1);
  for (long blk = 0; blk < nblk; blk += 2) {
    V3BLOCK(0, 1, 2, 3);
    blk++;
    V3BLOCK(2, 3, 0, 1);
    blk--;
  }
}
static void v4(long nblk, int cio) { /* 2x1 without double buffer */
  long boff = 0;
  for (long blk = 0; blk < nblk; blk++) {
    float *c = Cs + (blk & 7) * 16;
    if (cio) { _tile_loadd(0, c, LDC); _tile_loadd(1, c + 16*144, LDC); } else { _tile_zero(0); _tile_zero(1); }
    for (int k = 0; k < KS; k++) {
      char *b = Bst + boff; boff = (boff + 1024) & (sizeof(Bst) - 1);
      _tile_loadd(4, Ach + k * 2048, 64); _tile_loadd(6, b, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(5, Ach + k * 2048 + 1024, 64);
      _tile_dpbf16ps(1, 5, 6);
    }
    if (cio) { _tile_stored(0, c, LDC); _tile_stored(1, c + 16*144, LDC); }
  }
}
/* cross-block software pipelining: the previous block's C tiles are stored (and the new ones loaded)
 * interleaved with the first k-step dps; the next block's first operands are loaded in the last k-step */
static void v5(long nblk, int cio) {
  long boff = 0;
  float *pc = 0;
  char *b = Bst;
  _tile_loadd(4, Ach, 64); _tile_loadd(6, b, 64); _tile_loadd(7, b + 1024, 64); _tile_loadd(5, Ach + 1024, 64);
  for (long blk = 0; blk < nblk; blk++) {
    float *c = Cs + (blk & 3) * 32;
    for (int k = 0; k < KS; k++) {
      char *bn = Bst + ((boff + 2048) & (sizeof(Bst) - 1)); boff = (boff + 2048) & (sizeof(Bst) - 1);
      int kn = (k + 1) % KS;
      if (k == 0) {
        if (pc && (cio & 2)) _tile_stored(0, pc, LDC);
        if (cio & 1) _tile_loadd(0, c, LDC); else _tile_zero(0);
      }
      _tile_dpbf16ps(0, 4, 6);
      if (k == 0) {
        if (pc && (cio & 2)) _tile_stored(1, pc + 16, LDC);
        if (cio & 1) _tile_loadd(1, c + 16, LDC); else _tile_zero(1);
      }
      _tile_dpbf16ps(1, 4, 7);
      _tile_loadd(4, Ach + kn * 2048, 64);
      if (k == 0) {
        if (pc && (cio & 2)) _tile_stored(2, pc + 16*144, LDC);
        if (cio & 1) _tile_loadd(2, c + 16*144, LDC); else _tile_zero(2);
      }
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(6, bn, 64);
      if (k == 0) {
        if (pc && (cio & 2)) _tile_stored(3, pc + 16*144+16, LDC);
        if (cio & 1) _tile_loadd(3, c + 16*144+16, LDC); else _tile_zero(3);
      }
      _tile_dpbf16ps(3, 5, 7);
      _tile_loadd(5, Ach + kn * 2048 + 1024, 64);
      _tile_loadd(7, bn + 1024, 64);
    }
    pc = c;
  }
}
int main(){ syscall(SYS_arch_prctl,0x1023,18);
  memset(Ach,1,sizeof Ach); memset(Bst,1,sizeof Bst); memset(Cs,0,sizeof Cs);
  cfg_t cfg __attribute__((aligned(64))); memset(&cfg,0,64); cfg.p=1; for(int t=0;t<8;t++){cfg.rows[t]=16;cfg.c[t]=64;}
  _tile_loadconfig(&cfg);
  const char *nm[] = {"2x2 no C io", "2x2 C load only", "2x2 C store only", "2x2 C load+store", "xpipe none", "xpipe load", "xpipe store", "xpipe load+store"};
  for (int v = 0; v < 8; v++) {
    double best = 1e9; long nblk = 2000;
    for (int rep = 0; rep < 15; rep++) {
      double t0 = now();
      if (v < 4) v1(nblk, v); else v5(nblk, v - 4);
      double t = now() - t0; if (t < best) best = t;
    }
    double dps = 4.0 * KS * nblk;
    printf("%-24s %.0f GFLOP/s\n", nm[v], dps * 16384 / best * 1e-9);
  }
  _tile_release();
}
