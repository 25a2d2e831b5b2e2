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
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return x<y?-1:x>y;}
#define TIME(name, bytes, body) do { double ts[2000]; int n=0; for(int w=0;w<5;w++){body;} double t0=now(); while(now()-t0<0.3&&n<2000){double s=now(); body; ts[n++]=now()-s;} qsort(ts,n,8,cmpd); printf("%-40s %9.3f us  %7.1f GB/s\n", name, ts[n/2]*1e6, (bytes)/ts[n/2]*1e-9);} while(0)
int main(int argc,char**argv){
  syscall(SYS_arch_prctl,0x1023,18);
  cfg_t cfg __attribute__((aligned(64))); memset(&cfg,0,64); cfg.p=1; for(int t=0;t<8;t++){cfg.rows[t]=16;cfg.c[t]=64;}
  _tile_loadconfig(&cfg);
  long sizes[]={64<<10,256<<10,1<<20,4<<20,16<<20};
  for(int si=0;si<5;si++){ long S=sizes[si]; char *buf=aligned_alloc(4096,S); memset(buf,1,S);
    char nm[64];
    snprintf(nm,64,"tilestored %ldKB stride64",S>>10);
    TIME(nm,S,{ _tile_zero(0); for(long o=0;o<S;o+=1024) _tile_stored(0,buf+o,64); });
    snprintf(nm,64,"tileloadd %ldKB stride64",S>>10);
    TIME(nm,S,{ for(long o=0;o<S;o+=1024) _tile_loadd(1,buf+o,64); });
    snprintf(nm,64,"avx512 store %ldKB",S>>10);
    TIME(nm,S,{ __m512i z=_mm512_set1_epi32(si); for(long o=0;o<S;o+=64) _mm512_store_si512(buf+o,z); __asm__ volatile(""::"r"(buf):"memory");});
    snprintf(nm,64,"avx512 ntstore %ldKB",S>>10);
    TIME(nm,S,{ __m512i z=_mm512_set1_epi32(si); for(long o=0;o<S;o+=64) _mm512_stream_si512((void*)(buf+o),z); _mm_sfence();});
    snprintf(nm,64,"avx512 load %ldKB",S>>10);
    TIME(nm,S,{ __m512i a=_mm512_setzero_si512(); for(long o=0;o<S;o+=64) a=_mm512_add_epi32(a,_mm512_load_si512(buf+o)); __asm__ volatile(""::"v"(a));});
    free(buf);
  }
  _tile_release();
}
