// The 2-D selective scan's per-channel kernel bodies, forward and backward, written once for two compilers: nvcc
// compiles them into the kernels of selective_scan_2d.cu (W lanes of a warp per channel, shuffle sums, float32
// atomics), and the host C++ compiler into a serial form (W = 1: one "lane" holding every state, plain sums and adds)
// that tests/ops/selective_scan_2d runs against the CPU op, so that the recurrences, the chunked recomputation and the
// adjoint ring are checked on a machine without a GPU. Plain C++ with no CUDA header on the host side; no torch.
//
// Per channel (b, d) and state n, over the grid t outer, variates inner (i = the position in the variate order:
// v = i, or V - 1 - i when reversed), s = lag:
//   h1[i,t] = a1 h1[i,t-s] + a2 h2[i,t-s] + dt1 B1 x,   a1 = exp(dt1 A1), a2 = exp(dt1 A2)
//   h2[i,t] = a3 h1[i-1,t] + a4 h2[i-1,t] + dt2 B2 x,   a3 = exp(dt2 A3), a4 = exp(dt2 A4)
//   y[i,t]  = sum_n (C1 h1 + C2 h2) + D x
//
// Backward, per channel: the adjoints p1 = dL/dh1, p2 = dL/dh2 of a cell are g C1, g C2 plus what its two successors
// pushed: (i, t+s) pushes a1 p1, a2 p1 to (i, t-s)... seen from the receiver, (i, t) receives a1[i,t+s] p1[i,t+s] and
// a2[i,t+s] p1[i,t+s] from its time successor and a3[i+1,t] p2[i+1,t], a4[i+1,t] p2[i+1,t] from its variate successor,
// so each cell needs only its own coefficients. The walk goes t down, variates down; the variate pushes stay in
// registers, the time pushes in a ring of hist = s time steps (slot t mod s: read at t, then overwritten by the push
// to t - s, which has the same slot). The states are recomputed per chunk of K = max(64, s) time steps, from the end:
// a first forward pass stores the s time steps before every chunk's start (checkpoints), and each chunk is then
// recomputed into a buffer of s + K time steps before it is walked back. Workspace per channel, in time steps of
// (V, N, 2) floats: (chunks - 1) s checkpoints + s + K buffer + s adjoint ring (scan2d_bwd_workspace_floats).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define SSM_SCAN2D_FN __device__ __forceinline__
#define SSM_SCAN2D_HD __host__ __device__ inline
#define SSM_SCAN2D_UNROLL _Pragma("unroll")
#else
#include <cmath>
#define SSM_SCAN2D_FN inline
#define SSM_SCAN2D_HD inline
#define SSM_SCAN2D_UNROLL
#endif

