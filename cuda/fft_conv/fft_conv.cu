// Pointwise kernels of the FFT convolution and the cuFFT plan cache (see fft_conv.h).
#include "common/common.cuh"
#include "fft_conv/fft_conv.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cufft.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

namespace ssm::cuda {
namespace {

constexpr int kThreads = 256;

// Blocks over (columns, rows): x covers columns, y covers rows (each loops over the rest with a grid stride).
dim3 grid_2d(int64_t cols, int64_t rows) {
  const int64_t gx = std::min<int64_t>(ceil_div(std::max<int64_t>(cols, 1), kThreads), 1024);
  const int64_t gy = std::min<int64_t>(std::max<int64_t>(rows, 1), 65535);
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy));
}

#define SSM_ROWS_COLS(rows, cols)                                                   \
  for (int64_t r = blockIdx.y; r < (rows); r += gridDim.y)                          \
    for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < (cols); \
         c += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void pad_rows_kernel(const T* __restrict__ src, float* __restrict__ dst, int64_t rows, int64_t L,
                                int64_t n) {
  SSM_ROWS_COLS(rows, n) { dst[r * n + c] = c < L ? to_float(src[r * L + c]) : 0.f; }
}

template <typename T>
__global__ void pad_kernel_kernel(const T* __restrict__ k, const T* __restrict__ k_rev, float* __restrict__ dst,
                                  ConvShape s) {
  SSM_ROWS_COLS(s.H, s.n) {
    float val = 0.f;
    if (c < s.Lk) {
      val = to_float(k[r * s.Lk + c]);
    } else if (k_rev != nullptr && c >= s.n - s.Lk) {
      val = to_float(k_rev[r * s.Lk + (s.n - 1 - c)]);
    }
    dst[r * s.n + c] = val;
  }
}

__global__ void spectral_mul_kernel(const float2* src, const float2* __restrict__ K, float2* dst, int64_t rows,
                                    int64_t H, int64_t F, float scale, bool conj_kernel) {
  SSM_ROWS_COLS(rows, F) {
    const float2 a = src[r * F + c];
    float2 k = K[(r % H) * F + c];
    if (conj_kernel) k.y = -k.y;
    dst[r * F + c] = make_float2(scale * (a.x * k.x - a.y * k.y), scale * (a.x * k.y + a.y * k.x));
  }
}

template <typename T>
__global__ void crop_skip_kernel(const float* __restrict__ Y, const T* __restrict__ u, const T* __restrict__ D,
                                 T* __restrict__ out, int64_t rows, ConvShape s) {
  SSM_ROWS_COLS(rows, s.L) {
    float y = Y[r * s.n + c];
    if (D != nullptr) y += to_float(D[r % s.H]) * to_float(u[r * s.L + c]);
    out[r * s.L + c] = from_float<T>(y);
  }
}

__global__ void batch_correlate_kernel(const float2* __restrict__ DY, const float2* __restrict__ U,
                                       float2* __restrict__ G, ConvShape s, int64_t F, float scale) {
  SSM_ROWS_COLS(s.H, F) {
    float re = 0.f, im = 0.f;
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t idx = (b * s.H + r) * F + c;
      const float2 y = DY[idx], x = U[idx];
      re += y.x * x.x + y.y * x.y;  // y * conj(x)
      im += y.y * x.x - y.x * x.y;
    }
    G[r * F + c] = make_float2(scale * re, scale * im);
  }
}

