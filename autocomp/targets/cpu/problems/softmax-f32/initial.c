#include <math.h>
#include <stddef.h>

/* Row-wise softmax of X[512][1024] (row-major): subtract the row maximum for numerical
 * stability, exponentiate, and divide by the row sum. Straightforward loops. */
void softmax(const float *restrict X, float *restrict Y) {
  const int ROWS = 512, COLS = 1024;
  for (int i = 0; i < ROWS; i++) {
    const float *x = X + (size_t)i * COLS;
    float *y = Y + (size_t)i * COLS;
    float m = x[0];
    for (int j = 1; j < COLS; j++)
      if (x[j] > m) m = x[j];
    float sum = 0.0f;
    for (int j = 0; j < COLS; j++) {
      y[j] = expf(x[j] - m);
      sum += y[j];
    }
    for (int j = 0; j < COLS; j++) y[j] = y[j] / sum;
  }
}
