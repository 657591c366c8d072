// ssm::butterfly_conv without factors: the orchestration of the exact-DFT pipelines
// (cuda/butterfly_conv/butterfly_fft.h), shared by the CPU backend (src/ops/butterfly_conv/exact_cpu.cpp) and the CUDA
// glue (src/ops/butterfly_conv/butterfly_conv_cuda.cpp), which differ only in the Runner that executes a pipeline:
//   forward : K = spectrum of the circular kernel (H rows); y = convolution pipeline over the B H rows of u (real rows
//             of n / 2, single rows of n, or paired rows of n: ButterflyOptions::rows);
//   backward: du = the same pipeline on dy with conj(K); dk = Re F^-1 (sum_b F(dy_b) conj(F(u_b))) / n, u and dy
//             each transformed as its own real row.
// Runner: `template <class X> void operator()(const cuda::fft::FftJob<X, Real>&) const` runs a pipeline;
// `bool needs_work(const cuda::ButterflyPlan&) const` says whether it needs the complex work area (and the
// tile passes' twiddle table, which `fill_twiddles(table, n)` fills); `correlate(U, G, GK, plan, B, H)` runs
// cuda::fft::correlate_item over the H n outputs; `int64_t correlation_splits(plan, B, H)` is 0 when the plan needs
// that scheme, else the number of batch splits of `correlate_fused(job, GK_partials, splits)`, which runs
// cuda::fft::correlate_channel for every (split, h) into GK_partials (splits, H, n); `bool fused_ends(const
// ButterflyOptions&) const`: the schedule of the sub-rows (cuda::fft::FftJob::fused_ends); `int64_t cache_bytes()
// const`: the work area of a multi-pass pipeline runs in chunks of rows of about this size, which the tile and sub-row
// passes of a chunk then find in cache (the GPU's L2) instead of memory; `bool tensor_cores(const ButterflyOptions&)
// const`: the convolutions and the kernel gradient's transforms ask for the tensor-core blocks
// (cuda::fft::FftJob::tensor_cores; the CUDA launchers take them for bf16 storage).
#pragma once

#include "butterfly_conv/butterfly_fft.h"
#include "ops/butterfly_conv/butterfly_conv.h"
#include "ops/butterfly_conv/options.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/sum.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace ssm::ops {

// Longest sub-row the CPU runs in one piece (planar float32: 270 KB, in a core's L2); longer rows take tile passes
// around independent sub-rows, as on the GPU from cuda::kButterflyMaxFused on. Real rows need n / 2 at most this.
constexpr int64_t kButterflyCpuSubrowMax = 32768;

inline cuda::ButterflyPlan butterfly_plan(int64_t n, const std::vector<ButterflyStage>& stages) {
  cuda::ButterflyPlan plan;
  TORCH_CHECK(static_cast<int>(stages.size()) <= cuda::kButterflyMaxStages, "ssm::butterfly_conv: n = ", n, " needs ",
              stages.size(), " butterfly stages; at most ", cuda::kButterflyMaxStages, " are supported");
  plan.n = n;
  plan.stages = static_cast<int>(stages.size());
  for (int i = 0; i < plan.stages; ++i) {
    plan.radix[i] = static_cast<int>(stages[i].r);
    plan.P[i] = stages[i].P;
    plan.m[i] = stages[i].m;
  }
  return plan;
}

// T: storage type of u, k, D and of the gradients; Real: arithmetic type (complex spectra are (Real, Real)).
template <typename T, typename Real, class Runner>
struct ButterflyFft {
  const ButterflyConvSizes& s;
  Runner runner;
  ButterflyOptions options = butterfly_options();
  bool fused_ends = runner.fused_ends(options);
  bool tensor_cores = runner.tensor_cores(options);
  cuda::ButterflyPlan plan = butterfly_plan(s.n, s.stages);
  at::ScalarType cdt = std::is_same<Real, double>::value ? at::kComplexDouble : at::kComplexFloat;
  at::Tensor row_twiddles;  // the tile passes' table over n, when the plan needs them
  int64_t chunk = 0;        // rows per pass of a multi-pass pipeline (0: the plan is one sub-row)
  // The convolutions (kernel spectrum, y, du) as real rows of the plan of n / 2, or as complex rows of n that hold one
  // real row (single) or two (paired); the kernel gradient transforms u and dy as single rows.
  bool real = false, pair = false;
  cuda::ButterflyPlan half;