template <typename T>
__global__ void extract_kernel_grad_kernel(const float* __restrict__ g, T* __restrict__ dk, T* __restrict__ dk_rev,
                                           ConvShape s) {
  SSM_ROWS_COLS(s.H, s.Lk) {
    if (dk != nullptr) dk[r * s.Lk + c] = from_float<T>(g[r * s.n + c]);
    if (dk_rev != nullptr) dk_rev[r * s.Lk + c] = from_float<T>(g[r * s.n + (s.n - 1 - c)]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) skip_grad_kernel(const T* __restrict__ dy, const T* __restrict__ u,
                                                             T* __restrict__ dD, ConvShape s) {
  __shared__ float warp_sums[kThreads / 32];
  for (int64_t h = blockIdx.x; h < s.H; h += gridDim.x) {
    float acc = 0.f;
    for (int64_t i = threadIdx.x; i < s.B * s.L; i += kThreads) {
      const int64_t b = i / s.L, l = i % s.L;
      const int64_t idx = (b * s.H + h) * s.L + l;
      acc += to_float(dy[idx]) * to_float(u[idx]);
    }
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
    __syncthreads();
    if (threadIdx.x == 0) {
      float total = 0.f;
      for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
      dD[h] = from_float<T>(total);
    }
    __syncthreads();
  }
}

// Calls f with a null pointer of the element type selected by dt.
template <typename F>
cudaError_t dispatch_dtype(ConvDtype dt, F&& f) {
  switch (dt) {
    case ConvDtype::kFloat32: return f(static_cast<float*>(nullptr));
    case ConvDtype::kBFloat16: return f(static_cast<__nv_bfloat16*>(nullptr));
    case ConvDtype::kFloat16: return f(static_cast<__half*>(nullptr));
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t conv_pad_rows(const void* src, float* dst, int64_t rows, int64_t L, int64_t n, ConvDtype dt,
                          cudaStream_t stream) {
  return dispatch_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    pad_rows_kernel<T><<<grid_2d(n, rows), kThreads, 0, stream>>>(static_cast<const T*>(src), dst, rows, L, n);
    return cudaGetLastError();
  });
}

cudaError_t conv_pad_kernel(const void* k, const void* k_rev, float* dst, const ConvShape& s, ConvDtype dt,
                            cudaStream_t stream) {
  return dispatch_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    pad_kernel_kernel<T><<<grid_2d(s.n, s.H), kThreads, 0, stream>>>(static_cast<const T*>(k),
                                                                      static_cast<const T*>(k_rev), dst, s);
    return cudaGetLastError();
  });
}

cudaError_t conv_spectral_mul(const float2* src, const float2* K, float2* dst, int64_t rows, int64_t H, int64_t F,
                              float scale, bool conj_kernel, cudaStream_t stream) {
  spectral_mul_kernel<<<grid_2d(F, rows), kThreads, 0, stream>>>(src, K, dst, rows, H, F, scale, conj_kernel);
  return cudaGetLastError();
}

cudaError_t conv_crop_skip(const float* Y, const void* u, const void* D, void* out, const ConvShape& s, ConvDtype dt,
                           cudaStream_t stream) {
  const int64_t rows = s.B * s.H;
  return dispatch_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    crop_skip_kernel<T><<<grid_2d(s.L, rows), kThreads, 0, stream>>>(
        Y, static_cast<const T*>(u), static_cast<const T*>(D), static_cast<T*>(out), rows, s);
    return cudaGetLastError();
  });
}

cudaError_t conv_batch_correlate(const float2* DY, const float2* U, float2* G, const ConvShape& s, float scale,
                                 cudaStream_t stream) {
  const int64_t F = s.n / 2 + 1;
  batch_correlate_kernel<<<grid_2d(F, s.H), kThreads, 0, stream>>>(DY, U, G, s, F, scale);
  return cudaGetLastError();
}

cudaError_t conv_extract_kernel_grad(const float* g, void* dk, void* dk_rev, const ConvShape& s, ConvDtype dt,
                                     cudaStream_t stream) {
  return dispatch_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    extract_kernel_grad_kernel<T><<<grid_2d(s.Lk, s.H), kThreads, 0, stream>>>(g, static_cast<T*>(dk),
                                                                                static_cast<T*>(dk_rev), s);
    return cudaGetLastError();
  });
}

