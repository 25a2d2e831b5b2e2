// A straightforward CUDA softmax: one block of 256 threads per row; each thread strides over the
// row for the max and then the sum of exponentials (fp32), both reduced through shared memory,
// then writes its elements. No vectorized loads, no warp shuffles, the row read three times.
#include <cuda_fp16.h>

constexpr int THREADS = 256;

__global__ void softmax_rows(const __half* __restrict__ x, __half* __restrict__ y, int n) {
    __shared__ float scratch[THREADS];
    const __half* row = x + (size_t)blockIdx.x * n;
    __half* out = y + (size_t)blockIdx.x * n;
    float m = -INFINITY;
    for (int j = threadIdx.x; j < n; j += THREADS) m = fmaxf(m, __half2float(row[j]));
    scratch[threadIdx.x] = m;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) scratch[threadIdx.x] = fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + s]);
        __syncthreads();
    }
    m = scratch[0];
    __syncthreads();
    float total = 0.f;
    for (int j = threadIdx.x; j < n; j += THREADS) total += expf(__half2float(row[j]) - m);
    scratch[threadIdx.x] = total;
    __syncthreads();
    for (int s = THREADS / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) scratch[threadIdx.x] += scratch[threadIdx.x + s];
        __syncthreads();
    }
    total = scratch[0];
    for (int j = threadIdx.x; j < n; j += THREADS) out[j] = __float2half(expf(__half2float(row[j]) - m) / total);
}

void kernel(torch::Tensor X, torch::Tensor Y) {
    const int rows = X.size(0), n = X.size(1);
    softmax_rows<<<rows, THREADS>>>(reinterpret_cast<const __half*>(X.data_ptr<at::Half>()),
                                    reinterpret_cast<__half*>(Y.data_ptr<at::Half>()), n);
}
