/* Broken on purpose: a correct scalar GEMM with no AMX tile intrinsic -> policy_violation.
 * (The words _tile_loadd and _tile_dpbf16ps in this comment must not satisfy the policy.) */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static float bf16_to_f32(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

void gemm(const uint16_t *restrict A, const uint16_t *restrict B, float *restrict C) {
  const int M = 256, N = 256, K = 256;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float acc = 0.0f;
      for (int k = 0; k < K; k++) acc += bf16_to_f32(A[(size_t)i * K + k]) * bf16_to_f32(B[(size_t)k * N + j]);
      C[(size_t)i * N + j] = acc;
    }
}
