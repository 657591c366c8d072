// CPU implementation of ssm::diag_scan and its backward: threads over (batch, block of states), the recurrence
// runs along L with the inner loop over contiguous states (vectorizable for real types).
#include "ops/diag_scan/diag_scan.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <c10/util/complex.h>

#include <algorithm>
#include <vector>

namespace ssm::ops {
namespace {

template <typename T>
inline T conj_of(T v) {
  if constexpr (c10::is_complex<T>::value) return std::conj(v);
  else return v;
}

// One step of the recurrence over n contiguous states: state = a * state + b; x = state. Written on the real and
// imaginary parts so that the compiler vectorizes it (c10::complex arithmetic does not).
template <typename T>
inline void scan_step(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ state, T* __restrict__ x,
                      int64_t n) {
  if constexpr (c10::is_complex<T>::value) {
    using R = typename T::value_type;
    const R* ar = reinterpret_cast<const R*>(a);
    const R* br = reinterpret_cast<const R*>(b);
    R* sr = reinterpret_cast<R*>(state);
    R* xr = reinterpret_cast<R*>(x);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const R re = ar[2 * i] * sr[2 * i] - ar[2 * i + 1] * sr[2 * i + 1] + br[2 * i];
      const R im = ar[2 * i] * sr[2 * i + 1] + ar[2 * i + 1] * sr[2 * i] + br[2 * i + 1];
      sr[2 * i] = xr[2 * i] = re;
      sr[2 * i + 1] = xr[2 * i + 1] = im;
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) x[i] = state[i] = a[i] * state[i] + b[i];
  }
}

// One backward step over n states: q = g + conj(an) q (an null: q = g); db = q; c = q conj(xprev) (xprev null: 0),
// stored into da (accumulate: added). Real and imaginary parts written out for vectorization, as scan_step.
template <typename T, bool HasA, bool HasX, bool Accumulate>
inline void backward_step_impl(const T* __restrict__ g, const T* __restrict__ an, const T* __restrict__ xprev,
                               T* __restrict__ q, T* __restrict__ db, T* __restrict__ da, int64_t n) {
  if constexpr (c10::is_complex<T>::value) {
    using R = typename T::value_type;
    const R* gr = reinterpret_cast<const R*>(g);
    const R* ar = reinterpret_cast<const R*>(an);
    const R* xr = reinterpret_cast<const R*>(xprev);
    R* qr = reinterpret_cast<R*>(q);
    R* dbr = reinterpret_cast<R*>(db);
    R* dar = reinterpret_cast<R*>(da);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      R re = gr[2 * i], im = gr[2 * i + 1];
      if constexpr (HasA) {  // + conj(a) q
        re += ar[2 * i] * qr[2 * i] + ar[2 * i + 1] * qr[2 * i + 1];
        im += ar[2 * i] * qr[2 * i + 1] - ar[2 * i + 1] * qr[2 * i];
      }
      qr[2 * i] = dbr[2 * i] = re;
      qr[2 * i + 1] = dbr[2 * i + 1] = im;
      R cr = 0, ci = 0;
      if constexpr (HasX) {  // q conj(x)
        cr = re * xr[2 * i] + im * xr[2 * i + 1];
        ci = im * xr[2 * i] - re * xr[2 * i + 1];
      }
      if constexpr (Accumulate) {
        dar[2 * i] += cr;
        dar[2 * i + 1] += ci;
      } else {
        dar[2 * i] = cr;
        dar[2 * i + 1] = ci;
      }
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      T v = g[i];
      if constexpr (HasA) v += an[i] * q[i];
      q[i] = db[i] = v;
      T c = T(0);
      if constexpr (HasX) c = v * xprev[i];
      if constexpr (Accumulate) da[i] += c;
      else da[i] = c;
    }
  }
}

// The loop-invariant choices as template arguments, so that each inner loop is branch-free.
template <typename T>
inline void backward_step(const T* g, const T* an, const T* xprev, T* q, T* db, T* da, bool accumulate, int64_t n) {
  const int code = (an ? 4 : 0) | (xprev ? 2 : 0) | (accumulate ? 1 : 0);
  switch (code) {
    case 0: return backward_step_impl<T, false, false, false>(g, an, xprev, q, db, da, n);
    case 1: return backward_step_impl<T, false, false, true>(g, an, xprev, q, db, da, n);
    case 2: return backward_step_impl<T, false, true, false>(g, an, xprev, q, db, da, n);
    case 3: return backward_step_impl<T, false, true, true>(g, an, xprev, q, db, da, n);
    case 4: return backward_step_impl<T, true, false, false>(g, an, xprev, q, db, da, n);
    case 5: return backward_step_impl<T, true, false, true>(g, an, xprev, q, db, da, n);
    case 6: return backward_step_impl<T, true, true, false>(g, an, xprev, q, db, da, n);
    default: return backward_step_impl<T, true, true, true>(g, an, xprev, q, db, da, n);
  }
}

// States per task: enough to vectorize, few enough that small batches still spread over the threads.
int64_t state_block(int64_t B, int64_t P) {
  const int64_t threads = at::get_num_threads();
  const int64_t blocks_wanted = std::max<int64_t>(1, (2 * threads + B - 1) / std::max<int64_t>(B, 1));
  return std::clamp<int64_t>((P + blocks_wanted - 1) / blocks_wanted, std::min<int64_t>(P, 16), P);
}

}  // namespace

