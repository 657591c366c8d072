// Fused log-Vandermonde kernels. Forward: a thread owns kFwdItems output positions l strided by the block size and
// sums over n, reading v, x and the step factor exp(x * kFwdThreads) from shared memory; one direct exp per
// (thread, n) anchors the powers, which then advance by multiplication (kFwdItems steps: no drift).
// Backward: a thread owns one n and a range of l, accumulates sum_l g conj(e) and sum_l l g conj(e), re-anchoring
// every kBwdSeg steps; blocks write partial sums that a second kernel reduces (deterministic, no atomics).
#include "common/common.cuh"
#include "vandermonde/vandermonde.h"

#include <algorithm>

namespace ssm::cuda {
namespace {

constexpr int kFwdThreads = 256;
constexpr int kFwdItems = 16;
constexpr int kFwdTileN = 256;  // states staged in shared memory at a time
constexpr int kBwdThreads = 256;
constexpr int kBwdSeg = 256;  // steps between direct evaluations of exp(x l)
static_assert(kFwdTileN % 32 == 0 && kBwdThreads % 32 == 0, "tiles are whole warps");

template <typename T>
__global__ void __launch_bounds__(kFwdThreads) vandermonde_fwd_kernel(VandermondeFwdParams p, int64_t l_tiles) {
  using V = vec2_t<T>;
  __shared__ V sv[kFwdTileN];
  __shared__ V sx[kFwdTileN];
  __shared__ V sw[kFwdTileN];
  const int64_t b = blockIdx.x / l_tiles;
  const int64_t l_first = (blockIdx.x % l_tiles) * (kFwdThreads * kFwdItems) + threadIdx.x;
  const V* v = static_cast<const V*>(p.v) + b * p.N;
  const V* x = static_cast<const V*>(p.x) + b * p.N;
  T acc[kFwdItems];
#pragma unroll
  for (int j = 0; j < kFwdItems; ++j) acc[j] = T(0);

  for (int64_t n0 = 0; n0 < p.N; n0 += kFwdTileN) {
    const int tn = static_cast<int>(p.N - n0 < kFwdTileN ? p.N - n0 : kFwdTileN);
    for (int i = threadIdx.x; i < tn; i += kFwdThreads) {
      const V xi = x[n0 + i];
      sv[i] = v[n0 + i];
      sx[i] = xi;
      V w;
      exp_at(xi.x, xi.y, kFwdThreads, w.x, w.y);
      sw[i] = w;
    }
    __syncthreads();
    for (int i = 0; i < tn; ++i) {
      const V xi = sx[i], vi = sv[i], w = sw[i];
      T er, ei;
      exp_at(xi.x, xi.y, l_first, er, ei);
      T zr = vi.x * er - vi.y * ei;
      T zi = vi.x * ei + vi.y * er;
#pragma unroll
      for (int j = 0; j < kFwdItems; ++j) {
        acc[j] += zr;
        const T r = zr * w.x - zi * w.y;
        zi = zr * w.y + zi * w.x;
        zr = r;
      }
    }
    __syncthreads();
  }
  T* out = static_cast<T*>(p.out) + b * p.L;
#pragma unroll
  for (int j = 0; j < kFwdItems; ++j) {
    const int64_t l = l_first + static_cast<int64_t>(j) * kFwdThreads;
    if (l < p.L) out[l] = T(2) * acc[j];
  }
}

template <typename T>
__global__ void __launch_bounds__(kBwdThreads) vandermonde_bwd_partial_kernel(VandermondeBwdParams p) {
  using V = vec2_t<T>;
  const VandermondeBwdPlan& plan = p.plan;
  const int64_t chunk = blockIdx.x % plan.chunks;
  const int64_t rest = blockIdx.x / plan.chunks;
  const int64_t n_tile = rest % plan.n_tiles;
  const int64_t b = rest / plan.n_tiles;
  const int i = threadIdx.x % plan.threads_n;
  const int sub = threadIdx.x / plan.threads_n;
  const int64_t n = n_tile * plan.threads_n + i;
  const bool valid = n < p.N;

  V xn = {T(0), T(0)};
  if (valid) xn = static_cast<const V*>(p.x)[b * p.N + n];
  T wr, wi;
  exp_at(xn.x, xn.y, 1, wr, wi);
  const T* g = static_cast<const T*>(p.grad) + b * p.L;
  T sr = 0, si = 0, tr = 0, ti = 0;
  const int64_t segs = ceil_div(p.L, kBwdSeg);
  for (int64_t seg = chunk * plan.subs + sub; seg < segs; seg += plan.chunks * plan.subs) {
    const int64_t l0 = seg * kBwdSeg;
    const int64_t l1 = l0 + kBwdSeg < p.L ? l0 + kBwdSeg : p.L;
    T er, ei;
    exp_at(xn.x, xn.y, l0, er, ei);
    for (int64_t l = l0; l < l1; ++l) {
      const T gl = g[l];  // the same address across a warp: one broadcast load
      const T lgl = gl * static_cast<T>(l);
      sr += gl * er;
      si -= gl * ei;
      tr += lgl * er;
      ti -= lgl * ei;
      const T r = er * wr - ei * wi;
      ei = er * wi + ei * wr;
      er = r;
    }
  }
  // Sum the sub-ranges of this block: (subs, threads_n, 4) in shared memory.
  __shared__ T red[kBwdThreads * 4];
  red[4 * threadIdx.x + 0] = sr;
  red[4 * threadIdx.x + 1] = si;
  red[4 * threadIdx.x + 2] = tr;
  red[4 * threadIdx.x + 3] = ti;
  __syncthreads();
  if (sub == 0 && valid) {
    T a[4] = {sr, si, tr, ti};
    for (int s = 1; s < plan.subs; ++s)
      for (int c = 0; c < 4; ++c) a[c] += red[4 * (s * plan.threads_n + i) + c];
    T* ws = static_cast<T*>(p.workspace) + ((b * plan.chunks + chunk) * p.N + n) * 4;
    for (int c = 0; c < 4; ++c) ws[c] = a[c];
  }
}

template <typename T>
__global__ void vandermonde_bwd_finish_kernel(VandermondeBwdParams p) {
  using V = vec2_t<T>;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= p.B * p.N) return;
  const int64_t b = idx / p.N, n = idx % p.N;
  T a[4] = {0, 0, 0, 0};
  const T* ws = static_cast<const T*>(p.workspace);
  for (int64_t c = 0; c < p.plan.chunks; ++c)
    for (int k = 0; k < 4; ++k) a[k] += ws[((b * p.plan.chunks + c) * p.N + n) * 4 + k];
  const V v = static_cast<const V*>(p.v)[idx];
  // dv = 2 sum_l g conj(e);  dx = 2 conj(v) sum_l l g conj(e)
  static_cast<V*>(p.dv)[idx] = V{T(2) * a[0], T(2) * a[1]};
  static_cast<V*>(p.dx)[idx] = V{T(2) * (v.x * a[2] + v.y * a[3]), T(2) * (v.x * a[3] - v.y * a[2])};
}

}  // namespace

