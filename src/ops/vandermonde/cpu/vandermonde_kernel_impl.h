// Body of the CPU log-Vandermonde kernels; included once per instruction set with SSM_ISA naming the namespace.
#include "ops/vandermonde/cpu/vandermonde_kernel.h"

#include <algorithm>
#include <cmath>

namespace ssm::cpu::SSM_ISA {
namespace {

// Steps between direct evaluations of exp(x l): 256 float32 multiplications keep the relative drift below ~2e-5.
constexpr int64_t kAnchor = 256;

// exp(x * l) evaluated directly. The argument is formed in double precision (exact for float32 x and any l < 2^29)
// and the phase reduced modulo 2 pi there, so that float32 keeps its accuracy for long sequences.
template <typename T>
inline void exp_at(T xr, T xi, int64_t l, T& er, T& ei) {
  const double ar = static_cast<double>(xr) * static_cast<double>(l);
  double ai = static_cast<double>(xi) * static_cast<double>(l);
  if constexpr (sizeof(T) == 4) {
    ai = std::remainder(ai, 6.283185307179586);
    const float m = std::exp(static_cast<float>(ar));
    er = m * std::cos(static_cast<float>(ai));
    ei = m * std::sin(static_cast<float>(ai));
  } else {
    const double m = std::exp(ar);
    er = m * std::cos(ai);
    ei = m * std::sin(ai);
  }
}

}  // namespace

template <typename T>
void vandermonde_fwd(const VandermondeFwdArgs<T>& a, int64_t b, int64_t l_begin, int64_t l_end, T* scratch) {
  const int64_t N = a.N;
  const T* v = a.v + 2 * b * N;
  const T* x = a.x + 2 * b * N;
  T* out = a.out + b * a.L;
  T* __restrict__ zr = scratch;  // v exp(x l), advanced along l
  T* __restrict__ zi = scratch + N;
  T* __restrict__ wr = scratch + 2 * N;  // exp(x)
  T* __restrict__ wi = scratch + 3 * N;
  for (int64_t n = 0; n < N; ++n) exp_at(x[2 * n], x[2 * n + 1], 1, wr[n], wi[n]);
  for (int64_t l0 = l_begin; l0 < l_end; l0 += kAnchor) {
    for (int64_t n = 0; n < N; ++n) {
      T er, ei;
      exp_at(x[2 * n], x[2 * n + 1], l0, er, ei);
      const T vr = v[2 * n], vi = v[2 * n + 1];
      zr[n] = vr * er - vi * ei;
      zi[n] = vr * ei + vi * er;
    }
    const int64_t steps = std::min(kAnchor, l_end - l0);
    for (int64_t j = 0; j < steps; ++j) {
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t n = 0; n < N; ++n) {
        const T r = zr[n], i = zi[n];
        s += r;
        zr[n] = r * wr[n] - i * wi[n];
        zi[n] = r * wi[n] + i * wr[n];
      }
      out[l0 + j] = 2 * s;
    }
  }
}

template <typename T>
void vandermonde_bwd(const VandermondeBwdArgs<T>& a, int64_t b, int64_t l_begin, int64_t l_end, double* acc,
                     T* scratch) {
  const int64_t N = a.N;
  const T* x = a.x + 2 * b * N;
  const T* g = a.grad + b * a.L;
  T* __restrict__ er = scratch;  // exp(x l), advanced along l
  T* __restrict__ ei = scratch + N;
  T* __restrict__ wr = scratch + 2 * N;
  T* __restrict__ wi = scratch + 3 * N;
  T* __restrict__ sr = scratch + 4 * N;  // sum g conj(e) over the current anchor block
  T* __restrict__ si = scratch + 5 * N;
  T* __restrict__ tr = scratch + 6 * N;  // sum l g conj(e)
  T* __restrict__ ti = scratch + 7 * N;
  for (int64_t n = 0; n < N; ++n) exp_at(x[2 * n], x[2 * n + 1], 1, wr[n], wi[n]);
  for (int64_t l0 = l_begin; l0 < l_end; l0 += kAnchor) {
    for (int64_t n = 0; n < N; ++n) {
      exp_at(x[2 * n], x[2 * n + 1], l0, er[n], ei[n]);
      sr[n] = si[n] = tr[n] = ti[n] = 0;
    }
    const int64_t steps = std::min(kAnchor, l_end - l0);
    for (int64_t j = 0; j < steps; ++j) {
      const T gj = g[l0 + j];
      const T gl = gj * static_cast<T>(l0 + j);
#pragma omp simd
      for (int64_t n = 0; n < N; ++n) {
        const T r = er[n], i = ei[n];
        sr[n] += gj * r;
        si[n] -= gj * i;
        tr[n] += gl * r;
        ti[n] -= gl * i;
        er[n] = r * wr[n] - i * wi[n];
        ei[n] = r * wi[n] + i * wr[n];
      }
    }
    for (int64_t n = 0; n < N; ++n) {
      acc[4 * n] += sr[n];
      acc[4 * n + 1] += si[n];
      acc[4 * n + 2] += tr[n];
      acc[4 * n + 3] += ti[n];
    }
  }
}

template void vandermonde_fwd<float>(const VandermondeFwdArgs<float>&, int64_t, int64_t, int64_t, float*);
template void vandermonde_fwd<double>(const VandermondeFwdArgs<double>&, int64_t, int64_t, int64_t, double*);
template void vandermonde_bwd<float>(const VandermondeBwdArgs<float>&, int64_t, int64_t, int64_t, double*, float*);
template void vandermonde_bwd<double>(const VandermondeBwdArgs<double>&, int64_t, int64_t, int64_t, double*,
                                      double*);

}  // namespace ssm::cpu::SSM_ISA
