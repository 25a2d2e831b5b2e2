/* Exo-style int8 GEMM (docs/gemmini-spec.md §10 starting-code shape) used by the emulator tests and the speed
 * measurement: C[I][J] = A[I][K] * B[K][J], int8 in, int8 out, scale 1, no activation.
 * Usage: gemm_exo I K J [repeats] -> prints "mismatches N" and the metrics line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void autocomp_metrics_begin(void);
int autocomp_metrics_end(char *buf, int cap);

static void solution(const elem_t *A, const elem_t *B, elem_t *C, int I, int K, int J) {
  const uint32_t acc = 1u << 31, accum = 1u << 30, A_sp = 0, B_sp = 512;
  config_st(J);
  config_ex(WEIGHT_STATIONARY, NO_ACTIVATION, 1, false, false);
  config_ld(K, MVIN_SCALE_IDENTITY, 16, 1);
  config_ld(J, MVIN_SCALE_IDENTITY, 16, 2);
  config_ld(0, MVIN_SCALE_IDENTITY, 16, 0);
  for (int i = 0; i < I / 16; i++)
    for (int j = 0; j < J / 64; j++) {
      for (int jj = 0; jj < 4; jj++) mvin(0, acc | (jj * 16), 16, 16);
      for (int k = 0; k < K / 64; k++) {
        mvin2(A + (i * 16) * K + k * 64, A_sp, 64, 16);
        for (int kk = 0; kk < 4; kk++) mvin3(B + (k * 64 + kk * 16) * J + j * 64, B_sp + kk * 64, 64, 16);
        for (int kk = 0; kk < 4; kk++)
          for (int jj = 0; jj < 4; jj++) {
            preload(B_sp + kk * 64 + jj * 16, acc | accum | (jj * 16), 16, 16, 16, 16);
            compute_preloaded(A_sp + kk * 16, GARBAGE_ADDR, 16, 16, 16, 16);
          }
      }
      for (int jj = 0; jj < 4; jj++) mvout(C + (i * 16) * J + j * 64 + jj * 16, acc | (jj * 16), 16, 16);
    }
  fence();
}

int main(int argc, char **argv) {
  int I = atoi(argv[1]), K = atoi(argv[2]), J = atoi(argv[3]), reps = argc > 4 ? atoi(argv[4]) : 1;
  elem_t *A = malloc((size_t)I * K), *B = malloc((size_t)K * J), *C = malloc((size_t)I * J);
  int32_t *G = malloc(sizeof(int32_t) * I * J);
  srand(1);
  for (int i = 0; i < I * K; i++) A[i] = (elem_t)(rand() % 17 - 8);
  for (int i = 0; i < K * J; i++) B[i] = (elem_t)(rand() % 17 - 8);
  memset(G, 0, sizeof(int32_t) * I * J);
  for (int i = 0; i < I; i++)
    for (int k = 0; k < K; k++)
      for (int j = 0; j < J; j++) G[i * J + j] += A[i * K + k] * B[k * J + j];
  long bad = 0;
  char buf[1024];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int r = 0; r < reps; r++) {
    memset(C, 0x5A, (size_t)I * J);
    autocomp_metrics_begin();
    solution(A, B, C, I, K, J);
    autocomp_metrics_end(buf, sizeof buf);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  for (int i = 0; i < I * J; i++) {
    int g = G[i] > 127 ? 127 : G[i] < -128 ? -128 : G[i];
    bad += C[i] != g;
  }
  printf("mismatches %ld\n%s\nseconds_per_call %.4f\n", bad, buf,
         ((t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec)) / reps);
  return 0;
}
