// Body of the CPU 2-D selective-scan kernels; included once per instruction set with SSM_ISA naming the namespace.
//
// Per channel d and state n, over the grid in the order t outer, variates inner (i = the position in the variate
// order: v = i, or V - 1 - i when reversed; "i - 1" is the previous variate in that order), s = lag:
//   h1[i,t] = a1 h1[i,t-s] + a2 h2[i,t-s] + dt1 B1 x,   a1 = exp(dt1 A1), a2 = exp(dt1 A2)
//   h2[i,t] = a3 h1[i-1,t] + a4 h2[i-1,t] + dt2 B2 x,   a3 = exp(dt2 A3), a4 = exp(dt2 A4)
//   y[i,t]  = sum_n (C1 h1 + C2 h2) + D x
// Backward in the reverse order with adjoints p1 = dL/dh1, p2 = dL/dh2 gathered from the two successors of a cell:
//   p1[i,t] = g C1 + (pushed: a1[i,t+s] p1[i,t+s] + a3[i+1,t] p2[i+1,t]),
//   p2[i,t] = g C2 + (pushed: a2[i,t+s] p1[i,t+s] + a4[i+1,t] p2[i+1,t]);
// each cell pushes a1 p1, a2 p1 to (i, t-s) and a3 p2, a4 p2 to (i-1, t), so that it needs only its own a's.
//
// Vectorized across W = kScan2dLanes channels: every state buffer is (T, V, N, W), the per-cell loads of x, dt1, dt2
// are contiguous, and B, C are scalars broadcast across the lanes. The backward's recomputation also keeps the four
// coefficients a1..a4 of every cell, so that the adjoint pass computes no exp. Lanes past dim carry x = dt = 0: their
// states stay 0 (exp(0) = 1 times 0) and they add nothing to the sums over channels.
#include "ops/common/vec_math.h"
#include "ops/selective_scan_2d/cpu/selective_scan_2d_kernel.h"

#include <algorithm>

