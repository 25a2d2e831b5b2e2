#include <stddef.h>

/* Y[n][co][y][x] = sum over ci, ky, kx of X[n][ci][y+ky-1][x+kx-1] * W[co][ci][ky][kx],
 * NCHW, N = 1, Cin = 32, Cout = 64, H = W = 28, 3x3 kernel, stride 1, zero padding 1.
 * Straightforward loops; out-of-range input pixels count as zero. */
void conv2d(const float *restrict X, const float *restrict W, float *restrict Y) {
  const int CIN = 32, COUT = 64, H = 28, WD = 28, KH = 3, KW = 3, PAD = 1;
  for (int co = 0; co < COUT; co++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < WD; x++) {
        float acc = 0.0f;
        for (int ci = 0; ci < CIN; ci++)
          for (int ky = 0; ky < KH; ky++)
            for (int kx = 0; kx < KW; kx++) {
              int iy = y + ky - PAD, ix = x + kx - PAD;
              if (iy < 0 || iy >= H || ix < 0 || ix >= WD) continue;
              acc += X[((size_t)ci * H + iy) * WD + ix] * W[(((size_t)co * CIN + ci) * KH + ky) * KW + kx];
            }
        Y[((size_t)co * H + y) * WD + x] = acc;
      }
}
