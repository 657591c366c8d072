// Forward selective scan (see selective_scan.h).
#include "common/common.cuh"
#include "common/warp.cuh"
#include "selective_scan/selective_scan.h"

namespace ssm::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int64_t kCheckpointEvery = 64;  // = ssm::ops::kSelectiveScanCheckpointEvery

// A channel's indices and its rows of u, delta and z (the per-step inputs both kernels read).
template <typename T>
struct ChannelRows {
  int64_t b, d, g, len;
  const T *u, *delta, *z;
  __device__ ChannelRows(const SelectiveScanParams& p, int64_t ch)
      : b(ch / p.dim),
        d(ch % p.dim),
        g(d / (p.dim / p.G)),
        len(p.lengths ? p.lengths[b] : p.L),
        u(static_cast<const T*>(p.u) + b * p.u_sb + d * p.u_sd),
        delta(static_cast<const T*>(p.delta) + b * p.delta_sb + d * p.delta_sd),
        z(p.z ? static_cast<const T*>(p.z) + b * p.z_sb + d * p.z_sd : nullptr) {}
};

template <typename T, int W, int KN>
__global__ void __launch_bounds__(kThreads) selective_scan_fwd_kernel(SelectiveScanParams p) {
  constexpr int kGroups = kThreads / W;
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / W;
  if (ch >= p.batch * p.dim) return;  // whole groups leave together: the shuffles below stay within a group
  const int lane = threadIdx.x % W;
  const unsigned mask = group_mask<W>();
  const ChannelRows<T> r(p, ch);
  const int64_t b = r.b, d = r.d, g = r.g, len = r.len;
  const T *u = r.u, *delta = r.delta, *z = r.z;
  T* out = static_cast<T*>(p.out) + b * p.out_sb + d * p.out_sd;
  const T* Bp = static_cast<const T*>(p.B);
  const T* Cp = static_cast<const T*>(p.C);
  float x[KN], A[KN], Bf[KN], Cf[KN];
  const T* Bt[KN];
  const T* Ct[KN];
#pragma unroll
  for (int k = 0; k < KN; ++k) {
    const int64_t n = lane + k * W;
    const bool on = n < p.N;
    x[k] = on && p.h0 ? p.h0[ch * p.N + n] : 0.f;
    A[k] = on ? p.A[d * p.N + n] : 0.f;
    Bf[k] = on && p.b_fixed ? to_float(Bp[d * p.N + n]) : 0.f;
    Cf[k] = on && p.c_fixed ? to_float(Cp[d * p.N + n]) : 0.f;
    Bt[k] = on && !p.b_fixed ? Bp + b * p.B_sb + g * p.B_sg + n * p.B_sn : nullptr;
    Ct[k] = on && !p.c_fixed ? Cp + b * p.C_sb + g * p.C_sg + n * p.C_sn : nullptr;
  }
  const float bias = p.bias ? p.bias[d] : 0.f, Dd = p.D ? p.D[d] : 0.f;
  for (int64_t t = 0; t < p.L; ++t) {
    if (p.checkpoints && t % kCheckpointEvery == 0) {
      float* ck = p.checkpoints + (ch * p.chunks + t / kCheckpointEvery) * p.N;
#pragma unroll
      for (int k = 0; k < KN; ++k)
        if (lane + k * W < p.N) ck[lane + k * W] = x[k];
    }
    if (t >= len) {  // padding: out is 0, the state stays
      if (lane == 0) out[t] = from_float<T>(0.f);
      continue;
    }
    const float raw = to_float(delta[t]) + bias;
    const float dt = p.softplus ? (raw > 20.f ? raw : log1pf(expf(raw))) : raw;
    const float uv = to_float(u[t]), dtu = dt * uv;
    float y = 0.f;
#pragma unroll
    for (int k = 0; k < KN; ++k) {
      const float bv = Bt[k] ? to_float(Bt[k][t]) : Bf[k];
      const float cv = Ct[k] ? to_float(Ct[k][t]) : Cf[k];
      x[k] = expf(dt * A[k]) * x[k] + dtu * bv;  // lanes past N: A = B = 0, x stays 0
      y += cv * x[k];
    }
    y = group_sum<W>(y, mask) + Dd * uv;
    if (z) {
      const float zv = to_float(z[t]);
      y *= zv / (1.f + expf(-zv));
    }
    if (lane == 0) out[t] = from_float<T>(y);
  }
#pragma unroll
  for (int k = 0; k < KN; ++k)
    if (lane + k * W < p.N) p.last[ch * p.N + lane + k * W] = x[k];
}

