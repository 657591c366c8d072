// FlashButterfly kernels (see butterfly.h): the fused in-shared-memory pipeline and the column passes of the
// multi-pass scheme. Every butterfly stage is a dense r x r complex matrix product per column followed by twiddles;
// radices are compile-time constants so that a column lives in registers.
#include "butterfly.h"
#include "common.cuh"

#include <algorithm>

namespace ssm::cuda {
namespace {

__device__ __forceinline__ float2 cmul(float2 a, float2 b) { return {a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x}; }
// a * conj(b)
__device__ __forceinline__ float2 cmul_conj(float2 a, float2 b) {
  return {a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y};
}
// acc + a * b
__device__ __forceinline__ float2 cfma(float2 a, float2 b, float2 acc) {
  return {fmaf(a.x, b.x, fmaf(-a.y, b.y, acc.x)), fmaf(a.x, b.y, fmaf(a.y, b.x, acc.y))};
}
// acc + conj(a) * b
__device__ __forceinline__ float2 cfma_conj(float2 a, float2 b, float2 acc) {
  return {fmaf(a.x, b.x, fmaf(a.y, b.y, acc.x)), fmaf(a.x, b.y, fmaf(-a.y, b.x, acc.y))};
}

// exp(-2 pi i q / N) for 0 <= q; the phase is reduced exactly in integers first.
__device__ __forceinline__ float2 twiddle(int64_t q, int64_t N) {
  float s, c;
  sincospif(-2.f * static_cast<float>(q % N) / static_cast<float>(N), &s, &c);
  return {c, s};
}

// v <- tw(j) * (F v): one column of a forward stage of sub-problem size N (no twiddle when N == R).
template <int R>
__device__ __forceinline__ void column_forward(float2 (&v)[R], const float2* __restrict__ F, int64_t j, int64_t N) {
  float2 o[R];
#pragma unroll
  for (int a = 0; a < R; ++a) {
    float2 acc = {0.f, 0.f};
#pragma unroll
    for (int i = 0; i < R; ++i) acc = cfma(F[a * R + i], v[i], acc);
    o[a] = (N > R && a > 0) ? cmul(acc, twiddle(static_cast<int64_t>(a) * j, N)) : acc;
  }
#pragma unroll
  for (int a = 0; a < R; ++a) v[a] = o[a];
}

// v <- F^H (conj(tw(j)) * v): the adjoint of column_forward.
template <int R>
__device__ __forceinline__ void column_adjoint(float2 (&v)[R], const float2* __restrict__ F, int64_t j, int64_t N) {
#pragma unroll
  for (int a = 1; a < R; ++a)
    if (N > R) v[a] = cmul_conj(v[a], twiddle(static_cast<int64_t>(a) * j, N));
  float2 o[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    float2 acc = {0.f, 0.f};
#pragma unroll
    for (int a = 0; a < R; ++a) acc = cfma_conj(F[a * R + i], v[a], acc);
    o[i] = acc;
  }
#pragma unroll
  for (int i = 0; i < R; ++i) v[i] = o[i];
}

// One stage over a shared-memory sub-row viewed as (P, R, m): every thread takes columns (p, j).
template <int R, bool kAdjoint>
__device__ __forceinline__ void smem_stage_r(float2* x, int64_t P, int64_t m, const float2* F) {
  const int64_t cols = P * m, N = static_cast<int64_t>(R) * m;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const int64_t p = c / m, j = c - p * m;
    float2* base = x + p * R * m + j;
    float2 v[R];
#pragma unroll
    for (int i = 0; i < R; ++i) v[i] = base[i * m];
    if (kAdjoint)
      column_adjoint<R>(v, F, j, N);
    else
      column_forward<R>(v, F, j, N);
#pragma unroll
    for (int i = 0; i < R; ++i) base[i * m] = v[i];
  }
}

#define SSM_BUTTERFLY_RADIX_SWITCH(r, CALL) \
  switch (r) {                              \
    case 2: CALL(2); break;                 \
    case 3: CALL(3); break;                 \
    case 4: CALL(4); break;                 \
    case 5: CALL(5); break;                 \
    case 6: CALL(6); break;                 \
    case 7: CALL(7); break;                 \
    case 8: CALL(8); break;                 \
    case 9: CALL(9); break;                 \
    case 10: CALL(10); break;               \
    case 12: CALL(12); break;               \
    case 14: CALL(14); break;               \
    case 15: CALL(15); break;               \
    case 16: CALL(16); break;               \
    default: break;                         \
  }

template <bool kAdjoint>
__device__ void smem_stage(float2* x, int r, int64_t P, int64_t m, const float2* F) {
#define SSM_CALL(R) smem_stage_r<R, kAdjoint>(x, P, m, F)
  SSM_BUTTERFLY_RADIX_SWITCH(r, SSM_CALL)
#undef SSM_CALL
}

// Offset of stage k's matrix among the plan's matrices (each r_k^2 complex numbers).
__device__ __forceinline__ int factor_offset(const ButterflyPlan& plan, int k) {
  int off = 0;
  for (int i = 0; i < k; ++i) off += plan.radix[i] * plan.radix[i];
  return off;
}

__host__ __device__ inline int factor_total(const ButterflyPlan& plan) {
  int off = 0;
  for (int i = 0; i < plan.stages; ++i) off += plan.radix[i] * plan.radix[i];
  return off;
}

// Copies stages [first, stages) of a factor set for channel h into shared memory at dst (same offsets as the plan).
__device__ void load_factors(float2* dst, const ButterflyFactors& f, const ButterflyPlan& plan, int first, int64_t h) {
  for (int k = first; k < plan.stages; ++k) {
    const int rr = plan.radix[k] * plan.radix[k];
    const float2* src = f.F[k] + (f.per_channel ? h * rr : 0);
    float2* d = dst + factor_offset(plan, k);
    for (int i = threadIdx.x; i < rr; i += blockDim.x) d[i] = src[i];
  }
}

// The fused pipeline on sub-rows of length n / P[first]: stages [first, stages) in shared memory.
template <typename T>
__global__ void fused_kernel(ButterflyPipeline p, int first) {
  extern __shared__ float2 smem[];
  const ButterflyPlan& plan = p.plan;
  const int64_t n = plan.n, subs = plan.P[first], len = n / subs;
  float2* x = smem;
  float2* Ff = smem + len;
  float2* Fa = Ff + factor_total(plan);
  const T* src = static_cast<const T*>(p.src.in);
  T* dst = static_cast<T*>(p.dst.out);
  const T* skip = static_cast<const T*>(p.skip);
  const T* D = static_cast<const T*>(p.D);
  const bool adjoint = p.spectrum_out == nullptr;
  int64_t loaded_h = -1;
  for (int64_t sr = blockIdx.x; sr < p.rows * subs; sr += gridDim.x) {
    const int64_t row = sr / subs, sub = sr - row * subs, h = row % p.H, off = row * n + sub * len;
    __syncthreads();  // the previous sub-row is fully written out
    if (loaded_h != h && (loaded_h < 0 || p.fwd.per_channel || p.adj.per_channel)) {
      if (p.forward) load_factors(Ff, p.fwd, plan, first, h);
      if (adjoint) load_factors(Fa, p.adj, plan, first, h);
      loaded_h = h;
    }
    if (p.complex_in) {
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) x[t] = p.work[off + t];
    } else {  // real row (first == 0): zero padded to n
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x)
        x[t] = {t < p.src.len ? to_float(src[row * p.src.len + t]) : 0.f, 0.f};
    }
    __syncthreads();
    if (p.forward)
      for (int k = first; k < plan.stages; ++k) {
        smem_stage<false>(x, plan.radix[k], plan.P[k] / subs, plan.m[k], Ff + factor_offset(plan, k));
        __syncthreads();
      }
    if (!adjoint) {
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) p.spectrum_out[off + t] = x[t];
      continue;
    }
    if (p.spectrum != nullptr) {
      const float2* K = p.spectrum + h * n + sub * len;
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x)
        x[t] = p.conj_spectrum ? cmul_conj(x[t], K[t]) : cmul(x[t], K[t]);
      __syncthreads();
    }
    for (int k = plan.stages - 1; k >= first; --k) {
      smem_stage<true>(x, plan.radix[k], plan.P[k] / subs, plan.m[k], Fa + factor_offset(plan, k));
      __syncthreads();
    }
    if (p.complex_out) {
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x)
        p.work[off + t] = {p.scale * x[t].x, p.scale * x[t].y};
    } else {  // real row (first == 0)
      const float d = D != nullptr ? to_float(D[h]) : 0.f;
      for (int64_t t = threadIdx.x; t < p.dst.len; t += blockDim.x) {
        float val = p.scale * x[t].x;
        if (D != nullptr) val = fmaf(d, to_float(skip[row * p.dst.len + t]), val);
        dst[row * p.dst.len + t] = from_float<T>(val);
      }
    }
  }
}

