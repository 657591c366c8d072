// Body of the CPU selective-scan kernels; included once per instruction set with SSM_ISA naming the namespace.
//
// Per channel d and state n (dt = softplus(delta + bias) or delta + bias, per step):
//   x_t = exp(dt_t A_n) x_{t-1} + dt_t B_t,n u_t,   y_t = sum_n C_t,n x_t + D u_t,   out_t = y_t silu(z_t)
// Backward, against time, with the adjoint q_t = dL/dx_t (q at the last valid step starts from dL/dlast_state):
//   g_t = dout_t silu(z_t),   q_t = a_{t+1} q_{t+1} + g_t C_t,
//   dC_t += g_t x_t, dB_t += q_t dt_t u_t, du_t = D g_t + sum_n q_t dt_t B_t, dA += q_t dt_t a_t x_{t-1},
//   d dt_t = sum_n q_t (A a_t x_{t-1} + B_t u_t), dh0 = a_0 q_0.
// The states of a chunk are recomputed from its checkpoint (the state before its first step) into a (chunk + 1, N)
// buffer, so that no (batch, dim, L, N) tensor exists in either direction.
#include "ops/common/vec_math.h"
#include "ops/selective_scan/cpu/selective_scan_kernel.h"

#include <algorithm>
#include <cmath>

