#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
#define TIME(name, bytes, body) do { double ts[20000]; int n=0; for(int w=0;w<5;w++){body;} double t0=now(); while(now()-t0<0.2&&n<20000){double s=now(); body; ts[n++]=now()-s;} qsort(ts,n,8,cmpd); printf("%-40s %9.3f us  %7.1f GB/s\n", name, ts[n/2]*1e6, (bytes)/ts[n/2]*1e-9);} while(0)
#define N 256
#define K 256
#define NB 2
#define TE 512
static uint16_t Bp[K*32] __attribute__((aligned(64)));
static uint16_t B[K*N] __attribute__((aligned(64)));
__attribute__((noinline)) void pack_b(const uint16_t *restrict B, int k0, int nkt, int j0, int ncols, uint16_t *restrict dst) {
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int g = 0; g < ncols / 32; g++) {
    const int jt0 = 2 * g, jt1 = 2 * g + 1;
    uint16_t *d0 = dst + ((long)(jt0 / NB) * nkt * NB + (jt0 % NB)) * TE;
    uint16_t *d1 = dst + ((long)(jt1 / NB) * nkt * NB + (jt1 % NB)) * TE;
    const uint16_t *src = B + (long)k0 * N + j0 + 32 * g;
    for (int kt = 0; kt < nkt; kt++) {
      for (int kk = 0; kk < 16; kk++) {
        const uint16_t *r0 = src + (long)(kt * 32 + 2 * kk) * N;
        __m512i x0 = _mm512_loadu_si512(r0);
        __m512i x1 = _mm512_loadu_si512(r0 + N);
        _mm512_store_si512(d0 + kk * 32, _mm512_permutex2var_epi16(x0, lo, x1));
        _mm512_store_si512(d1 + kk * 32, _mm512_permutex2var_epi16(x0, hi, x1));
      }
      d0 += NB * TE; d1 += NB * TE;
    }
  }
}
int main0(){ memset(B,1,sizeof B);
  TIME("pack one strip (same cols)", 16384, pack_b(B,0,8,0,32,Bp));
  TIME("pack all 8 strips into same buf", 131072, for(int j=0;j<256;j+=32) pack_b(B,0,8,j,32,Bp));
}
// second main variant
static uint16_t Bsmall[256*32] __attribute__((aligned(64)));
__attribute__((noinline)) void pack_b32(const uint16_t *restrict B, uint16_t *restrict dst) {
  const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
  for (int kp = 0; kp < 128; kp++) {
    __m512i x0 = _mm512_loadu_si512(B + 64*kp), x1 = _mm512_loadu_si512(B + 64*kp + 32);
    _mm512_store_si512(dst + 64*kp, _mm512_permutex2var_epi16(x0, lo, x1));
    _mm512_store_si512(dst + 64*kp+32, _mm512_permutex2var_epi16(x0, hi, x1));
  }
}
__attribute__((noinline)) void loads_only(const uint16_t *restrict B, int j0, __m512i *out) {
  __m512i a = _mm512_setzero_si512();
  for (int k = 0; k < 256; k++) a = _mm512_xor_si512(a, _mm512_loadu_si512(B + k*N + j0));
  *out = a;
}
int main(){ memset(B,1,sizeof B); __m512i o;
  TIME("pack one strip L2 src", 16384, pack_b(B,0,8,0,32,Bp));
  TIME("pack contiguous L1 src", 16384, pack_b32(Bsmall,Bp));
  TIME("strided loads 256 rows (same cols)", 16384, loads_only(B,0,&o));
  TIME("strided loads 256 rows x8 strips", 131072, for(int j=0;j<256;j+=32) loads_only(B,j,&o));
  TIME("pack all 8 strips into same buf", 131072, for(int j=0;j<256;j+=32) pack_b(B,0,8,j,32,Bp));
}