// One outer stage k over the whole rows in global memory, a column (row, p, j) per thread, in place in p.work.
// Forward stage 0 may read the real input; adjoint stage 0 may write the real output.
template <typename T, int R, bool kAdjoint>
__global__ void column_kernel(ButterflyPipeline p, int k) {
  const ButterflyPlan& plan = p.plan;
  const int64_t n = plan.n, P = plan.P[k], m = plan.m[k], N = R * m;
  const int64_t per_row = P * m, total = p.rows * per_row;
  const bool real_in = !kAdjoint && k == 0 && !p.complex_in;
  const bool real_out = kAdjoint && k == 0 && !p.complex_out;
  const ButterflyFactors& f = kAdjoint ? p.adj : p.fwd;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < total;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = c / per_row, rem = c - row * per_row, pp = rem / m, j = rem - pp * m, h = row % p.H;
    const float2* F = f.F[k] + (f.per_channel ? h * R * R : 0);
    float2* base = p.work + row * n + pp * R * m + j;
    float2 v[R];
    if (real_in) {
      const T* src = static_cast<const T*>(p.src.in) + row * p.src.len;
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int64_t t = i * m + j;
        v[i] = {t < p.src.len ? to_float(src[t]) : 0.f, 0.f};
      }
    } else {
#pragma unroll
      for (int i = 0; i < R; ++i) v[i] = base[i * m];
    }
    if (kAdjoint)
      column_adjoint<R>(v, F, j, N);
    else
      column_forward<R>(v, F, j, N);
    if (real_out) {
      T* dst = static_cast<T*>(p.dst.out) + row * p.dst.len;
      const T* skip = static_cast<const T*>(p.skip) + row * p.dst.len;
      const float d = p.D != nullptr ? to_float(static_cast<const T*>(p.D)[h]) : 0.f;
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int64_t t = i * m + j;
        if (t < p.dst.len) {
          float val = p.scale * v[i].x;
          if (p.D != nullptr) val = fmaf(d, to_float(skip[t]), val);
          dst[t] = from_float<T>(val);
        }
      }
    } else {
      const float s = (kAdjoint && k == 0) ? p.scale : 1.f;
#pragma unroll
      for (int i = 0; i < R; ++i) base[i * m] = {s * v[i].x, s * v[i].y};
    }
  }
}