namespace ssm::cpu::SSM_ISA {
namespace {

// The per-step loops over the states are kept out of line: inlined into the chunk loops, GCC loses their restrict
// guarantees and runs the scalar version.

constexpr int64_t kC = kSelectiveScanChunk;

// Bbuf[i, n] = B[b, g, n, t0 + i] for i < steps.
template <typename T>
inline void load_chunk(const T* src, int64_t N, int64_t L, int64_t t0, int64_t steps, T* buf) {
  for (int64_t n = 0; n < N; ++n) {
    const T* s = src + n * L + t0;
    for (int64_t i = 0; i < steps; ++i) buf[i * N + n] = s[i];
  }
}

// dst[b, g, n, t0 + i] = buf[i, n].
template <typename T>
inline void store_chunk(const T* buf, int64_t N, int64_t L, int64_t t0, int64_t steps, T* dst) {
  for (int64_t n = 0; n < N; ++n) {
    T* s = dst + n * L + t0;
    for (int64_t i = 0; i < steps; ++i) s[i] = buf[i * N + n];
  }
}

// One step over the N states: xn = exp(dt A) xp + dtu B; returns sum_n C xn. Restrict-qualified parameters, so that
// the compiler vectorizes without run-time alias checks (a check would fail for xn == xp: state_step_in_place).
template <typename T>
__attribute__((noinline)) T state_step(const T* __restrict__ A, const T* __restrict__ B, const T* __restrict__ C,
                                       const T* __restrict__ xp, T* __restrict__ xn, T dt, T dtu, int64_t N) {
  T y = 0;
#pragma omp simd reduction(+ : y)
  for (int64_t n = 0; n < N; ++n) {
    const T v = vexp(dt * A[n]) * xp[n] + dtu * B[n];
    xn[n] = v;
    y += C[n] * v;
  }
  return y;
}

template <typename T>
__attribute__((noinline)) T state_step_in_place(const T* __restrict__ A, const T* __restrict__ B,
                                                const T* __restrict__ C, T* __restrict__ x, T dt, T dtu, int64_t N) {
  T y = 0;
#pragma omp simd reduction(+ : y)
  for (int64_t n = 0; n < N; ++n) {
    const T v = vexp(dt * A[n]) * x[n] + dtu * B[n];
    x[n] = v;
    y += C[n] * v;
  }
  return y;
}

// One backward step (see the top of this file); accumulates dC and dB (dCt, dBt), dA; updates q; returns
// (sum_n q B, d dt) through du and ddt.
template <typename T>
__attribute__((noinline)) void adjoint_step(const T* __restrict__ A, const T* __restrict__ B, const T* __restrict__ C,
                                            const T* __restrict__ xp, const T* __restrict__ xc, T* __restrict__ q,
                                            T* __restrict__ dBt, T* __restrict__ dCt, T* __restrict__ dA, T dt, T ut,
                                            T gt, T& du_out, T& ddt_out, int64_t N) {
  const T dtu = dt * ut;
  T du = 0, ddt = 0;
#pragma omp simd reduction(+ : du, ddt)
  for (int64_t n = 0; n < N; ++n) {
    const T an = vexp(dt * A[n]);
    const T qn = q[n] + gt * C[n];
    dCt[n] += gt * xc[n];
    dBt[n] += qn * dtu;
    du += qn * B[n];
    const T ax = an * xp[n];
    ddt += qn * (A[n] * ax + B[n] * ut);
    dA[n] += qn * dt * ax;
    q[n] = an * qn;
  }
  du_out = du;
  ddt_out = ddt;
}

// Per step of a chunk, vectorized over the steps: dt (softplus(delta + bias) or delta + bias) and, when wanted,
// sigmoid(delta + bias) (the softplus derivative), silu(z) and sigmoid(z).
template <typename T>
inline void chunk_dt(const T* __restrict__ delta, T bias, bool softplus, int64_t steps, T* __restrict__ dt,
                     T* __restrict__ dsoftplus) {
  if (softplus) {
#pragma omp simd
    for (int64_t i = 0; i < steps; ++i) dt[i] = vsoftplus(delta[i] + bias);
    if (dsoftplus) {
#pragma omp simd
      for (int64_t i = 0; i < steps; ++i) dsoftplus[i] = vsigmoid(delta[i] + bias);
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < steps; ++i) dt[i] = delta[i] + bias;
  }
}
template <typename T>
inline void chunk_gate(const T* __restrict__ z, int64_t steps, T* __restrict__ sig, T* __restrict__ silu) {
#pragma omp simd
  for (int64_t i = 0; i < steps; ++i) {
    const T s = vsigmoid(z[i]);
    sig[i] = s;
    silu[i] = z[i] * s;
  }
}

}  // namespace

template <typename T>
void selective_scan_fwd(const SelectiveScanArgs<T>& a, const SelectiveScanFwdOut<T>& o, int64_t b, int64_t g,
                        int64_t d_begin, int64_t d_end, T* scratch) {
  const int64_t N = a.N, L = a.L, len = a.lengths ? a.lengths[b] : L;
  T* __restrict__ Bbuf = scratch;
  T* __restrict__ Cbuf = Bbuf + kC * N;
  T* __restrict__ state = Cbuf + kC * N;                // (d_count, N)
  T* __restrict__ dtc = state + (d_end - d_begin) * N;  // (kC) per step: dt, sigmoid(z), silu(z)
  T* __restrict__ sigz = dtc + kC;
  T* __restrict__ silu = sigz + kC;
  const T* Bsrc = a.b_fixed ? nullptr : a.B + (b * a.G + g) * N * L;
  const T* Csrc = a.c_fixed ? nullptr : a.C + (b * a.G + g) * N * L;
  for (int64_t d = d_begin; d < d_end; ++d) {
    T* x = state + (d - d_begin) * N;
    for (int64_t n = 0; n < N; ++n) x[n] = a.h0 ? a.h0[(b * a.dim + d) * N + n] : T(0);
  }
  for (int64_t c = 0; c < a.chunks; ++c) {
    const int64_t t0 = c * kC, t1 = std::min(std::min(t0 + kC, L), std::max<int64_t>(len, t0));
    if (Bsrc && t1 > t0) load_chunk(Bsrc, N, L, t0, t1 - t0, Bbuf);
    if (Csrc && t1 > t0) load_chunk(Csrc, N, L, t0, t1 - t0, Cbuf);
    for (int64_t d = d_begin; d < d_end; ++d) {
      T* __restrict__ x = state + (d - d_begin) * N;
      const int64_t row = b * a.dim + d;
      if (o.checkpoints) std::copy(x, x + N, o.checkpoints + (row * a.chunks + c) * N);
      const T* ud = a.u + row * L;
      const T* dd = a.delta + row * L;
      const T* zd = a.z ? a.z + row * L : nullptr;
      const T* __restrict__ Ad = a.A + d * N;
      const T bias = a.bias ? a.bias[d] : T(0), Dd = a.D ? a.D[d] : T(0);
      T* od = o.out + row * L;
      chunk_dt(dd + t0, bias, a.softplus, t1 - t0, dtc, static_cast<T*>(nullptr));
      if (zd) chunk_gate(zd + t0, t1 - t0, sigz, silu);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t i = t - t0;
        const T dt = dtc[i], ut = ud[t], dtu = dt * ut;
        const T* __restrict__ Bt = Bsrc ? Bbuf + i * N : a.B + d * N;
        const T* __restrict__ Ct = Csrc ? Cbuf + i * N : a.C + d * N;
        T y = state_step_in_place(Ad, Bt, Ct, x, dt, dtu, N) + Dd * ut;
        if (zd) y *= silu[i];
        od[t] = y;
      }
      const int64_t pad_end = std::min(t0 + kC, L);
      for (int64_t t = std::max(t1, t0); t < pad_end; ++t) od[t] = T(0);  // padding
    }
  }
  for (int64_t d = d_begin; d < d_end; ++d)
    std::copy(state + (d - d_begin) * N, state + (d - d_begin + 1) * N, o.last + (b * a.dim + d) * N);
}

