// The 2-D selective scan's kernels (see selective_scan_2d.h): W lanes per channel running the bodies of
// selective_scan_2d_body.h.
#include "common/common.cuh"
#include "common/warp.cuh"
#include "selective_scan_2d/selective_scan_2d.h"

namespace ssm::cuda {
namespace {

constexpr int kThreads = 128;

// The device form's lanes: shuffle sums over the channel's W lanes, float32 atomics for sums across channels.
template <int W>
struct WarpLanes {
  unsigned mask;
  __device__ __forceinline__ float sum(float v) const { return group_sum<W>(v, mask); }
  __device__ __forceinline__ void add(float* p, float v) const { atomicAdd(p, v); }
};

template <typename T, int W, int KN>
__global__ void __launch_bounds__(kThreads) scan2d_fwd_kernel(Scan2dParams p) {
  constexpr int kGroups = kThreads / W;
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / W;
  if (ch >= p.batch * p.dim) return;  // whole groups leave together
  scan2d_fwd_channel<T, W, KN>(p, ch, threadIdx.x % W, WarpLanes<W>{group_mask<W>()});
}

template <typename T, int W, int KN>
__global__ void __launch_bounds__(kThreads, 1) scan2d_bwd_kernel(Scan2dParams p, Scan2dBwdParams q) {
  constexpr int kGroups = kThreads / W;
  const int64_t ch = q.ch0 + static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / W;
  if (ch >= q.ch0 + q.channels) return;  // whole groups leave together
  scan2d_bwd_channel<T, W, KN>(p, q, ch, threadIdx.x % W, WarpLanes<W>{group_mask<W>()});
}

template <typename T, int W, int KN>
cudaError_t launch_fwd(const Scan2dParams& p, cudaStream_t stream) {
  constexpr int kGroups = kThreads / W;
  const int64_t blocks = ceil_div(p.batch * p.dim, kGroups);
  if (blocks == 0 || p.T == 0 || p.V == 0) return cudaSuccess;
  scan2d_fwd_kernel<T, W, KN><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T, int W, int KN>
cudaError_t launch_bwd(const Scan2dParams& p, const Scan2dBwdParams& q, cudaStream_t stream) {
  constexpr int kGroups = kThreads / W;
  const int64_t blocks = ceil_div(q.channels, kGroups);
  if (blocks == 0 || p.T == 0 || p.V == 0) return cudaSuccess;
  scan2d_bwd_kernel<T, W, KN><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p, q);
  return cudaGetLastError();
}

template <typename T>
cudaError_t dispatch_fwd(const Scan2dParams& p, cudaStream_t stream) {
  if (p.N <= 16) return launch_fwd<T, 16, 1>(p, stream);
  if (p.N <= 32) return launch_fwd<T, 32, 1>(p, stream);
  if (p.N <= 64) return launch_fwd<T, 32, 2>(p, stream);
  return launch_fwd<T, 32, 4>(p, stream);
}

template <typename T>
cudaError_t dispatch_bwd(const Scan2dParams& p, const Scan2dBwdParams& q, cudaStream_t stream) {
  if (p.N <= 16) return launch_bwd<T, 16, 1>(p, q, stream);
  if (p.N <= 32) return launch_bwd<T, 32, 1>(p, q, stream);
  if (p.N <= 64) return launch_bwd<T, 32, 2>(p, q, stream);
  return launch_bwd<T, 32, 4>(p, q, stream);
}

}  // namespace

bool scan2d_fwd_supported(int64_t N) { return N >= 1 && N <= 128; }
bool scan2d_bwd_supported(int64_t N) { return N >= 1 && N <= 128; }

int64_t scan2d_workspace_floats(int64_t batch, int64_t dim, int64_t V, int64_t N, int64_t slots) {
  return batch * dim * slots * V * N * 2;
}

cudaError_t scan2d_fwd(const Scan2dParams& p, Scan2dStorage storage, cudaStream_t stream) {
  if (!scan2d_fwd_supported(p.N)) return cudaErrorInvalidValue;
  switch (storage) {
    case Scan2dStorage::kFloat32:
      return dispatch_fwd<float>(p, stream);
    case Scan2dStorage::kBFloat16:
      return dispatch_fwd<__nv_bfloat16>(p, stream);
    case Scan2dStorage::kFloat16:
      return dispatch_fwd<__half>(p, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t scan2d_bwd(const Scan2dParams& p, const Scan2dBwdParams& q, Scan2dStorage storage, cudaStream_t stream) {
  if (!scan2d_bwd_supported(p.N)) return cudaErrorInvalidValue;
  switch (storage) {
    case Scan2dStorage::kFloat32:
      return dispatch_bwd<float>(p, q, stream);
    case Scan2dStorage::kBFloat16:
      return dispatch_bwd<__nv_bfloat16>(p, q, stream);
    case Scan2dStorage::kFloat16:
      return dispatch_bwd<__half>(p, q, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ssm::cuda