at::Tensor diag_scan_cpu(const at::Tensor& a_in, const at::Tensor& b_in, bool reverse, const OptTensor& h0_in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_diag_scan("ssm::diag_scan", a_in, b_in, h0_in);
  const at::Tensor a = a_in.contiguous(), b = b_in.contiguous();
  const at::Tensor h0 = s.has_h0 ? h0_in->contiguous() : at::Tensor();
  at::Tensor x = at::empty_like(b, at::MemoryFormat::Contiguous);  // (B, L, P)
  const int64_t B = s.B, L = s.L, P = s.P, pb = state_block(B, P), nblk = (P + pb - 1) / pb;
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(b.scalar_type(), "ssm::diag_scan", [&] {
    const scalar_t* ap = a.const_data_ptr<scalar_t>();
    const scalar_t* bp = b.const_data_ptr<scalar_t>();
    const scalar_t* hp = s.has_h0 ? h0.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* xp = x.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * nblk, 1, [&](int64_t begin, int64_t end) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      std::vector<scalar_t> state(pb);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t bi = t / nblk, p0 = (t % nblk) * pb, n = std::min(pb, P - p0);
        for (int64_t i = 0; i < n; ++i) state[i] = hp ? hp[bi * P + p0 + i] : scalar_t(0);
        for (int64_t step = 0; step < L; ++step) {
          const int64_t l = reverse ? L - 1 - step : step;
          const int64_t row = (bi * L + l) * P + p0;
          scan_step(s.a_varying ? ap + row : ap + p0, bp + row, state.data(), xp + row, n);
        }
      }
    });
  });
  return x;
}

DiagScanGrads diag_scan_backward_cpu(const at::Tensor& g_in, const at::Tensor& a_in, const at::Tensor& x_in,
                                     bool reverse, const OptTensor& h0_in, std::array<bool, 3> mask) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_diag_scan("ssm::diag_scan_backward", a_in, x_in, h0_in);
  check_same_as("ssm::diag_scan_backward", "grad_x", g_in, "x", x_in);
  const at::Tensor a = a_in.contiguous(), x = x_in.contiguous(), g = g_in.contiguous();
  const at::Tensor h0 = s.has_h0 ? h0_in->contiguous() : at::Tensor();
  const int64_t B = s.B, L = s.L, P = s.P, pb = state_block(B, P), nblk = (P + pb - 1) / pb;
  at::Tensor db = at::empty_like(x, at::MemoryFormat::Contiguous);  // (B, L, P): needed for da as well
  at::Tensor da = s.a_varying ? at::empty_like(x, at::MemoryFormat::Contiguous)
                              : at::zeros({B, P}, x.options());  // per-batch partial sums, reduced below
  at::Tensor dh0 = s.has_h0 && mask[2] ? at::empty_like(h0) : at::Tensor();
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(x.scalar_type(), "ssm::diag_scan_backward", [&] {
    const scalar_t* ap = a.const_data_ptr<scalar_t>();
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* gp = g.const_data_ptr<scalar_t>();
    const scalar_t* hp = s.has_h0 ? h0.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* dbp = db.mutable_data_ptr<scalar_t>();
    scalar_t* dap = da.mutable_data_ptr<scalar_t>();
    scalar_t* dhp = dh0.defined() ? dh0.mutable_data_ptr<scalar_t>() : nullptr;
    const int64_t dir = reverse ? -1 : 1;  // forward order: l, l + dir, ...
    at::parallel_for(0, B * nblk, 1, [&](int64_t begin, int64_t end) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      std::vector<scalar_t> q(pb);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t bi = t / nblk, p0 = (t % nblk) * pb, n = std::min(pb, P - p0);
        std::fill(q.begin(), q.begin() + n, scalar_t(0));
        auto a_at = [&](int64_t l) { return s.a_varying ? ap + (bi * L + l) * P + p0 : ap + p0; };
        // Walk against the forward order: q_l = g_l + conj(a_next) q_next, next = l + dir.
        for (int64_t step = 0; step < L; ++step) {
          const int64_t l = reverse ? step : L - 1 - step;
          const int64_t next = l + dir, prev = l - dir;
          const int64_t row = (bi * L + l) * P + p0;
          const bool has_next = next >= 0 && next < L, has_prev = prev >= 0 && prev < L;
          const scalar_t* an = has_next ? a_at(next) : nullptr;
          const scalar_t* xprev = has_prev ? xp + (bi * L + prev) * P + p0 : (hp ? hp + bi * P + p0 : nullptr);
          backward_step(gp + row, an, xprev, q.data(), dbp + row, s.a_varying ? dap + row : dap + bi * P + p0,
                        !s.a_varying, n);
        }
        if (dhp) {  // h0 enters through the first step in forward order
          const scalar_t* a0 = a_at(reverse ? L - 1 : 0);
          for (int64_t i = 0; i < n; ++i) dhp[bi * P + p0 + i] = conj_of(a0[i]) * q[i];
        }
      }
    });
  });
  if (!s.a_varying) da = da.sum(0);
  return {mask[0] ? da : at::Tensor(), mask[1] ? db : at::Tensor(), dh0};
}

}  // namespace ssm::ops