template <typename T>
void selective_scan_bwd(const SelectiveScanArgs<T>& a, const SelectiveScanBwdArgs<T>& o, int64_t b, int64_t g,
                        int64_t d_begin, int64_t d_end, int64_t block, T* scratch) {
  const int64_t N = a.N, L = a.L, len = a.lengths ? a.lengths[b] : L, dcount = d_end - d_begin;
  T* __restrict__ Bbuf = scratch;
  T* __restrict__ Cbuf = Bbuf + kC * N;
  T* __restrict__ dBbuf = Cbuf + kC * N;
  T* __restrict__ dCbuf = dBbuf + kC * N;
  T* __restrict__ qall = dCbuf + kC * N;     // (d_count, N): dL/dx carried across chunks
  T* __restrict__ xs = qall + dcount * N;    // (kC + 1, N): the chunk's states, xs[0] = the state before it
  T* __restrict__ ybuf = xs + (kC + 1) * N;  // (kC): y before the gate
  T* __restrict__ dtbuf = ybuf + kC;         // (kC) per step: dt, softplus'(delta + bias), sigmoid(z), silu(z)
  T* __restrict__ dsp = dtbuf + kC;
  T* __restrict__ sigz = dsp + kC;
  T* __restrict__ silu = sigz + kC;
  const int64_t grow = b * a.G + g;
  const T* Bsrc = a.b_fixed ? nullptr : a.B + grow * N * L;
  const T* Csrc = a.c_fixed ? nullptr : a.C + grow * N * L;
  T* dBdst = a.b_fixed ? nullptr : o.dB + ((block * a.batch + b) * a.G + g) * N * L;
  T* dCdst = a.c_fixed ? nullptr : o.dC + ((block * a.batch + b) * a.G + g) * N * L;
  for (int64_t d = d_begin; d < d_end; ++d) {
    const int64_t row = b * a.dim + d;
    T* q = qall + (d - d_begin) * N;
    for (int64_t n = 0; n < N; ++n) q[n] = o.grad_last ? o.grad_last[row * N + n] : T(0);
    std::fill(o.dA + row * N, o.dA + (row + 1) * N, T(0));
    if (a.b_fixed) std::fill(o.dB + row * N, o.dB + (row + 1) * N, T(0));
    if (a.c_fixed) std::fill(o.dC + row * N, o.dC + (row + 1) * N, T(0));
    if (o.dD) o.dD[row] = T(0);
    if (o.dbias) o.dbias[row] = T(0);
  }
  const int64_t last_chunk = (len - 1) / kC;
  for (int64_t c = last_chunk; c >= 0; --c) {
    const int64_t t0 = c * kC, steps = std::min(t0 + kC, len) - t0;
    if (Bsrc) load_chunk(Bsrc, N, L, t0, steps, Bbuf);
    if (Csrc) load_chunk(Csrc, N, L, t0, steps, Cbuf);
    if (dBdst) std::fill(dBbuf, dBbuf + steps * N, T(0));
    if (dCdst) std::fill(dCbuf, dCbuf + steps * N, T(0));
    for (int64_t d = d_begin; d < d_end; ++d) {
      const int64_t row = b * a.dim + d;
      const T* ud = a.u + row * L;
      const T* dd = a.delta + row * L;
      const T* zd = a.z ? a.z + row * L : nullptr;
      const T* gd = o.grad_out ? o.grad_out + row * L : nullptr;
      const T* __restrict__ Ad = a.A + d * N;
      const T bias = a.bias ? a.bias[d] : T(0), Dd = a.D ? a.D[d] : T(0);
      // Recompute the chunk's states and pre-gate outputs.
      std::copy(o.checkpoints + (row * a.chunks + c) * N, o.checkpoints + (row * a.chunks + c + 1) * N, xs);
      chunk_dt(dd + t0, bias, a.softplus, steps, dtbuf, dsp);
      if (zd) chunk_gate(zd + t0, steps, sigz, silu);
      for (int64_t i = 0; i < steps; ++i) {
        const int64_t t = t0 + i;
        const T dt = dtbuf[i], dtu = dt * ud[t];
        const T* __restrict__ Bt = Bsrc ? Bbuf + i * N : a.B + d * N;
        const T* __restrict__ Ct = Csrc ? Cbuf + i * N : a.C + d * N;
        const T* __restrict__ xp = xs + i * N;
        T* __restrict__ xn = xs + (i + 1) * N;
        ybuf[i] = state_step(Ad, Bt, Ct, xp, xn, dt, dtu, N) + Dd * ud[t];
      }
      // Walk the chunk backwards.
      T* __restrict__ q = qall + (d - d_begin) * N;
      T* __restrict__ dAd = o.dA + row * N;
      T dDacc = 0, dbias_acc = 0;
      for (int64_t i = steps - 1; i >= 0; --i) {
        const int64_t t = t0 + i;
        const T dt = dtbuf[i], ut = ud[t];
        T gt = gd ? gd[t] : T(0);
        if (zd) {
          const T zt = zd[t], sg = sigz[i];
          o.dz[row * L + t] = gt * ybuf[i] * sg * (T(1) + zt * (T(1) - sg));
          gt *= silu[i];
        }
        dDacc += gt * ut;
        const T* __restrict__ Bt = Bsrc ? Bbuf + i * N : a.B + d * N;
        const T* __restrict__ Ct = Csrc ? Cbuf + i * N : a.C + d * N;
        T* __restrict__ dBt = dBdst ? dBbuf + i * N : o.dB + row * N;
        T* __restrict__ dCt = dCdst ? dCbuf + i * N : o.dC + row * N;
        const T* __restrict__ xp = xs + i * N;
        const T* __restrict__ xc = xs + (i + 1) * N;
        T du, ddt;
        adjoint_step(Ad, Bt, Ct, xp, xc, q, dBt, dCt, dAd, dt, ut, gt, du, ddt, N);
        o.du[row * L + t] = du * dt + Dd * gt;
        if (a.softplus) ddt *= dsp[i];
        o.ddelta[row * L + t] = ddt;
        dbias_acc += ddt;
      }
      if (o.dD) o.dD[row] += dDacc;
      if (o.dbias) o.dbias[row] += dbias_acc;
    }
    if (dBdst) store_chunk(dBbuf, N, L, t0, steps, dBdst);
    if (dCdst) store_chunk(dCbuf, N, L, t0, steps, dCdst);
  }
  if (o.dh0)
    for (int64_t d = d_begin; d < d_end; ++d)
      std::copy(qall + (d - d_begin) * N, qall + (d - d_begin + 1) * N, o.dh0 + (b * a.dim + d) * N);
}

template void selective_scan_fwd<float>(const SelectiveScanArgs<float>&, const SelectiveScanFwdOut<float>&, int64_t,
                                        int64_t, int64_t, int64_t, float*);
template void selective_scan_fwd<double>(const SelectiveScanArgs<double>&, const SelectiveScanFwdOut<double>&, int64_t,
                                         int64_t, int64_t, int64_t, double*);
template void selective_scan_bwd<float>(const SelectiveScanArgs<float>&, const SelectiveScanBwdArgs<float>&, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, float*);
template void selective_scan_bwd<double>(const SelectiveScanArgs<double>&, const SelectiveScanBwdArgs<double>&, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, double*);

}  // namespace ssm::cpu::SSM_ISA
