// Forward 2-D selective scan (see selective_scan_2d.h).
#include "common/common.cuh"
#include "common/warp.cuh"
#include "selective_scan_2d/selective_scan_2d.h"

namespace ssm::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T, int W, int KN>
__global__ void __launch_bounds__(kThreads) scan2d_fwd_kernel(Scan2dParams p) {
  constexpr int kGroups = kThreads / W;
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / W;
  if (ch >= p.batch * p.dim) return;  // whole groups leave together
  const int lane = threadIdx.x % W;
  const unsigned mask = group_mask<W>();
  const int64_t b = ch / p.dim, d = ch % p.dim, N = p.N, V = p.V;
  const T* x = static_cast<const T*>(p.x);
  const T* dt1 = static_cast<const T*>(p.dt1);
  const T* dt2 = static_cast<const T*>(p.dt2);
  const T* B1 = static_cast<const T*>(p.B1);
  const T* B2 = static_cast<const T*>(p.B2);
  const T* C1 = static_cast<const T*>(p.C1);
  const T* C2 = static_cast<const T*>(p.C2);
  T* y = static_cast<T*>(p.y);
  float A1[KN], A2[KN], A3[KN], A4[KN];
  bool on[KN];
#pragma unroll
  for (int k = 0; k < KN; ++k) {
    const int64_t n = lane + k * W;
    on[k] = n < N;
    A1[k] = on[k] ? p.A1[d * N + n] : 0.f;
    A2[k] = on[k] ? p.A2[d * N + n] : 0.f;
    A3[k] = on[k] ? p.A3[d * N + n] : 0.f;
    A4[k] = on[k] ? p.A4[d * N + n] : 0.f;
  }
  const float Dd = p.D ? p.D[d] : 0.f;
  float* ring = p.workspace + ch * p.slots * V * N * 2;  // (slots, V, N, 2): h1, h2
  for (int64_t t = 0; t < p.T; ++t) {
    float h1q[KN], h2q[KN];
#pragma unroll
    for (int k = 0; k < KN; ++k) h1q[k] = h2q[k] = 0.f;
    const bool has_t = t >= p.lag;
    float* now = ring + (t % p.slots) * V * N * 2;
    const float* prev = has_t ? ring + ((t - p.lag) % p.slots) * V * N * 2 : nullptr;
    for (int64_t i = 0; i < V; ++i) {
      const int64_t v = p.reverse ? V - 1 - i : i, cell = (b * V + v) * p.T + t;
      const float xv = to_float(x[cell * p.dim + d]);
      const float d1 = to_float(dt1[cell * p.dim + d]), d2 = to_float(dt2[cell * p.dim + d]);
      float acc = 0.f;
#pragma unroll
      for (int k = 0; k < KN; ++k) {
        if (!on[k]) continue;
        const int64_t n = lane + k * W, o = (i * N + n) * 2;
        const float h1p = has_t ? prev[o] : 0.f, h2p = has_t ? prev[o + 1] : 0.f;
        const float v1 = expf(d1 * A1[k]) * h1p + expf(d1 * A2[k]) * h2p + d1 * to_float(B1[cell * N + n]) * xv;
        const float v2 = expf(d2 * A3[k]) * h1q[k] + expf(d2 * A4[k]) * h2q[k] + d2 * to_float(B2[cell * N + n]) * xv;
        now[o] = v1;
        now[o + 1] = v2;
        h1q[k] = v1;
        h2q[k] = v2;
        acc += to_float(C1[cell * N + n]) * v1 + to_float(C2[cell * N + n]) * v2;
      }
      acc = group_sum<W>(acc, mask) + Dd * xv;
      if (lane == 0) y[cell * p.dim + d] = from_float<T>(acc);
    }
  }
}

template <typename T, int W, int KN>
cudaError_t launch(const Scan2dParams& p, cudaStream_t stream) {
  constexpr int kGroups = kThreads / W;
  const int64_t blocks = ceil_div(p.batch * p.dim, kGroups);
  if (blocks == 0) return cudaSuccess;
  scan2d_fwd_kernel<T, W, KN><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t dispatch_n(const Scan2dParams& p, cudaStream_t stream) {
  if (p.N <= 16) return launch<T, 16, 1>(p, stream);
  if (p.N <= 32) return launch<T, 32, 1>(p, stream);
  if (p.N <= 64) return launch<T, 32, 2>(p, stream);
  return launch<T, 32, 4>(p, stream);
}

}  // namespace

bool scan2d_fwd_supported(int64_t N) { return N >= 1 && N <= 128; }

int64_t scan2d_workspace_floats(int64_t batch, int64_t dim, int64_t V, int64_t N, int64_t slots) {
  return batch * dim * slots * V * N * 2;
}

cudaError_t scan2d_fwd(const Scan2dParams& p, Scan2dStorage storage, cudaStream_t stream) {
  if (!scan2d_fwd_supported(p.N)) return cudaErrorInvalidValue;
  switch (storage) {
    case Scan2dStorage::kFloat32:
      return dispatch_n<float>(p, stream);
    case Scan2dStorage::kBFloat16:
      return dispatch_n<__nv_bfloat16>(p, stream);
    case Scan2dStorage::kFloat16:
      return dispatch_n<__half>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ssm::cuda