  ButterflyFft(const ButterflyConvSizes& sizes, Runner r, const at::TensorOptions& topt) : s(sizes), runner(r) {
    using Rows = ButterflyOptions::Rows;
    const bool multi_pass = runner.needs_work(plan);
    if ((options.rows == Rows::kAuto || options.rows == Rows::kReal) && s.n % 2 == 0 && s.n >= 4) {
      half = butterfly_plan(s.n / 2, butterfly_stages(s.n / 2));
      real = !runner.needs_work(half);
    }
    pair = options.rows == Rows::kPaired;
    if (multi_pass) {
      row_twiddles = at::empty({cuda::fft::twiddle_table_size(s.n)}, topt.dtype(cdt));
      runner.fill_twiddles(cx(row_twiddles), s.n);
      chunk = std::max<int64_t>(1, (options.chunk_bytes > 0 ? options.chunk_bytes : runner.cache_bytes()) /
                                       (s.n * static_cast<int64_t>(sizeof(cuda::fft::Cx<Real>))));
    }
  }

  // Runs job j over its rows: at once when the plan is one sub-row, else in chunks of rows, each with j.work (its
  // scratch rows) or, with `data`, the rows of the complex input (rows, n) that the pipeline reads and overwrites.
  template <typename X>
  void run(cuda::fft::FftJob<X, Real> j, cuda::fft::Cx<Real>* data = nullptr) const {
    if (chunk == 0 || j.real_rows) {
      runner(j);
      return;
    }
    const int64_t rows = j.rows;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
      j.row0 = r0;
      j.rows = std::min(chunk, rows - r0);
      if (data != nullptr) j.work = data + r0 * s.n;
      runner(j);
    }
  }

  template <typename X>
  cuda::fft::FftJob<X, Real> job(int64_t rows) const {
    cuda::fft::FftJob<X, Real> j;
    j.plan = plan;
    j.rows = rows;
    j.B = s.B;
    j.H = s.H;
    j.row_twiddles = cx(row_twiddles);
    j.fused_ends = fused_ends;
    return j;
  }
  // A job over real rows (the plan of n / 2, no work area).
  template <typename X>
  cuda::fft::FftJob<X, Real> real_job(int64_t rows) const {
    auto j = job<X>(rows);
    j.plan = half;
    j.real_rows = true;
    j.row_twiddles = nullptr;
    const double a = 3.14159265358979323846 / static_cast<double>(half.n);
    j.root_half = {static_cast<Real>(std::cos(a)), static_cast<Real>(-std::sin(a))};
    return j;
  }
  static cuda::fft::Cx<Real>* cx(const at::Tensor& t) {
    return t.defined() ? reinterpret_cast<cuda::fft::Cx<Real>*>(t.data_ptr()) : nullptr;
  }
  // The scratch rows of a multi-pass pipeline over `rows` rows (one chunk of them).
  at::Tensor work(int64_t rows, const at::Tensor& like) const {
    return chunk > 0 ? at::empty({std::min(rows, chunk), s.n}, like.options().dtype(cdt)) : at::Tensor();
  }

  // (rows, n) complex spectra (digit order) of the real rows x (rows, len) of storage type X: one row per channel;
  // with real rows (rows, n / 2), the half spectrum in the digit order of n / 2 (cuda::fft::FftJob::real_rows).
  template <typename X>
  at::Tensor spectrum(const at::Tensor& x, int64_t rows, int64_t len) const {
    if (real) {
      at::Tensor out = at::empty({rows, half.n}, x.options().dtype(cdt));  // (rows, n / 2)
      auto j = real_job<X>(rows);
      j.B = 1;
      j.src = static_cast<const X*>(x.const_data_ptr());
      j.src_len = len;
      j.spectrum_out = cx(out);
      run(j);
      return out;
    }
    at::Tensor out = at::empty({rows, s.n}, x.options().dtype(cdt));  // (rows, n)
    const at::Tensor w = work(rows, x);
    auto j = job<X>(rows);
    j.B = 1;
    j.src = static_cast<const X*>(x.const_data_ptr());
    j.src_len = len;
    j.work = cx(w);
    j.spectrum_out = cx(out);
    run(j);
    return out;
  }

  // y = Re F^-1 (K (or conj K) F x) + D x over the B H rows of x (B, H, L): real rows, or one (single) or two
  // (paired) rows per complex pipeline row (K from spectrum()).
  void convolve(const at::Tensor& x, const at::Tensor& K, bool conj_K, const at::Tensor& D, const at::Tensor& y) const {
    const int64_t rows = cuda::fft::pipeline_rows(s.B, s.H, pair && !real);
    const at::Tensor w = real ? at::Tensor() : work(rows, x);
    auto j = real ? real_job<T>(rows) : job<T>(rows);
    j.pair = pair && !real;
    j.src = static_cast<const T*>(x.const_data_ptr());
    j.src_len = s.L;
    j.dst = static_cast<T*>(y.mutable_data_ptr());
    j.dst_len = s.L;
    j.skip = j.src;
    j.D = D.defined() ? static_cast<const T*>(D.const_data_ptr()) : nullptr;
    j.work = cx(w);
    j.spectrum = cx(K);
    j.conj_spectrum = conj_K;
    j.scale = Real(1) / static_cast<Real>(s.n);
    j.tensor_cores = tensor_cores;
    run(j);
  }

  // Re(F^-1 Z) / n (rows, n) of Real for complex rows Z (rows, n), which the pipeline overwrites.
  at::Tensor inverse(const at::Tensor& Z) const {
    const int64_t rows = Z.size(0);
    at::Tensor out = at::empty({rows, s.n}, Z.options().dtype(c10::toRealValueType(cdt)));  // (rows, n)
    auto j = job<Real>(rows);
    j.B = 1;
    j.H = rows;
    j.work = cx(Z);
    j.complex_in = true;
    j.forward = false;
    j.dst = out.mutable_data_ptr<Real>();
    j.dst_len = s.n;
    j.scale = Real(1) / static_cast<Real>(s.n);
    run(j, j.work);
    return out;
  }

  // The gradient (H, n) Real of the circular kernel: Re F^-1 (sum_b F(g_b) conj F(u_b)) / n, each of u_b and g_b
  // transformed as its own real row (exactly linear in g): accumulated per channel as they are made when the plan is
  // one sub-row, else both sets of spectra written out and reduced.
  at::Tensor kernel_grad(const at::Tensor& g, const at::Tensor& u) const {
    const int64_t splits = runner.correlation_splits(plan, s.B, s.H);
    if (splits > 0) {
      at::Tensor GKp = at::empty({splits, s.H, s.n}, u.options().dtype(cdt));  // (splits, H, n) partial sums
      auto j = job<T>(s.B * s.H);
      j.src = static_cast<const T*>(u.const_data_ptr());
      j.src_imag = static_cast<const T*>(g.const_data_ptr());
      j.src_len = s.L;
      j.tensor_cores = tensor_cores;
      runner.correlate_fused(j, cx(GKp), splits);
      return inverse(splits == 1 ? GKp.select(0, 0) : GKp.sum(0));
    }
    const int64_t rows = s.B * s.H;
    const at::Tensor w = work(rows, u);
    auto spectra = [&](const at::Tensor& x) {
      at::Tensor X = at::empty({rows, s.n}, u.options().dtype(cdt));  // (H B, n), pipeline row order
      auto j = job<T>(rows);
      j.src = static_cast<const T*>(x.const_data_ptr());
      j.src_len = s.L;
      j.work = cx(w);
      j.spectrum_out = cx(X);
      j.tensor_cores = tensor_cores;
      run(j);
      return X;
    };
    const at::Tensor U = spectra(u), G = spectra(g);
    at::Tensor GK = at::empty({s.H, s.n}, U.options());  // (H, n)
    runner.correlate(cx(U), cx(G), cx(GK), plan, s.B, s.H);
    return inverse(GK);
  }
};

}  // namespace ssm::ops