namespace ssm::cpu::SSM_ISA {
namespace {

constexpr int64_t W = kScan2dLanes;

// Per-block constants: A1..A4 transposed to (N, W), D per lane, the valid lanes.
template <typename T>
struct Block {
  const T *A1, *A2, *A3, *A4;  // (N, W) each
  T D[W];
  int64_t d0, lanes;
};

template <typename T>
Block<T> load_block(const Scan2dArgs<T>& a, int64_t d0, T* tiles) {
  const int64_t N = a.N, lanes = std::min(W, a.dim - d0);
  const T* src[4] = {a.A1, a.A2, a.A3, a.A4};
  for (int k = 0; k < 4; ++k)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t w = 0; w < W; ++w) tiles[(k * N + n) * W + w] = w < lanes ? src[k][(d0 + w) * N + n] : T(0);
  Block<T> blk{tiles, tiles + N * W, tiles + 2 * N * W, tiles + 3 * N * W, {}, d0, lanes};
  for (int64_t w = 0; w < W; ++w) blk.D[w] = a.D && w < lanes ? a.D[d0 + w] : T(0);
  return blk;
}

// The lanes of a (batch, V, T, dim) tensor at one cell, zero past dim.
template <typename T>
inline void load_lanes(const T* src, int64_t lanes, T* __restrict__ out) {
  if (lanes == W) {
    for (int64_t w = 0; w < W; ++w) out[w] = src[w];
  } else {
    for (int64_t w = 0; w < W; ++w) out[w] = w < lanes ? src[w] : T(0);
  }
}

// One cell forward over all states: h1, h2 ((N, W)) from the time predecessor (h1p, h2p) and the variate predecessor
// (h1q, h2q); y (W) = sum_n C1 h1 + C2 h2.
template <bool StoreE, typename T>
__attribute__((noinline)) void cell_fwd(const Block<T>& k, const T* __restrict__ B1, const T* __restrict__ B2,
                                        const T* __restrict__ C1, const T* __restrict__ C2, const T* __restrict__ h1p,
                                        const T* __restrict__ h2p, const T* __restrict__ h1q, const T* __restrict__ h2q,
                                        T* __restrict__ h1, T* __restrict__ h2, const T* __restrict__ d1,
                                        const T* __restrict__ d2, const T* __restrict__ xv, T* __restrict__ y,
                                        T* __restrict__ E, int64_t N) {
  alignas(64) T acc[W] = {};
  alignas(64) T bx1[W], bx2[W];
  for (int64_t w = 0; w < W; ++w) {
    bx1[w] = d1[w] * xv[w];
    bx2[w] = d2[w] * xv[w];
  }
  for (int64_t n = 0; n < N; ++n) {
    const T b1 = B1[n], b2 = B2[n], c1 = C1[n], c2 = C2[n];
    const T *A1 = k.A1 + n * W, *A2 = k.A2 + n * W, *A3 = k.A3 + n * W, *A4 = k.A4 + n * W;
    const int64_t o = n * W;
    T* __restrict__ En = StoreE ? E + n * 4 * W : nullptr;
#pragma omp simd
    for (int64_t w = 0; w < W; ++w) {
      const T a1 = vexp(d1[w] * A1[w]), a2 = vexp(d1[w] * A2[w]), a3 = vexp(d2[w] * A3[w]), a4 = vexp(d2[w] * A4[w]);
      if constexpr (StoreE) {
        En[w] = a1;
        En[W + w] = a2;
        En[2 * W + w] = a3;
        En[3 * W + w] = a4;
      }
      const T v1 = a1 * h1p[o + w] + a2 * h2p[o + w] + bx1[w] * b1;
      const T v2 = a3 * h1q[o + w] + a4 * h2q[o + w] + bx2[w] * b2;
      h1[o + w] = v1;
      h2[o + w] = v2;
      acc[w] += c1 * v1 + c2 * v2;
    }
  }
  for (int64_t w = 0; w < W; ++w) y[w] = acc[w];
}

// Cell backward outputs per lane, and the per-state sums over the lanes for dB1, dB2, dC1, dC2.
template <typename T>
struct CellOut {
  alignas(64) T ddt1[W], ddt2[W], dx[W];
};

// One cell backward (see the top of this file). P1h, P2h hold the pushed adjoints of the cell; the pushes go to
// (P1t, P2t) (time predecessor) when PushT and (P1q, P2q) (variate predecessor) when PushQ. dB*, dC* get this cell's
// per-state sums over the lanes added; dA* ((N, W) tiles) accumulate.
template <bool PushT, bool PushQ, typename T>
__attribute__((noinline)) void cell_bwd(const Block<T>& k, const T* __restrict__ B1, const T* __restrict__ B2,
                                        const T* __restrict__ C1, const T* __restrict__ C2, const T* __restrict__ h1p,
                                        const T* __restrict__ h2p, const T* __restrict__ h1q, const T* __restrict__ h2q,
                                        const T* __restrict__ h1, const T* __restrict__ h2, const T* __restrict__ P1h,
                                        const T* __restrict__ P2h, T* __restrict__ P1t, T* __restrict__ P2t,
                                        T* __restrict__ P1q, T* __restrict__ P2q, T* __restrict__ dA,
                                        T* __restrict__ dB1, T* __restrict__ dB2, T* __restrict__ dC1,
                                        T* __restrict__ dC2, const T* __restrict__ d1, const T* __restrict__ d2,
                                        const T* __restrict__ xv, const T* __restrict__ g, const T* __restrict__ E,
                                        CellOut<T>& out, int64_t N) {
  alignas(64) T ddt1[W] = {}, ddt2[W] = {}, dxs[W] = {}, d1x[W], d2x[W];
  for (int64_t w = 0; w < W; ++w) {
    d1x[w] = d1[w] * xv[w];
    d2x[w] = d2[w] * xv[w];
  }
  T* dA1 = dA;
  T* dA2 = dA + N * W;
  T* dA3 = dA + 2 * N * W;
  T* dA4 = dA + 3 * N * W;
  for (int64_t n = 0; n < N; ++n) {
    const T b1 = B1[n], b2 = B2[n], c1 = C1[n], c2 = C2[n];
    const T *A1 = k.A1 + n * W, *A2 = k.A2 + n * W, *A3 = k.A3 + n * W, *A4 = k.A4 + n * W;
    const int64_t o = n * W;
    T sb1 = 0, sb2 = 0, sc1 = 0, sc2 = 0;
    const T* __restrict__ En = E + n * 4 * W;  // the coefficients the recomputation stored
#pragma omp simd reduction(+ : sb1, sb2, sc1, sc2)
    for (int64_t w = 0; w < W; ++w) {
      const T a1 = En[w], a2 = En[W + w], a3 = En[2 * W + w], a4 = En[3 * W + w];
      const T p1 = P1h[o + w] + g[w] * c1, p2 = P2h[o + w] + g[w] * c2;
      sc1 += g[w] * h1[o + w];
      sc2 += g[w] * h2[o + w];
      const T a1h = a1 * h1p[o + w], a2h = a2 * h2p[o + w], a3h = a3 * h1q[o + w], a4h = a4 * h2q[o + w];
      ddt1[w] += p1 * (A1[w] * a1h + A2[w] * a2h + b1 * xv[w]);
      ddt2[w] += p2 * (A3[w] * a3h + A4[w] * a4h + b2 * xv[w]);
      dA1[o + w] += p1 * d1[w] * a1h;
      dA2[o + w] += p1 * d1[w] * a2h;
      dA3[o + w] += p2 * d2[w] * a3h;
      dA4[o + w] += p2 * d2[w] * a4h;
      sb1 += p1 * d1x[w];
      sb2 += p2 * d2x[w];
      dxs[w] += p1 * d1[w] * b1 + p2 * d2[w] * b2;
      if constexpr (PushT) {
        P1t[o + w] += a1 * p1;
        P2t[o + w] += a2 * p1;
      }
      if constexpr (PushQ) {
        P1q[o + w] += a3 * p2;
        P2q[o + w] += a4 * p2;
      }
    }
    dB1[n] += sb1;
    dB2[n] += sb2;
    dC1[n] += sc1;
    dC2[n] += sc2;
  }
  for (int64_t w = 0; w < W; ++w) {
    out.ddt1[w] = ddt1[w];
    out.ddt2[w] = ddt2[w];
    out.dx[w] = dxs[w];
  }
}

// The states of the block over the grid into H1, H2 ((slots, V, N, W)); y written when not null. slots = T keeps
// every state (the backward's recomputation); slots = min(lag + 1, T) keeps the ones still needed (the forward: a
// ring of time steps t mod slots, small enough to stay in cache).
template <typename T>
void states(const Scan2dArgs<T>& a, const Block<T>& k, int64_t b, T* H1, T* H2, const T* zeros, T* y, int64_t slots,
            T* E) {
  const int64_t V = a.V, TT = a.T_, N = a.N, dim = a.dim, s = a.lag, NW = N * W;
  alignas(64) T xv[W], d1[W], d2[W], yv[W];
  for (int64_t t = 0; t < TT; ++t)
    for (int64_t i = 0; i < V; ++i) {
      const int64_t v = a.reverse ? V - 1 - i : i, cell = (b * V + v) * TT + t, at = cell * dim + k.d0;
      load_lanes(a.x + at, k.lanes, xv);
      load_lanes(a.dt1 + at, k.lanes, d1);
      load_lanes(a.dt2 + at, k.lanes, d2);
      const int64_t here = (t % slots * V + i) * NW, tp = ((t - s) % slots * V + i) * NW, qp = here - NW;
      const T* h1p = t >= s ? H1 + tp : zeros;
      const T* h2p = t >= s ? H2 + tp : zeros;
      const T* h1q = i > 0 ? H1 + qp : zeros;
      const T* h2q = i > 0 ? H2 + qp : zeros;
      const T *B1 = a.B1 + cell * N, *B2 = a.B2 + cell * N, *C1 = a.C1 + cell * N, *C2 = a.C2 + cell * N;
      if (E)
        cell_fwd<true>(k, B1, B2, C1, C2, h1p, h2p, h1q, h2q, H1 + here, H2 + here, d1, d2, xv, yv,
                       E + (t * V + i) * 4 * NW, N);
      else
        cell_fwd<false>(k, B1, B2, C1, C2, h1p, h2p, h1q, h2q, H1 + here, H2 + here, d1, d2, xv, yv,
                        static_cast<T*>(nullptr), N);
      if (y)
        for (int64_t w = 0; w < k.lanes; ++w) y[at + w] = yv[w] + k.D[w] * xv[w];
    }
}

}  // namespace