cudaError_t conv_skip_grad(const void* dy, const void* u, void* dD, const ConvShape& s, ConvDtype dt,
                           cudaStream_t stream) {
  return dispatch_dtype(dt, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(s.H, 1), 65535));
    skip_grad_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<const T*>(dy), static_cast<const T*>(u),
                                                         static_cast<T*>(dD), s);
    return cudaGetLastError();
  });
}

// ---- cuFFT plan cache ----------------------------------------------------------------------------------------------
namespace {

struct Plan {
  cufftHandle handle;
  size_t work_bytes;
};

struct PlanCache {
  std::mutex mutex;  // guards the map, and every look-up / set-stream / set-work-area / execute sequence
  std::map<std::tuple<int, int64_t, int64_t, bool>, Plan> plans;
};

PlanCache& plan_cache() {
  static PlanCache* cache = new PlanCache();  // never destroyed: plans may be used until process exit
  return *cache;
}

// Plans kept at most; beyond it the cache is emptied (a workload rarely cycles through more sizes).
constexpr size_t kMaxPlans = 64;

// The plan for the key, made if missing. Call with the cache's mutex held.
cufftResult find_plan(PlanCache& cache, int device, int64_t n, int64_t batch, bool inverse, Plan* plan) {
  const auto key = std::make_tuple(device, n, batch, inverse);
  auto it = cache.plans.find(key);
  if (it != cache.plans.end()) {
    *plan = it->second;
    return CUFFT_SUCCESS;
  }
  if (cache.plans.size() >= kMaxPlans) {
    for (auto& kv : cache.plans) cufftDestroy(kv.second.handle);
    cache.plans.clear();
  }
  cufftHandle handle;
  cufftResult st = cufftCreate(&handle);
  if (st != CUFFT_SUCCESS) return st;
  st = cufftSetAutoAllocation(handle, 0);
  long long len = n;
  size_t work = 0;
  if (st == CUFFT_SUCCESS)
    st = cufftMakePlanMany64(handle, 1, &len, nullptr, 1, 0, nullptr, 1, 0, inverse ? CUFFT_C2R : CUFFT_R2C, batch,
                             &work);
  if (st != CUFFT_SUCCESS) {
    cufftDestroy(handle);
    return st;
  }
  *plan = Plan{handle, work};
  cache.plans.emplace(key, *plan);
  return CUFFT_SUCCESS;
}

}  // namespace

int fft_work_size(int device, int64_t n, int64_t batch, bool inverse, size_t* work_bytes) {
  PlanCache& cache = plan_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  Plan plan{};
  const cufftResult st = find_plan(cache, device, n, batch, inverse, &plan);
  *work_bytes = plan.work_bytes;
  return st;
}

int fft_exec(int device, int64_t n, int64_t batch, bool inverse, void* in, void* out, void* work,
             cudaStream_t stream) {
  PlanCache& cache = plan_cache();
  std::lock_guard<std::mutex> lock(cache.mutex);
  Plan plan{};
  cufftResult st = find_plan(cache, device, n, batch, inverse, &plan);
  if (st == CUFFT_SUCCESS) st = cufftSetStream(plan.handle, stream);
  if (st == CUFFT_SUCCESS) st = cufftSetWorkArea(plan.handle, work);
  if (st != CUFFT_SUCCESS) return st;
  return inverse ? cufftExecC2R(plan.handle, static_cast<cufftComplex*>(in), static_cast<cufftReal*>(out))
                 : cufftExecR2C(plan.handle, static_cast<cufftReal*>(in), static_cast<cufftComplex*>(out));
}

const char* fft_error_string(int status) {
  switch (status) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_INVALID_DEVICE: return "CUFFT_INVALID_DEVICE";
    case CUFFT_NO_WORKSPACE: return "CUFFT_NO_WORKSPACE";
    case CUFFT_NOT_IMPLEMENTED: return "CUFFT_NOT_IMPLEMENTED";
    case CUFFT_NOT_SUPPORTED: return "CUFFT_NOT_SUPPORTED";
    default: return "unknown cuFFT error";
  }
}

}  // namespace ssm::cuda