int fused_threads(int64_t len) {
  const int64_t t = std::clamp<int64_t>(ceil_div(len / 2, 32) * 32, 32, 512);
  return static_cast<int>(t);
}

template <typename T>
cudaError_t launch_fused(const ButterflyPipeline& p, int first, cudaStream_t stream) {
  const int64_t len = p.plan.n / p.plan.P[first];
  const size_t smem = butterfly_fused_smem(len) + 2 * sizeof(float2) * factor_total(p.plan);
  cudaError_t err = cudaFuncSetAttribute(fused_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const int64_t blocks = std::min<int64_t>(p.rows * p.plan.P[first], int64_t{1} << 24);
  fused_kernel<T><<<static_cast<unsigned>(blocks), fused_threads(len), smem, stream>>>(p, first);
  return cudaGetLastError();
}

template <typename T, bool kAdjoint>
cudaError_t launch_column(const ButterflyPipeline& p, int k, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t total = p.rows * p.plan.n / p.plan.radix[k];
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(total, kThreads), int64_t{1} << 20));
#define SSM_CALL(R) column_kernel<T, R, kAdjoint><<<blocks, kThreads, 0, stream>>>(p, k)
  SSM_BUTTERFLY_RADIX_SWITCH(p.plan.radix[k], SSM_CALL)
#undef SSM_CALL
  return cudaGetLastError();
}

template <typename T>
cudaError_t run(const ButterflyPipeline& p, cudaStream_t stream) {
  int first = 0;
  while (p.plan.n / p.plan.P[first] > kButterflyMaxFused) ++first;
  if (first == 0) return launch_fused<T>(p, 0, stream);
  if (p.work == nullptr) return cudaErrorInvalidValue;
  cudaError_t err = cudaSuccess;
  if (p.forward)
    for (int k = 0; k < first && err == cudaSuccess; ++k) err = launch_column<T, false>(p, k, stream);
  if (err != cudaSuccess) return err;
  ButterflyPipeline inner = p;
  inner.complex_in = true;
  inner.complex_out = true;
  inner.scale = 1.f;
  err = launch_fused<T>(inner, first, stream);
  if (err != cudaSuccess || p.spectrum_out != nullptr) return err;
  for (int k = first - 1; k >= 0 && err == cudaSuccess; --k) err = launch_column<T, true>(p, k, stream);
  return err;
}

}  // namespace

size_t butterfly_fused_smem(int64_t len) {
  return len <= kButterflyMaxFused ? static_cast<size_t>(len) * sizeof(float2) : 0;
}

cudaError_t butterfly_run(const ButterflyPipeline& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  switch (p.dtype) {
    case ConvDtype::kFloat32: return run<float>(p, stream);
    case ConvDtype::kBFloat16: return run<__nv_bfloat16>(p, stream);
    case ConvDtype::kFloat16: return run<__half>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ssm::cuda