template <typename T>
void scan2d_fwd(const Scan2dArgs<T>& a, T* y, int64_t b, int64_t d0, T* scratch) {
  const int64_t slots = std::min(a.lag + 1, a.T_), ring = slots * a.V * a.N * W;
  T* H1 = scratch;
  T* H2 = H1 + ring;
  T* tiles = H2 + ring;  // 4 (N, W) tiles of A, then zeros (N, W)
  T* zeros = tiles + 4 * a.N * W;
  std::fill(zeros, zeros + a.N * W, T(0));
  const Block<T> k = load_block(a, d0, tiles);
  states(a, k, b, H1, H2, zeros, y, slots, static_cast<T*>(nullptr));
}

template <typename T>
void scan2d_bwd(const Scan2dArgs<T>& a, const Scan2dBwdArgs<T>& o, int64_t b, int64_t d0, int64_t block, T* scratch) {
  const int64_t V = a.V, TT = a.T_, N = a.N, dim = a.dim, s = a.lag, NW = N * W, cells = V * TT * NW;
  T* H1 = scratch;
  T* H2 = H1 + cells;
  T* P1 = H2 + cells;
  T* P2 = P1 + cells;
  T* E = P2 + cells;          // (T, V, N, 4, W): a1..a4 of every cell
  T* tiles = E + 4 * cells;   // 4 (N, W): A1..A4
  T* zeros = tiles + 4 * NW;  // (N, W)
  T* dA = zeros + NW;         // 4 (N, W): dA1..dA4
  std::fill(zeros, zeros + NW, T(0));
  std::fill(dA, dA + 4 * NW, T(0));
  const Block<T> k = load_block(a, d0, tiles);
  states(a, k, b, H1, H2, zeros, static_cast<T*>(nullptr), TT, E);
  std::fill(P1, P1 + 2 * cells, T(0));                // P1 and P2
  const int64_t part = block * a.batch * V * TT * N;  // the task's partial rows of dB, dC
  alignas(64) T xv[W], d1[W], d2[W], g[W];
  alignas(64) T dD[W] = {};
  CellOut<T> out;
  for (int64_t t = TT - 1; t >= 0; --t)
    for (int64_t i = V - 1; i >= 0; --i) {
      const int64_t v = a.reverse ? V - 1 - i : i, cell = (b * V + v) * TT + t, at = cell * dim + d0;
      load_lanes(a.x + at, k.lanes, xv);
      load_lanes(a.dt1 + at, k.lanes, d1);
      load_lanes(a.dt2 + at, k.lanes, d2);
      load_lanes(o.grad_y + at, k.lanes, g);
      const int64_t here = (t * V + i) * NW, tp = here - s * V * NW, qp = here - NW;
      const bool has_t = t >= s, has_q = i > 0;
      const T* h1p = has_t ? H1 + tp : zeros;
      const T* h2p = has_t ? H2 + tp : zeros;
      const T* h1q = has_q ? H1 + qp : zeros;
      const T* h2q = has_q ? H2 + qp : zeros;
      T *dB1 = o.dB1 + part + cell * N, *dB2 = o.dB2 + part + cell * N;
      T *dC1 = o.dC1 + part + cell * N, *dC2 = o.dC2 + part + cell * N;
      const T *B1 = a.B1 + cell * N, *B2 = a.B2 + cell * N, *C1 = a.C1 + cell * N, *C2 = a.C2 + cell * N;
      // The pushes that have a destination, chosen at compile time (the others are not written).
      T* P1t = has_t ? P1 + tp : nullptr;
      T* P2t = has_t ? P2 + tp : nullptr;
      T* P1q = has_q ? P1 + qp : nullptr;
      T* P2q = has_q ? P2 + qp : nullptr;
#define SSM_CELL_BWD(pt, pq)                                                                                         \
  cell_bwd<pt, pq>(k, B1, B2, C1, C2, h1p, h2p, h1q, h2q, H1 + here, H2 + here, P1 + here, P2 + here, P1t, P2t, P1q, \
                   P2q, dA, dB1, dB2, dC1, dC2, d1, d2, xv, g, E + (t * V + i) * 4 * NW, out, N)
      if (has_t && has_q)
        SSM_CELL_BWD(true, true);
      else if (has_t)
        SSM_CELL_BWD(true, false);
      else if (has_q)
        SSM_CELL_BWD(false, true);
      else
        SSM_CELL_BWD(false, false);
#undef SSM_CELL_BWD
      for (int64_t w = 0; w < k.lanes; ++w) {
        o.ddt1[at + w] = out.ddt1[w];
        o.ddt2[at + w] = out.ddt2[w];
        o.dx[at + w] = out.dx[w] + k.D[w] * g[w];
        dD[w] += g[w] * xv[w];
      }
    }
  // dA* of (b, d) for the block's lanes: the (N, W) tiles transposed back to (dim, N) rows.
  T* dst[4] = {o.dA1, o.dA2, o.dA3, o.dA4};
  for (int kk = 0; kk < 4; ++kk)
    for (int64_t w = 0; w < k.lanes; ++w)
      for (int64_t n = 0; n < N; ++n) dst[kk][(b * dim + d0 + w) * N + n] = dA[(kk * N + n) * W + w];
  if (o.dD)
    for (int64_t w = 0; w < k.lanes; ++w) o.dD[b * dim + d0 + w] = dD[w];
}

template void scan2d_fwd<float>(const Scan2dArgs<float>&, float*, int64_t, int64_t, float*);
template void scan2d_fwd<double>(const Scan2dArgs<double>&, double*, int64_t, int64_t, double*);
template void scan2d_bwd<float>(const Scan2dArgs<float>&, const Scan2dBwdArgs<float>&, int64_t, int64_t, int64_t,
                                float*);
template void scan2d_bwd<double>(const Scan2dArgs<double>&, const Scan2dBwdArgs<double>&, int64_t, int64_t, int64_t,
                                 double*);

}  // namespace ssm::cpu::SSM_ISA