VandermondeBwdPlan plan_vandermonde_bwd(int64_t B, int64_t N, int64_t L, int sm_count) {
  VandermondeBwdPlan plan{};
  // A power of two from 32 to kBwdThreads, so that threads_n * subs fills the block exactly.
  int threads_n = 32;
  while (threads_n < kBwdThreads && threads_n < N) threads_n *= 2;
  plan.threads_n = threads_n;
  plan.subs = kBwdThreads / plan.threads_n;
  plan.n_tiles = ceil_div(N, plan.threads_n);
  const int64_t segs = ceil_div(L, kBwdSeg);
  // Enough blocks for four waves over the SMs, but no block without a segment.
  const int64_t wanted = ceil_div(4 * static_cast<int64_t>(std::max(sm_count, 1)), B * plan.n_tiles);
  plan.chunks = std::max<int64_t>(1, std::min(wanted, ceil_div(segs, plan.subs)));
  plan.workspace_elems = B * plan.chunks * N * 4;
  return plan;
}

template <typename T>
cudaError_t vandermonde_fwd(const VandermondeFwdParams& p, cudaStream_t stream) {
  const int64_t l_tiles = ceil_div(p.L, kFwdThreads * kFwdItems);
  const int64_t blocks = l_tiles * p.B;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  vandermonde_fwd_kernel<T><<<static_cast<unsigned>(blocks), kFwdThreads, 0, stream>>>(p, l_tiles);
  return cudaGetLastError();
}

template <typename T>
cudaError_t vandermonde_bwd(const VandermondeBwdParams& p, cudaStream_t stream) {
  const int64_t blocks = p.B * p.plan.n_tiles * p.plan.chunks;
  if (blocks == 0) return cudaSuccess;
  if (blocks > 0x7fffffff) return cudaErrorInvalidConfiguration;
  vandermonde_bwd_partial_kernel<T><<<static_cast<unsigned>(blocks), kBwdThreads, 0, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  const int64_t finish_blocks = ceil_div(p.B * p.N, 256);
  vandermonde_bwd_finish_kernel<T><<<static_cast<unsigned>(finish_blocks), 256, 0, stream>>>(p);
  return cudaGetLastError();
}

template cudaError_t vandermonde_fwd<float>(const VandermondeFwdParams&, cudaStream_t);
template cudaError_t vandermonde_fwd<double>(const VandermondeFwdParams&, cudaStream_t);
template cudaError_t vandermonde_bwd<float>(const VandermondeBwdParams&, cudaStream_t);
template cudaError_t vandermonde_bwd<double>(const VandermondeBwdParams&, cudaStream_t);

}  // namespace ssm::cuda
