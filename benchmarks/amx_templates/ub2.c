#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
#define TIME(name, bytes, body) do { double ts[20000]; int n=0; for(int w=0;w<5;w++){body;} double t0=now(); while(now()-t0<0.2&&n<20000){double s=now(); body; ts[n++]=now()-s;} qsort(ts,n,8,cmpd); printf("%-40s %9.3f us  %7.1f GB/s\n", name, ts[n/2]*1e6, (bytes)/ts[n/2]*1e-9);} while(0)
int main(int argc,char**argv){
  long sizes[]={16<<10,32<<10,64<<10,256<<10};
  for(int si=0;si<4;si++){ long S=sizes[si]; char *buf=aligned_alloc(4096,S); memset(buf,1,S);
    char nm[64];
    snprintf(nm,64,"avx512 store %ldKB",S>>10);
    TIME(nm,S,{ __m512i z=_mm512_set1_epi32(si); for(long o=0;o<S;o+=64) _mm512_store_si512(buf+o,z); __asm__ volatile(""::"r"(buf):"memory");});
    snprintf(nm,64,"prefetchw+store d=16 %ldKB",S>>10);
    TIME(nm,S,{ __m512i z=_mm512_set1_epi32(si); for(long o=0;o<S;o+=64) {_m_prefetchw(buf+o+1024); _mm512_store_si512(buf+o,z);} __asm__ volatile(""::"r"(buf):"memory");});
    snprintf(nm,64,"load+store(rmw) %ldKB",S>>10);
    TIME(nm,S,{ __m512i z=_mm512_set1_epi32(si); for(long o=0;o<S;o+=64) _mm512_store_si512(buf+o,_mm512_add_epi32(z,_mm512_load_si512(buf+o))); __asm__ volatile(""::"r"(buf):"memory");});
    snprintf(nm,64,"load all then store %ldKB",S>>10);
    TIME(nm,S,{ __m512i z=_mm512_set1_epi32(si); for(long o=0;o<S;o+=64) z=_mm512_add_epi32(z,_mm512_load_si512(buf+o)); for(long o=0;o<S;o+=64) _mm512_store_si512(buf+o,z); __asm__ volatile(""::"r"(buf):"memory");});
    free(buf);
  }
}
