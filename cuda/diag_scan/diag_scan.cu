// Chunked diagonal scan (see diag_scan.h). Threads of a warp take consecutive states p, so every load and store of a
// row (b, l, :) is coalesced; complex numbers are loaded as float2 / double2.
#include "common/common.cuh"
#include "diag_scan/diag_scan.h"

#include <algorithm>

namespace ssm::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T>
struct Real {
  using V = T;
  __device__ static V zero() { return T(0); }
  __device__ static V mul(V a, V b) { return a * b; }
  __device__ static V add(V a, V b) { return a + b; }
  __device__ static V conj(V a) { return a; }
};
template <typename T>
struct Cplx {
  using V = vec2_t<T>;
  __device__ static V zero() { return V{T(0), T(0)}; }
  __device__ static V mul(V a, V b) { return V{a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x}; }
  __device__ static V add(V a, V b) { return V{a.x + b.x, a.y + b.y}; }
  __device__ static V conj(V a) { return V{a.x, -a.y}; }
};

// Coefficient at step l of row (bi, p).
template <typename O>
__device__ __forceinline__ typename O::V coef(const DiagScanParams& p, int64_t bi, int64_t l, int64_t pi) {
  using V = typename O::V;
  const int64_t src = l + p.a_shift;
  if (src < 0 || src >= p.L) return O::zero();
  const V* a = static_cast<const V*>(p.a);
  const V v = p.a_varying ? a[(bi * p.L + src) * p.P + pi] : a[pi];
  return p.conj_a ? O::conj(v) : v;
}

// Step `s` of chunk c in scan order -> sequence index.
__device__ __forceinline__ int64_t seq_index(const DiagScanParams& p, int64_t c, int64_t s) {
  const int64_t k = c * p.chunk + s;
  return p.reverse ? p.L - 1 - k : k;
}

template <typename O, bool Write>
__global__ void __launch_bounds__(kThreads) scan_chunks_kernel(DiagScanParams p) {
  using V = typename O::V;
  const int64_t pi = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int64_t c = blockIdx.y;
  const int64_t bi = blockIdx.z;
  if (pi >= p.P) return;
  const V* b = static_cast<const V*>(p.b);
  V* ws = static_cast<V*>(p.workspace);
  const int64_t agg = ((bi * p.chunks + c) * p.P + pi) * 2;  // (prod a, end value) or, after pass 2, (carry, -)
  V state = Write ? ws[agg] : O::zero();
  V prod = {};
  if (!Write) prod = coef<O>(p, bi, seq_index(p, c, 0), pi);
  const int64_t steps = min(p.chunk, p.L - c * p.chunk);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t l = seq_index(p, c, s);
    const V a = coef<O>(p, bi, l, pi);
    if (!Write && s > 0) prod = O::mul(a, prod);
    state = O::add(O::mul(a, state), b[(bi * p.L + l) * p.P + pi]);
    if (Write) static_cast<V*>(p.x)[(bi * p.L + l) * p.P + pi] = state;
  }
  if (!Write) {
    ws[agg] = prod;
    ws[agg + 1] = state;
  }
}

template <typename O>
__global__ void carry_kernel(DiagScanParams p) {
  using V = typename O::V;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= p.B * p.P) return;
  const int64_t bi = idx / p.P, pi = idx % p.P;
  V carry = p.h0 ? static_cast<const V*>(p.h0)[idx] : O::zero();
  V* ws = static_cast<V*>(p.workspace);
  for (int64_t c = 0; c < p.chunks; ++c) {
    const int64_t agg = ((bi * p.chunks + c) * p.P + pi) * 2;
    const V prod = ws[agg], end = ws[agg + 1];
    ws[agg] = carry;  // the state entering chunk c
    carry = O::add(O::mul(prod, carry), end);
  }
}

