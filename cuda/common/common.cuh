// Small device helpers shared by the kernels. Plain CUDA C++: no torch headers anywhere under cuda/.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace ssm::cuda {

template <typename T>
struct Vec2;
template <>
struct Vec2<float> {
  using type = float2;
};
template <>
struct Vec2<double> {
  using type = double2;
};
template <typename T>
using vec2_t = typename Vec2<T>::type;

// exp(x * l) evaluated directly. For float32 the argument is formed in double precision (exact for float x and
// l < 2^29) and the phase reduced modulo 2 pi there, so that long sequences keep float32 accuracy.
__device__ __forceinline__ void exp_at(float xr, float xi, int64_t l, float& er, float& ei) {
  const double ar = static_cast<double>(xr) * static_cast<double>(l);
  double ai = static_cast<double>(xi) * static_cast<double>(l);
  ai -= rint(ai * 0.15915494309189535) * 6.283185307179586;
  const float m = expf(static_cast<float>(ar));
  float s, c;
  sincosf(static_cast<float>(ai), &s, &c);
  er = m * c;
  ei = m * s;
}

__device__ __forceinline__ void exp_at(double xr, double xi, int64_t l, double& er, double& ei) {
  const double m = exp(xr * static_cast<double>(l));
  double s, c;
  sincos(xi * static_cast<double>(l), &s, &c);
  er = m * c;
  ei = m * s;
}

// Conversions between the storage types of real tensors and float32 arithmetic.
__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) { return x; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16(x); }
template <>
__device__ __forceinline__ __half from_float<__half>(float x) { return __float2half(x); }

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Grid of the grid-stride kernels over global memory (the butterfly's column passes, correlation): 256 threads, at
// most 2^20 blocks.
constexpr int kGridThreads = 256;
inline unsigned grid_blocks(int64_t items) {
  const int64_t blocks = ceil_div(items, kGridThreads);
  return static_cast<unsigned>(blocks < (int64_t{1} << 20) ? blocks : (int64_t{1} << 20));
}

}  // namespace ssm::cuda