namespace ssm::cuda {

struct Scan2dParams {
  const void *x, *dt1, *dt2, *B1, *B2, *C1, *C2;  // storage dtype, contiguous: (batch, V, T, dim), (batch, V, T, N)
  void* y;                                        // (batch, V, T, dim)
  const float *A1, *A2, *A3, *A4, *D;             // (dim, N) contiguous; D (dim) or null
  float* workspace;                               // forward: scan2d_workspace_floats(...) floats
  int64_t batch, V, T, dim, N, lag, slots;        // slots = min(lag + 1, T)
  bool reverse;
};

// The backward's outputs and its split of the channels into launches (the workspace is per launch).
struct Scan2dBwdParams {
  const void* grad_y;            // (batch, V, T, dim), storage dtype, contiguous
  void *dx, *ddt1, *ddt2;        // (batch, V, T, dim), storage dtype: every element written
  float *dB1, *dB2, *dC1, *dC2;  // (batch, V, T, N), zeroed: sums over the channels d
  float *dA1, *dA2, *dA3, *dA4;  // (dim, N), zeroed: sums over the batch
  float* dD;                     // (dim), zeroed, or null
  float* workspace;              // channels * scan2d_bwd_channel_floats(...)
  int64_t ch0, channels;         // this launch: channels ch0 .. ch0 + channels - 1 of the batch * dim
  int64_t hist, chunk;           // scan2d_bwd_hist(lag, T), scan2d_bwd_chunk(hist, T)
};

// The time steps a cell looks back (0 when lag >= T: no cell has a time predecessor).
SSM_SCAN2D_HD int64_t scan2d_bwd_hist(int64_t lag, int64_t T) { return lag < T ? lag : 0; }
// The recomputation's chunk: 64 time steps, at least the lag, at most T.
SSM_SCAN2D_HD int64_t scan2d_bwd_chunk(int64_t hist, int64_t T) {
  const int64_t k = hist > 64 ? hist : 64;
  return k < T ? k : T;
}
// Workspace floats per channel.
SSM_SCAN2D_HD int64_t scan2d_bwd_channel_floats(int64_t V, int64_t T, int64_t N, int64_t hist, int64_t chunk) {
  const int64_t chunks = (T + chunk - 1) / chunk;
  return V * N * 2 * ((chunks - 1) * hist + hist + chunk + hist);
}

#if !defined(__CUDACC__)
// The host form's conversions (float storage only) and its "lanes": one, summing nothing, adding plainly.
inline float to_float(float x) { return x; }
template <typename T>
T from_float(float x);
template <>
inline float from_float<float>(float x) {
  return x;
}
struct SerialLanes {
  float sum(float v) const { return v; }
  void add(float* p, float v) const { *p += v; }
};
#endif

// The inputs in their storage type.
template <typename T>
struct Scan2dTyped {
  const T *x, *dt1, *dt2, *B1, *B2, *C1, *C2;
  SSM_SCAN2D_FN explicit Scan2dTyped(const Scan2dParams& p)
      : x(static_cast<const T*>(p.x)),
        dt1(static_cast<const T*>(p.dt1)),
        dt2(static_cast<const T*>(p.dt2)),
        B1(static_cast<const T*>(p.B1)),
        B2(static_cast<const T*>(p.B2)),
        C1(static_cast<const T*>(p.C1)),
        C2(static_cast<const T*>(p.C2)) {}
};

// The calling lane's states n = lane + k W (k < KN) of channel d: which exist, and their A1..A4.
template <int W, int KN>
struct Scan2dLaneA {
  bool on[KN];
  float A1[KN], A2[KN], A3[KN], A4[KN];
  SSM_SCAN2D_FN Scan2dLaneA(const Scan2dParams& p, int64_t d, int lane) {
    SSM_SCAN2D_UNROLL
    for (int k = 0; k < KN; ++k) {
      const int64_t n = lane + k * W;
      on[k] = n < p.N;
      A1[k] = on[k] ? p.A1[d * p.N + n] : 0.f;
      A2[k] = on[k] ? p.A2[d * p.N + n] : 0.f;
      A3[k] = on[k] ? p.A3[d * p.N + n] : 0.f;
      A4[k] = on[k] ? p.A4[d * p.N + n] : 0.f;
    }
  }
};

// One time step t of channel (b, d): the states into now ((V, N, 2), the lane's elements), from the time
// predecessor's prev (null: none); also into keep when not null. With Out, y of the step's cells too (a sum over the
// lanes per cell).
template <bool Out, typename T, int W, int KN, class Lanes>
SSM_SCAN2D_FN void scan2d_step(const Scan2dParams& p, int64_t b, int64_t d, int64_t t, int lane,
                               const Scan2dLaneA<W, KN>& a, const float* prev, float* now, float* keep,
                               const Lanes& lanes) {
  const int64_t N = p.N, V = p.V;
  const Scan2dTyped<T> in(p);
  const T *x = in.x, *dt1 = in.dt1, *dt2 = in.dt2, *B1 = in.B1, *B2 = in.B2, *C1 = in.C1, *C2 = in.C2;
  float h1q[KN], h2q[KN];
  SSM_SCAN2D_UNROLL
  for (int k = 0; k < KN; ++k) h1q[k] = h2q[k] = 0.f;
  for (int64_t i = 0; i < V; ++i) {
    const int64_t v = p.reverse ? V - 1 - i : i, cell = (b * V + v) * p.T + t;
    const float xv = to_float(x[cell * p.dim + d]);
    const float d1 = to_float(dt1[cell * p.dim + d]), d2 = to_float(dt2[cell * p.dim + d]);
    float acc = 0.f;
    SSM_SCAN2D_UNROLL
    for (int k = 0; k < KN; ++k) {
      if (!a.on[k]) continue;
      const int64_t n = lane + k * W, o = (i * N + n) * 2;
      const float h1p = prev ? prev[o] : 0.f, h2p = prev ? prev[o + 1] : 0.f;
      const float v1 = expf(d1 * a.A1[k]) * h1p + expf(d1 * a.A2[k]) * h2p + d1 * to_float(B1[cell * N + n]) * xv;
      const float v2 =
          expf(d2 * a.A3[k]) * h1q[k] + expf(d2 * a.A4[k]) * h2q[k] + d2 * to_float(B2[cell * N + n]) * xv;
      now[o] = v1;
      now[o + 1] = v2;
      if (keep) {
        keep[o] = v1;
        keep[o + 1] = v2;
      }
      h1q[k] = v1;
      h2q[k] = v2;
      if (Out) acc += to_float(C1[cell * N + n]) * v1 + to_float(C2[cell * N + n]) * v2;
    }
    if (Out) {
      acc = lanes.sum(acc) + (p.D ? p.D[d] : 0.f) * xv;
      if (lane == 0) static_cast<T*>(p.y)[cell * p.dim + d] = from_float<T>(acc);
    }
  }
}

// The forward of channel ch (= b * dim + d) for the calling lane (0 <= lane < W), in a ring of p.slots time steps.
template <typename T, int W, int KN, class Lanes>
SSM_SCAN2D_FN void scan2d_fwd_channel(const Scan2dParams& p, int64_t ch, int lane, const Lanes& lanes) {
  const int64_t b = ch / p.dim, d = ch % p.dim, step = p.V * p.N * 2;
  const Scan2dLaneA<W, KN> a(p, d, lane);
  float* ring = p.workspace + ch * p.slots * step;  // (slots, V, N, 2): h1, h2
  for (int64_t t = 0; t < p.T; ++t) {
    const float* prev = t >= p.lag ? ring + ((t - p.lag) % p.slots) * step : nullptr;
    scan2d_step<true, T, W, KN>(p, b, d, t, lane, a, prev, ring + (t % p.slots) * step, static_cast<float*>(nullptr),
                                lanes);
  }
}

// The backward of channel ch (= b * dim + d, ch0 <= ch < ch0 + channels) for the calling lane: see the top of the
// file. Writes dx, ddt1, ddt2 of the channel's cells; adds to dB*, dC* (over the channels) and dA*, dD (over the
// batch) through lanes.add.
template <typename T, int W, int KN, class Lanes>
SSM_SCAN2D_FN void scan2d_bwd_channel(const Scan2dParams& p, const Scan2dBwdParams& q, int64_t ch, int lane,
                                      const Lanes& lanes) {
  const int64_t b = ch / p.dim, d = ch % p.dim, N = p.N, V = p.V, TT = p.T, s = p.lag;
  const int64_t hs = q.hist, K = q.chunk, chunks = (TT + K - 1) / K, step = V * N * 2;
  float* ckpt = q.workspace + (ch - q.ch0) * scan2d_bwd_channel_floats(V, TT, N, hs, K);  // (chunks - 1) hs steps
  float* buf = ckpt + (chunks - 1) * hs * step;  // hs + K steps: time t of chunk [t0, t1) at t - t0 + hs
  float* adj = buf + (hs + K) * step;            // hs steps: the time pushes, slot t mod hs
  const Scan2dTyped<T> in(p);
  const T *x = in.x, *dt1 = in.dt1, *dt2 = in.dt2, *B1 = in.B1, *B2 = in.B2, *C1 = in.C1, *C2 = in.C2;
  const T* gy = static_cast<const T*>(q.grad_y);
  T* dx = static_cast<T*>(q.dx);
  T* ddt1 = static_cast<T*>(q.ddt1);
  T* ddt2 = static_cast<T*>(q.ddt2);
  const Scan2dLaneA<W, KN> a(p, d, lane);
  const bool(&on)[KN] = a.on;
  const float(&A1)[KN] = a.A1;
  const float(&A2)[KN] = a.A2;
  const float(&A3)[KN] = a.A3;
  const float(&A4)[KN] = a.A4;
  float dA1[KN], dA2[KN], dA3[KN], dA4[KN];
  SSM_SCAN2D_UNROLL
  for (int k = 0; k < KN; ++k) dA1[k] = dA2[k] = dA3[k] = dA4[k] = 0.f;
  const float Dd = p.D ? p.D[d] : 0.f;
  float dD = 0.f;

  // Pass 1 (only with more than one chunk and a time dependence): the forward in a ring of hs + 1 steps inside buf,
  // keeping the hs steps before every chunk's start.
  const int64_t slots = hs + 1, keep_from = K - hs, pass1 = hs > 0 ? (chunks - 1) * K : 0;
  for (int64_t t = 0; t < pass1; ++t) {
    const int64_t c = t / K + 1, j = t % K - keep_from;
    float* keep = hs > 0 && j >= 0 ? ckpt + ((c - 1) * hs + j) * step : nullptr;
    const float* prev = t >= s && hs > 0 ? buf + ((t - s) % slots) * step : nullptr;
    scan2d_step<false, T, W, KN>(p, b, d, t, lane, a, prev, buf + (t % slots) * step, keep, lanes);
  }

  // The adjoint ring starts at zero: times t >= T - s receive no time push.
  for (int64_t e = 0; e < hs * V; ++e)
    SSM_SCAN2D_UNROLL
    for (int k = 0; k < KN; ++k) {
      if (!on[k]) continue;
      const int64_t o = (e * N + lane + k * W) * 2;
      adj[o] = adj[o + 1] = 0.f;
    }

  for (int64_t c = chunks - 1; c >= 0; --c) {
    const int64_t t0 = c * K, t1 = t0 + K < TT ? t0 + K : TT;
    // Pass 2: the chunk's states, from its checkpoint (the hs steps before t0).
    if (c > 0)
      for (int64_t e = 0; e < hs * V; ++e)
        SSM_SCAN2D_UNROLL
        for (int k = 0; k < KN; ++k) {
          if (!on[k]) continue;
          const int64_t o = (e * N + lane + k * W) * 2, from = ((c - 1) * hs * V) * N * 2 + o;
          buf[o] = ckpt[from];
          buf[o + 1] = ckpt[from + 1];
        }
    for (int64_t t = t0; t < t1; ++t) {
      const float* prev = t >= s && hs > 0 ? buf + (t - s - t0 + hs) * step : nullptr;
      scan2d_step<false, T, W, KN>(p, b, d, t, lane, a, prev, buf + (t - t0 + hs) * step,
                                   static_cast<float*>(nullptr), lanes);
    }
    // Pass 3: the chunk walked back.
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const bool has_t = t >= s && hs > 0;
      const float* here = buf + (t - t0 + hs) * step;
      const float* prev = has_t ? buf + (t - s - t0 + hs) * step : nullptr;
      float* P = hs > 0 ? adj + (t % hs) * step : nullptr;
      float Q1[KN], Q2[KN];  // the variate pushes to (i - 1, t)
      SSM_SCAN2D_UNROLL
      for (int k = 0; k < KN; ++k) Q1[k] = Q2[k] = 0.f;
      for (int64_t i = V - 1; i >= 0; --i) {
        const int64_t v = p.reverse ? V - 1 - i : i, cell = (b * V + v) * TT + t, at = cell * p.dim + d;
        const float xv = to_float(x[at]), d1 = to_float(dt1[at]), d2 = to_float(dt2[at]), g = to_float(gy[at]);
        float sd1 = 0.f, sd2 = 0.f, sdx = 0.f;
        SSM_SCAN2D_UNROLL
        for (int k = 0; k < KN; ++k) {
          if (!on[k]) continue;
          const int64_t n = lane + k * W, o = (i * N + n) * 2, cn = cell * N + n;
          const float a1 = expf(d1 * A1[k]), a2 = expf(d1 * A2[k]), a3 = expf(d2 * A3[k]), a4 = expf(d2 * A4[k]);
          const float b1 = to_float(B1[cn]), b2 = to_float(B2[cn]), c1 = to_float(C1[cn]), c2 = to_float(C2[cn]);
          const float h1 = here[o], h2 = here[o + 1];
          const float h1p = prev ? prev[o] : 0.f, h2p = prev ? prev[o + 1] : 0.f;
          const float h1q = i > 0 ? here[o - 2 * N] : 0.f, h2q = i > 0 ? here[o - 2 * N + 1] : 0.f;
          const float p1 = (P ? P[o] : 0.f) + Q1[k] + g * c1, p2 = (P ? P[o + 1] : 0.f) + Q2[k] + g * c2;
          const float a1h = a1 * h1p, a2h = a2 * h2p, a3h = a3 * h1q, a4h = a4 * h2q;
          sd1 += p1 * (A1[k] * a1h + A2[k] * a2h + b1 * xv);
          sd2 += p2 * (A3[k] * a3h + A4[k] * a4h + b2 * xv);
          sdx += p1 * d1 * b1 + p2 * d2 * b2;
          dA1[k] += p1 * d1 * a1h;
          dA2[k] += p1 * d1 * a2h;
          dA3[k] += p2 * d2 * a3h;
          dA4[k] += p2 * d2 * a4h;
          lanes.add(q.dB1 + cn, p1 * d1 * xv);
          lanes.add(q.dB2 + cn, p2 * d2 * xv);
          lanes.add(q.dC1 + cn, g * h1);
          lanes.add(q.dC2 + cn, g * h2);
          if (has_t) {  // to (i, t - s): the slot just read
            P[o] = a1 * p1;
            P[o + 1] = a2 * p1;
          }
          Q1[k] = a3 * p2;
          Q2[k] = a4 * p2;
        }
        sd1 = lanes.sum(sd1);
        sd2 = lanes.sum(sd2);
        sdx = lanes.sum(sdx);
        if (lane == 0) {
          dx[at] = from_float<T>(sdx + Dd * g);
          ddt1[at] = from_float<T>(sd1);
          ddt2[at] = from_float<T>(sd2);
          dD += g * xv;
        }
      }
    }
  }
  SSM_SCAN2D_UNROLL
  for (int k = 0; k < KN; ++k) {
    if (!on[k]) continue;
    const int64_t n = lane + k * W;
    lanes.add(q.dA1 + d * N + n, dA1[k]);
    lanes.add(q.dA2 + d * N + n, dA2[k]);
    lanes.add(q.dA3 + d * N + n, dA3[k]);
    lanes.add(q.dA4 + d * N + n, dA4[k]);
  }
  if (q.dD && lane == 0) lanes.add(q.dD + d, dD);
}

}  // namespace ssm::cuda