template <typename T, int W, int KN>
cudaError_t launch(const SelectiveScanParams& p, cudaStream_t stream) {
  constexpr int kGroups = kThreads / W;
  const int64_t blocks = ceil_div(p.batch * p.dim, kGroups);
  if (blocks == 0) return cudaSuccess;
  selective_scan_fwd_kernel<T, W, KN><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

template <typename T>
cudaError_t dispatch_n(const SelectiveScanParams& p, cudaStream_t stream) {
  if (p.N <= 16) return launch<T, 16, 1>(p, stream);
  if (p.N <= 32) return launch<T, 32, 1>(p, stream);
  if (p.N <= 64) return launch<T, 32, 2>(p, stream);
  if (p.N <= 128) return launch<T, 32, 4>(p, stream);
  return launch<T, 32, 8>(p, stream);
}

// ---- backward -------------------------------------------------------------------------------------------------------
constexpr int kSub = 8;                         // steps per sub-chunk (registers)
constexpr int kSubs = kCheckpointEvery / kSub;  // sub-chunks per chunk

template <typename T, int W, int KN>
__global__ void __launch_bounds__(kThreads) selective_scan_bwd_kernel(SelectiveScanParams p, SelectiveScanBwdParams q) {
  constexpr int kGroups = kThreads / W;
  const int64_t ch = static_cast<int64_t>(blockIdx.x) * kGroups + threadIdx.x / W;
  if (ch >= p.batch * p.dim) return;
  const int lane = threadIdx.x % W;
  const unsigned mask = group_mask<W>();
  const ChannelRows<T> r(p, ch);
  const int64_t b = r.b, d = r.d, g = r.g, len = r.len;
  const T *u = r.u, *delta = r.delta, *z = r.z;
  const T* gout = q.grad_out ? static_cast<const T*>(q.grad_out) + ch * p.L : nullptr;
  T* du = static_cast<T*>(q.du) + ch * p.L;
  T* ddelta = static_cast<T*>(q.ddelta) + ch * p.L;
  T* dz = q.dz ? static_cast<T*>(q.dz) + ch * p.L : nullptr;
  const T* Bp = static_cast<const T*>(p.B);
  const T* Cp = static_cast<const T*>(p.C);
  __shared__ float sub[kSubs][KN][kThreads];
  float A[KN], Bf[KN], Cf[KN], qs[KN], dA[KN], dBf[KN], dCf[KN];
  const T* Bt[KN];
  const T* Ct[KN];
  float* dBt[KN];
  float* dCt[KN];
  bool on[KN];
#pragma unroll
  for (int k = 0; k < KN; ++k) {
    const int64_t n = lane + k * W;
    on[k] = n < p.N;
    A[k] = on[k] ? p.A[d * p.N + n] : 0.f;
    Bf[k] = on[k] && p.b_fixed ? to_float(Bp[d * p.N + n]) : 0.f;
    Cf[k] = on[k] && p.c_fixed ? to_float(Cp[d * p.N + n]) : 0.f;
    Bt[k] = on[k] && !p.b_fixed ? Bp + b * p.B_sb + g * p.B_sg + n * p.B_sn : nullptr;
    Ct[k] = on[k] && !p.c_fixed ? Cp + b * p.C_sb + g * p.C_sg + n * p.C_sn : nullptr;
    dBt[k] = on[k] && !p.b_fixed ? q.dB + ((b * p.G + g) * p.N + n) * p.L : nullptr;
    dCt[k] = on[k] && !p.c_fixed ? q.dC + ((b * p.G + g) * p.N + n) * p.L : nullptr;
    qs[k] = on[k] && q.grad_last ? q.grad_last[ch * p.N + n] : 0.f;
    dA[k] = dBf[k] = dCf[k] = 0.f;
  }
  const float bias = p.bias ? p.bias[d] : 0.f, Dd = p.D ? p.D[d] : 0.f;
  float dD = 0.f, dbias = 0.f;
  auto dt_of = [&](int64_t t, float& raw) {
    raw = to_float(delta[t]) + bias;
    return p.softplus ? (raw > 20.f ? raw : log1pf(expf(raw))) : raw;
  };
  for (int64_t c = (len - 1) / kCheckpointEvery; c >= 0; --c) {
    const int64_t t0 = c * kCheckpointEvery;
    // The state before every sub-chunk of this chunk, in this thread's column of shared memory (registers would need
    // the sub-chunk loops unrolled: 8x the code).
#pragma unroll
    for (int k = 0; k < KN; ++k)
      sub[0][k][threadIdx.x] = on[k] ? p.checkpoints[(ch * p.chunks + c) * p.N + lane + k * W] : 0.f;
#pragma unroll 1
    for (int j = 0; j + 1 < kSubs; ++j) {
      float x[KN];
#pragma unroll
      for (int k = 0; k < KN; ++k) x[k] = sub[j][k][threadIdx.x];
      for (int i = 0; i < kSub; ++i) {
        const int64_t t = t0 + j * kSub + i;
        if (t >= len) break;
        float raw;
        const float dt = dt_of(t, raw), dtu = dt * to_float(u[t]);
#pragma unroll
        for (int k = 0; k < KN; ++k) x[k] = expf(dt * A[k]) * x[k] + dtu * (Bt[k] ? to_float(Bt[k][t]) : Bf[k]);
      }
#pragma unroll
      for (int k = 0; k < KN; ++k) sub[j + 1][k][threadIdx.x] = x[k];
    }
    // Sub-chunks from the last: recompute the 8 states into registers, then walk them backwards.
#pragma unroll 1
    for (int j = kSubs - 1; j >= 0; --j) {
      const int64_t ts = t0 + j * kSub;
      if (ts >= len) continue;
      float xs[kSub + 1][KN], dts[kSub], ys[kSub];
#pragma unroll
      for (int k = 0; k < KN; ++k) xs[0][k] = sub[j][k][threadIdx.x];
#pragma unroll
      for (int i = 0; i < kSub; ++i) {
        const int64_t t = ts + i;
        float raw, y = 0.f;
        const float dt = t < len ? dt_of(t, raw) : 0.f, uv = t < len ? to_float(u[t]) : 0.f, dtu = dt * uv;
#pragma unroll
        for (int k = 0; k < KN; ++k) {
          const float bv = t < len ? (Bt[k] ? to_float(Bt[k][t]) : Bf[k]) : 0.f;
          const float cv = t < len ? (Ct[k] ? to_float(Ct[k][t]) : Cf[k]) : 0.f;
          xs[i + 1][k] = expf(dt * A[k]) * xs[i][k] + dtu * bv;
          y += cv * xs[i + 1][k];
        }
        dts[i] = dt;
        ys[i] = z ? group_sum<W>(y, mask) + Dd * uv : 0.f;  // y before the gate (only dz needs it)
      }
#pragma unroll
      for (int i = kSub - 1; i >= 0; --i) {
        const int64_t t = ts + i;
        if (t >= len) continue;
        float raw;
        dt_of(t, raw);
        const float dt = dts[i], uv = to_float(u[t]);
        float gt = gout ? to_float(gout[t]) : 0.f;
        if (z) {
          const float zv = to_float(z[t]), sg = 1.f / (1.f + expf(-zv));
          if (lane == 0) dz[t] = from_float<T>(gt * ys[i] * sg * (1.f + zv * (1.f - sg)));
          gt *= zv * sg;
        }
        float dus = 0.f, ddt = 0.f;
#pragma unroll
        for (int k = 0; k < KN; ++k) {
          if (!on[k]) continue;
          const float bv = Bt[k] ? to_float(Bt[k][t]) : Bf[k];
          const float cv = Ct[k] ? to_float(Ct[k][t]) : Cf[k];
          const float a = expf(dt * A[k]);
          const float qn = qs[k] + gt * cv;
          const float dc = gt * xs[i + 1][k], db = qn * dt * uv;
          if (dCt[k])
            atomicAdd(dCt[k] + t, dc);
          else
            dCf[k] += dc;
          if (dBt[k])
            atomicAdd(dBt[k] + t, db);
          else
            dBf[k] += db;
          dus += qn * bv;
          const float ax = a * xs[i][k];
          ddt += qn * (A[k] * ax + bv * uv);
          dA[k] += qn * dt * ax;
          qs[k] = a * qn;
        }
        dus = group_sum<W>(dus, mask);
        ddt = group_sum<W>(ddt, mask);
        if (p.softplus) ddt *= 1.f / (1.f + expf(-raw));
        if (lane == 0) {
          du[t] = from_float<T>(dus * dt + Dd * gt);
          ddelta[t] = from_float<T>(ddt);
        }
        dD += gt * uv;
        dbias += ddt;
      }
    }
  }
#pragma unroll
  for (int k = 0; k < KN; ++k) {
    if (!on[k]) continue;
    const int64_t n = lane + k * W;
    atomicAdd(q.dA + d * p.N + n, dA[k]);
    if (p.b_fixed) atomicAdd(q.dB + d * p.N + n, dBf[k]);
    if (p.c_fixed) atomicAdd(q.dC + d * p.N + n, dCf[k]);
    if (q.dh0) q.dh0[ch * p.N + n] = qs[k];
  }
  if (lane == 0) {
    if (q.dD) atomicAdd(q.dD + d, dD);
    if (q.dbias) atomicAdd(q.dbias + d, dbias);
  }
}

template <typename T, int W, int KN>
cudaError_t launch_bwd(const SelectiveScanParams& p, const SelectiveScanBwdParams& q, cudaStream_t stream) {
  constexpr int kGroups = kThreads / W;
  const int64_t blocks = ceil_div(p.batch * p.dim, kGroups);
  if (blocks == 0) return cudaSuccess;
  selective_scan_bwd_kernel<T, W, KN><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p, q);
  return cudaGetLastError();
}

