// FFT long convolution on CUDA: cuFFT transforms with cached plans, and the pointwise work (padding and casting,
// the spectral product, cropping with the skip term, the batch-reduced kernel gradient) in custom kernels.
// Params and launchers only; the LibTorch glue is src/ops/fft_conv_cuda.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ssm::cuda {

// Element type of u, k, D, k_rev, y and the gradients; computation is float32 in every case.
enum class ConvDtype { kFloat32, kBFloat16, kFloat16 };

// Sizes of one convolution: rows = B * H, row r has channel h = r % H. n: FFT length; F = n / 2 + 1.
struct ConvShape {
  int64_t B, H, L, Lk, n;
};

// dst[r, 0:n] = (float) src[r, 0:L] followed by zeros. src: (rows, L), dst: (rows, n) float.
cudaError_t conv_pad_rows(const void* src, float* dst, int64_t rows, int64_t L, int64_t n, ConvDtype dt,
                          cudaStream_t stream);
// The circular kernel: dst[h, m] = k[h, m] for m < Lk, k_rev[h, n-1-m] for m >= n - Lk (if k_rev), else 0.
cudaError_t conv_pad_kernel(const void* k, const void* k_rev, float* dst, const ConvShape& s, ConvDtype dt,
                            cudaStream_t stream);
// dst[r, f] = scale * src[r, f] * K[r % H, f] (conj_kernel: conj(K[r % H, f])). dst may alias src.
cudaError_t conv_spectral_mul(const float2* src, const float2* K, float2* dst, int64_t rows, int64_t H, int64_t F,
                              float scale, bool conj_kernel, cudaStream_t stream);
// out[r, l] = Y[r, l] + D[h] * u[r, l] for l < L (D optional). Y: (rows, n) float; u, out: (rows, L).
cudaError_t conv_crop_skip(const float* Y, const void* u, const void* D, void* out, const ConvShape& s, ConvDtype dt,
                           cudaStream_t stream);
// G[h, f] = scale * sum_b DY[b, h, f] * conj(U[b, h, f]): the kernel-gradient spectrum, reduced over the batch.
cudaError_t conv_batch_correlate(const float2* DY, const float2* U, float2* G, const ConvShape& s, float scale,
                                 cudaStream_t stream);
// dk[h, m] = g[h, m] (m < Lk); dk_rev[h, d] = g[h, n-1-d] (if dk_rev). g: (H, n) float.
cudaError_t conv_extract_kernel_grad(const float* g, void* dk, void* dk_rev, const ConvShape& s, ConvDtype dt,
                                     cudaStream_t stream);
// dD[h] = sum_{b, l} dy[b, h, l] * u[b, h, l].
cudaError_t conv_skip_grad(const void* dy, const void* u, void* dD, const ConvShape& s, ConvDtype dt,
                           cudaStream_t stream);

// Real FFTs of `batch` contiguous rows of length n through cached cuFFT plans, created on first use for
// (device, n, batch, direction) on the current device and reused. The caller supplies the work area (from the
// framework's allocator). Both return a cuFFT status (0 = success); fft_error_string names it.
// forward: in (batch, n) float -> out (batch, n/2+1) complex; inverse: in (batch, n/2+1) complex (overwritten) ->
// out (batch, n) float, unnormalized.
int fft_work_size(int device, int64_t n, int64_t batch, bool inverse, size_t* work_bytes);
int fft_exec(int device, int64_t n, int64_t batch, bool inverse, void* in, void* out, void* work,
             cudaStream_t stream);
const char* fft_error_string(int status);

}  // namespace ssm::cuda