template <typename O>
__global__ void grad_a_kernel(DiagScanGradAParams p) {
  using V = typename O::V;
  const V* q = static_cast<const V*>(p.q);
  const V* x = static_cast<const V*>(p.x);
  const V* h0 = static_cast<const V*>(p.h0);
  V* da = static_cast<V*>(p.da);
  const int64_t dir = p.reverse ? -1 : 1;
  if (p.a_varying) {
    const int64_t n = p.B * p.L * p.P;
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const int64_t pi = i % p.P, l = (i / p.P) % p.L, bi = i / (p.P * p.L);
      const int64_t prev = l - dir;
      V xp = O::zero();
      if (prev >= 0 && prev < p.L) xp = x[(bi * p.L + prev) * p.P + pi];
      else if (h0) xp = h0[bi * p.P + pi];
      da[i] = O::mul(q[i], O::conj(xp));
    }
    return;
  }
  // Time-invariant: one thread per state sums over (b, l); consecutive threads read consecutive p (coalesced).
  const int64_t pi = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (pi >= p.P) return;
  V acc = O::zero();
  for (int64_t bi = 0; bi < p.B; ++bi)
    for (int64_t l = 0; l < p.L; ++l) {
      const int64_t prev = l - dir;
      V xp = O::zero();
      if (prev >= 0 && prev < p.L) xp = x[(bi * p.L + prev) * p.P + pi];
      else if (h0) xp = h0[bi * p.P + pi];
      acc = O::add(acc, O::mul(q[(bi * p.L + l) * p.P + pi], O::conj(xp)));
    }
  da[pi] = acc;
}

template <typename O>
__global__ void grad_h0_kernel(const void* a_, const void* q_, void* dh0_, int64_t B, int64_t L, int64_t P,
                               bool a_varying, bool reverse) {
  using V = typename O::V;
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= B * P) return;
  const int64_t bi = idx / P, pi = idx % P, l = reverse ? L - 1 : 0;
  const V* a = static_cast<const V*>(a_);
  const V a0 = a_varying ? a[(bi * L + l) * P + pi] : a[pi];
  static_cast<V*>(dh0_)[idx] = O::mul(O::conj(a0), static_cast<const V*>(q_)[(bi * L + l) * P + pi]);
}

template <typename F>
cudaError_t dispatch(ScanDtype dt, F&& f) {
  switch (dt) {
    case ScanDtype::kFloat32: return f(Real<float>{});
    case ScanDtype::kFloat64: return f(Real<double>{});
    case ScanDtype::kComplex64: return f(Cplx<float>{});
    case ScanDtype::kComplex128: return f(Cplx<double>{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace

int64_t diag_scan_chunk(int64_t B, int64_t L, int64_t P, int sm_count) {
  // About 2048 resident threads per SM, four waves' worth of (batch, chunk, state) threads; chunks of >= 16 steps.
  const int64_t wanted_threads = 4LL * 2048 * std::max(sm_count, 1);
  const int64_t chunks = std::clamp<int64_t>(wanted_threads / std::max<int64_t>(B * P, 1), 1, std::max<int64_t>(L / 16, 1));
  return ceil_div(L, chunks);
}

cudaError_t diag_scan(const DiagScanParams& p, ScanDtype dt, cudaStream_t stream) {
  if (p.B == 0) return cudaSuccess;
  if (p.chunks > 65535 || p.B > 65535) return cudaErrorInvalidConfiguration;
  return dispatch(dt, [&](auto ops) {
    using O = decltype(ops);
    const dim3 grid(static_cast<unsigned>(ceil_div(p.P, kThreads)), static_cast<unsigned>(p.chunks),
                    static_cast<unsigned>(p.B));
    scan_chunks_kernel<O, false><<<grid, kThreads, 0, stream>>>(p);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
    carry_kernel<O><<<static_cast<unsigned>(ceil_div(p.B * p.P, kThreads)), kThreads, 0, stream>>>(p);
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    scan_chunks_kernel<O, true><<<grid, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
  });
}

cudaError_t diag_scan_grad_a(const DiagScanGradAParams& p, ScanDtype dt, cudaStream_t stream) {
  if (p.B == 0) return cudaSuccess;
  return dispatch(dt, [&](auto ops) {
    using O = decltype(ops);
    const int64_t n = p.a_varying ? p.B * p.L * p.P : p.P;
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(ceil_div(n, kThreads), 1 << 20));
    grad_a_kernel<O><<<blocks, kThreads, 0, stream>>>(p);
    return cudaGetLastError();
  });
}

cudaError_t diag_scan_grad_h0(const void* a, const void* q, void* dh0, int64_t B, int64_t L, int64_t P,
                              bool a_varying, bool reverse, ScanDtype dt, cudaStream_t stream) {
  if (B == 0) return cudaSuccess;
  return dispatch(dt, [&](auto ops) {
    using O = decltype(ops);
    grad_h0_kernel<O><<<static_cast<unsigned>(ceil_div(B * P, kThreads)), kThreads, 0, stream>>>(a, q, dh0, B, L, P,
                                                                                                  a_varying, reverse);
    return cudaGetLastError();
  });
}

}  // namespace ssm::cuda