template <typename T>
cudaError_t dispatch_bwd(const SelectiveScanParams& p, const SelectiveScanBwdParams& q, cudaStream_t stream) {
  if (p.N <= 16) return launch_bwd<T, 16, 1>(p, q, stream);
  return launch_bwd<T, 32, 1>(p, q, stream);
}

}  // namespace

bool selective_scan_fwd_supported(int64_t N) { return N >= 1 && N <= 256; }

cudaError_t selective_scan_fwd(const SelectiveScanParams& p, ScanStorage storage, cudaStream_t stream) {
  if (!selective_scan_fwd_supported(p.N)) return cudaErrorInvalidValue;
  switch (storage) {
    case ScanStorage::kFloat32:
      return dispatch_n<float>(p, stream);
    case ScanStorage::kBFloat16:
      return dispatch_n<__nv_bfloat16>(p, stream);
    case ScanStorage::kFloat16:
      return dispatch_n<__half>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ssm::cuda

namespace ssm::cuda {

bool selective_scan_bwd_supported(int64_t N) { return N >= 1 && N <= 32; }

cudaError_t selective_scan_bwd(const SelectiveScanParams& p, const SelectiveScanBwdParams& q, ScanStorage storage,
                               cudaStream_t stream) {
  if (!selective_scan_bwd_supported(p.N)) return cudaErrorInvalidValue;
  switch (storage) {
    case ScanStorage::kFloat32:
      return dispatch_bwd<float>(p, q, stream);
    case ScanStorage::kBFloat16:
      return dispatch_bwd<__nv_bfloat16>(p, q, stream);
    case ScanStorage::kFloat16:
      return dispatch_bwd<__half>(p, q, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ssm::cuda
