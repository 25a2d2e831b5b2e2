/* @template family=softmax shapes="X[ROWS][COLS] Y[ROWS][COLS]" */
/* Row-wise softmax of X[ROWS][COLS], row-major fp32, numerically stable: a parameterized
 * kernel for the tuner.
 *
 * Any COLS: the vector loops cover the first COLS / STEP * STEP columns and the rest go one at a
 * time through the same exp (a loop the compiler drops when STEP divides COLS).
 *
 * Per row: the maximum (UNROLL vector accumulators, so the max chains overlap), then
 * exp(x - max) with a vectorized exp, their sum, and a final scaling by 1 / sum. With RECOMPUTE 0
 * the exponentials are stored in the second pass and scaled in place in the third; with 1 the
 * second pass only sums and the third recomputes exp(x - max) * (1 / sum), writing Y once
 * (twice the exp work, half the Y traffic). DIVIDE 1 divides by the sum instead of multiplying
 * by its reciprocal.
 *
 * exp: n = round(x * log2(e)) (the 1.5 * 2^23 trick), r = x - n * ln 2 in two parts (Cody-Waite),
 * e^r by its degree-6 Taylor polynomial (|r| <= 0.35: relative error ~1e-7), times 2^n built in
 * the exponent bits; inputs below -87.3 are clamped there (e^-87.3 ~ 1e-38; such terms cannot
 * matter next to the row maximum's e^0 = 1). GCC vectors of the native width (VW floats: 16 with
 * AVX-512, 8 otherwise). */
#include <stddef.h>
#include <stdint.h>

#define ROWS 512 /* @param ROWS */
#define COLS 1024 /* @param COLS */

#define UNROLL 2 /* @knob values=1,2,4 menu="loop unrolling" */
#define RECOMPUTE 0 /* @knob values=0,1 menu="fuse loops and epilogues" */
#define DIVIDE 0 /* @knob values=0,1 menu="replace expensive operations with cheaper equivalents" */

#ifdef __AVX512F__
#define VW 16
#else
#define VW 8
#endif
#define STEP (VW * UNROLL)
#define BODY (COLS / STEP * STEP) /* columns the vector loops cover; the last COLS % STEP go one at a time */
typedef float vf __attribute__((vector_size(VW * 4), aligned(4), may_alias));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

static inline vf splat(float v) {
  vf out;
  for (int i = 0; i < VW; i++) out[i] = v;
  return out;
}

static inline vf vmax(vf a, vf b) {
  const vi take_b = b > a;
  return (vf)(((vi)a & ~take_b) | ((vi)b & take_b));
}

static inline vf vexp(vf x) {
  const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits */
  x = vmax(x, splat(-87.3f));
  const vf t = x * splat(1.44269504f) + splat(magic);
  const vf n = t - splat(magic);
  const vf r = (x - n * splat(0.693145752f)) - n * splat(1.42860677e-6f);
  vf p = splat(1.0f / 720);
  p = p * r + splat(1.0f / 120);
  p = p * r + splat(1.0f / 24);
  p = p * r + splat(1.0f / 6);
  p = p * r + splat(0.5f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  const vi e = ((vi)t - (vi)splat(magic) + 127) << 23; /* 2^n in the exponent field */
  return p * (vf)e;
}

static inline float hmax(vf v) {
  float m = v[0];
  for (int i = 1; i < VW; i++) m = v[i] > m ? v[i] : m;
  return m;
}

static inline float sexp(float v) { return vexp(splat(v))[0]; } /* the same exp, for the tail */

static inline float hsum(vf v) {
  float s = 0;
  for (int i = 0; i < VW; i++) s += v[i];
  return s;
}

void softmax(const float *restrict X, float *restrict Y) {
  for (int i = 0; i < ROWS; i++) {
    const float *x = X + (size_t)i * COLS;
    float *y = Y + (size_t)i * COLS;
    vf mx[UNROLL];
    for (int u = 0; u < UNROLL; u++) mx[u] = splat(x[0]);
    for (int j = 0; j < BODY; j += STEP)
#pragma GCC unroll 4
      for (int u = 0; u < UNROLL; u++) mx[u] = vmax(mx[u], *(const vf *)(x + j + VW * u));
    for (int u = 1; u < UNROLL; u++) mx[0] = vmax(mx[0], mx[u]);
    float ms = hmax(mx[0]);
    for (int j = BODY; j < COLS; j++) ms = x[j] > ms ? x[j] : ms;
    const vf m = splat(ms);

    vf sum[UNROLL];
    for (int u = 0; u < UNROLL; u++) sum[u] = splat(0.0f);
    for (int j = 0; j < BODY; j += STEP)
#pragma GCC unroll 4
      for (int u = 0; u < UNROLL; u++) {
        const vf e = vexp(*(const vf *)(x + j + VW * u) - m);
        sum[u] += e;
        if (!RECOMPUTE) *(vf *)(y + j + VW * u) = e;
      }
    for (int u = 1; u < UNROLL; u++) sum[0] += sum[u];
    float total = hsum(sum[0]);
    for (int j = BODY; j < COLS; j++) {
      const float e = sexp(x[j] - ms);
      total += e;
      if (!RECOMPUTE) y[j] = e;
    }

    const vf scale = splat(1.0f / total), denom = splat(total);
    for (int j = 0; j < BODY; j += STEP)
#pragma GCC unroll 4
      for (int u = 0; u < UNROLL; u++) {
        const vf e = RECOMPUTE ? vexp(*(const vf *)(x + j + VW * u) - m) : *(const vf *)(y + j + VW * u);
        *(vf *)(y + j + VW * u) = DIVIDE ? e / denom : e * scale;
      }
    for (int j = BODY; j < COLS; j++) {
      const float e = RECOMPUTE ? sexp(x[j] - ms) : y[j];
      y[j] = DIVIDE ? e / total : e * (1.0f / total);
    }
  }
}
