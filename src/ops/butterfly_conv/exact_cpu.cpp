// ssm::butterfly_conv without factors on the CPU: the exact-DFT pipeline of cuda/butterfly_conv/butterfly_fft.h -- the code the
// CUDA kernels run, here with each parallel step of a thread block as a loop -- parallel over sub-rows and columns.
// The orchestration mirrors src/ops/butterfly_conv/butterfly_conv_cuda.cpp: the kernel spectrum, one convolution pipeline
// for y (and for du with the conjugated spectrum), and for dk the batch-reduced correlation of the spectra of dy and u
// transformed back.
#include "ops/butterfly_conv/exact.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>
#include <cstring>
#include <vector>

typedef float v8f __attribute__((vector_size(32)));  // eight float32 lanes (two SSE registers, one AVX)

namespace ssm::cuda::fft {
template <>
struct ScalarOf<v8f> {
  using type = float;
};
}  // namespace ssm::cuda::fft

namespace ssm::ops {
namespace {

using cuda::fft::Cx;
using cuda::fft::FftJob;


// A thread block's parallel step as a loop; its own type for the SIMD overloads of exec_stage and exec_tile_stage.
struct CpuExec : cuda::fft::SerialExec {};

// The CUDA schedule (SSM_BUTTERFLY=schedule=fused) on the CPU, as a check of it: the kernels' scalar stages (no
// overloads for this type), each parallel step's items in reverse order.
using cuda::fft::ReverseExec;

// Runs f with the executor of the schedule: CpuExec, or ReverseExec for the CUDA schedule (fused ends).
template <class F>
void with_exec(bool fused_ends, F&& f) {
  if (fused_ends)
    f(ReverseExec{});
  else
    f(CpuExec{});
}

// Eight lanes (l = 0 .. 7) from f(l), a Cx<float> each.
template <class F>
SSM_HD Cx<v8f> lanes(F&& f) {
  Cx<v8f> v;
  for (int l = 0; l < 8; ++l) {
    const Cx<float> x = f(l);
    v.x[l] = x.x;
    v.y[l] = x.y;
  }
  return v;
}
// Eight contiguous entries of both planes from idx on, and back.
SSM_HD Cx<v8f> load8(const float* xr, const float* xi, int idx) {
  Cx<v8f> v;
  std::memcpy(&v.x, xr + idx, sizeof(v8f));
  std::memcpy(&v.y, xi + idx, sizeof(v8f));
  return v;
}
SSM_HD void store8(float* xr, float* xi, int idx, const Cx<v8f>& v) {
  std::memcpy(xr + idx, &v.x, sizeof(v8f));
  std::memcpy(xi + idx, &v.y, sizeof(v8f));
}

// float32 stages run eight columns c .. c + 7 at once on GCC vector types, with the same codelets: for m a multiple
// of 8 the eight columns (p, j0 .. j0 + 7) are contiguous in the padded buffer (8-aligned runs never cross a padding
// slot); otherwise (the last stage, m = 1, and odd m) each lane gathers its column. A ragged tail of columns runs
// through the scalar subrow_column, which is also what the CUDA kernels run.
template <int R, bool kInv, bool kContiguous>
void column8(float* xr, float* xi, int c, int m, int P, const cuda::fft::TwiddleTable<float>& tw) {
  Cx<v8f> v[R];
  int base[8];
  const Cx<v8f> w = lanes([&](int l) SSM_INLINE_LAMBDA {
    const int p = (c + l) / m, j = c + l - p * m;
    base[l] = p * R * m + j;
    return tw(j * P);  // exp(-2 pi i j / (R m)); exactly 1 for j = 0
  });
  for (int i = 0; i < R; ++i) {
    if constexpr (kContiguous) {
      v[i] = load8(xr, xi, cuda::fft::pad(base[0] + i * m));
    } else {
      v[i] = lanes([&](int l) SSM_INLINE_LAMBDA {
        const int idx = cuda::fft::pad(base[l] + i * m);
        return Cx<float>{xr[idx], xi[idx]};
      });
    }
  }
  cuda::fft::twiddled_dft<R, kInv>(v, true, [&] { return w; });
  for (int i = 0; i < R; ++i) {
    if constexpr (kContiguous) {
      store8(xr, xi, cuda::fft::pad(base[0] + i * m), v[i]);
    } else {
      for (int l = 0; l < 8; ++l) {
        const int idx = cuda::fft::pad(base[l] + i * m);
        xr[idx] = v[i].x[l];
        xi[idx] = v[i].y[l];
      }
    }
  }
}

template <int R, bool kInv>
void stage8(int len, int m, int P, float* xr, float* xi, const cuda::fft::TwiddleTable<float>& tw) {
  const int cols = len / R;
  int c = 0;
  if (m % 8 == 0) {
    for (; c < cols; c += 8) column8<R, kInv, true>(xr, xi, c, m, P, tw);
  } else {
    for (; c + 8 <= cols; c += 8) column8<R, kInv, false>(xr, xi, c, m, P, tw);
  }
  for (; c < cols; ++c) cuda::fft::subrow_column<R, kInv>(xr, xi, c, m, P, tw);
}

// The float32 stages of CpuExec (found by argument-dependent lookup from cuda::fft::run_subrow).
template <bool kInv>
void exec_stage(CpuExec&, int r, int len, int m, int P, float* xr, float* xi,
                const cuda::fft::TwiddleTable<float>& tw) {
#define SSM_CALL(R) stage8<R, kInv>(len, m, P, xr, xi, tw)
  SSM_FFT_RADIX_SWITCH(r, SSM_CALL)
#undef SSM_CALL
}

// float32 tile stages: eight of the tile's columns g0 .. g0 + 7 as the lanes (entries (a, g0 .. g0 + 7) are
// contiguous); j0 = the first lane's column in the full row's view of the stage.
template <int R, bool kInv>
void tile_column8(float* xr, float* xi, int base, int mloc, int stride, int g0, int j0, int P,
                  const cuda::fft::TwiddleTable<float>& tw) {
  Cx<v8f> v[R];
  const Cx<v8f> w = lanes([&](int l) SSM_INLINE_LAMBDA { return tw((j0 + l) * P); });  // exactly 1 for column 0
  for (int i = 0; i < R; ++i) v[i] = load8(xr, xi, (base + i * mloc) * stride + g0);
  cuda::fft::twiddled_dft<R, kInv>(v, true, [&] { return w; });
  for (int i = 0; i < R; ++i) store8(xr, xi, (base + i * mloc) * stride + g0, v[i]);
}

template <int R, bool kInv>
void tile_stage8(const cuda::fft::TileLayout& lay, int G, int t0, int mloc, int P, float* xr, float* xi,
                 const cuda::fft::TwiddleTable<float>& tw) {
  const int stride = lay.G;
  for (int c = 0; c < lay.Q / R; ++c) {
    const int p = c / mloc, jl = c - p * mloc, base = p * R * mloc + jl, j0 = jl * lay.len + t0;
    int g = 0;
    for (; g + 8 <= G; g += 8) tile_column8<R, kInv>(xr, xi, base, mloc, stride, g, j0 + g, P, tw);
    for (; g < G; ++g)  // a partial tile's last columns: the scalar code of the CUDA kernels
      cuda::fft::buffer_column<R, kInv>(
          xr, xi, [&](int a) { return (base + a * mloc) * stride + g; }, j0 + g > 0,
          [&] { return tw((j0 + g) * P); });
  }
}

// The float32 tile stages of CpuExec (found by argument-dependent lookup from cuda::fft::run_tile).
template <bool kInv>
void exec_tile_stage(CpuExec&, int r, const cuda::fft::TileLayout& lay, int G, int t0, int mloc, int P, float* xr,
                     float* xi, const cuda::fft::TwiddleTable<float>& tw) {
#define SSM_CALL(R) tile_stage8<R, kInv>(lay, G, t0, mloc, P, xr, xi, tw)
  SSM_FFT_RADIX_SWITCH(r, SSM_CALL)
#undef SSM_CALL
}

// Tiles of 16 inner positions (run_tile): 16 contiguous complex entries per outer index, two SIMD vectors.
constexpr int kTileColumns = 16;

// The outer stages [0, first) of every row, forward or inverse, one tile per task.
template <bool kInv, typename Real>
void tile_pass(const FftJob<Real, Real>& job, int first) {
  const auto lay = cuda::fft::tile_layout(job.plan, first, kTileColumns);
  at::parallel_for(0, job.rows * lay.tiles, 1, [&](int64_t b, int64_t e) {
    const FlushDenormals no_denormals;  // see ops/common/library.h
    std::vector<Real> buf(static_cast<size_t>(lay.total));
    with_exec(job.fused_ends, [&](auto ex) {
      for (int64_t tile = b; tile < e; ++tile) cuda::fft::run_tile<kInv>(ex, job, first, tile, buf.data(), lay);
    });
  });
}

template <typename Real>
void fill_table(Cx<Real>* table, int64_t len) {
  for (int64_t i = 0; i < cuda::fft::twiddle_table_size(len); ++i)
    table[i] = cuda::fft::twiddle_table_entry<Real>(len, i);
}

// A task's twiddle table of length len, filled at offset tw (in Real elements) of its buffer.
template <typename Real>
cuda::fft::TwiddleTable<Real> task_table(std::vector<Real>& buf, int64_t tw, int64_t len) {
  auto* table = reinterpret_cast<Cx<Real>*>(buf.data() + tw);
  fill_table(table, len);
  return cuda::fft::twiddle_table<Real>(table, len);
}

// Runs a pipeline: tile passes for the outer stages when n > kButterflyCpuSubrowMax, sub-rows in between.
template <typename Real>
void run(const FftJob<Real, Real>& job) {
  if (job.rows == 0) return;
  const auto& plan = job.plan;
  const int first = cuda::fft::first_subrow_stage(plan, kButterflyCpuSubrowMax);
  TORCH_INTERNAL_ASSERT(first == 0 || (job.work != nullptr && job.row_twiddles != nullptr),
                        "butterfly pipeline without its work area");
  TORCH_INTERNAL_ASSERT(first == 0 || !job.real_rows, "butterfly real rows need a plan of one sub-row");
  if (job.forward && first > 0) tile_pass<false>(job, first);
  FftJob<Real, Real> inner = job;
  if (first > 0) {
    inner.complex_in = true;
    inner.complex_out = true;
    inner.scale = Real(1);
  }
  const int64_t subs = plan.P[first], len = plan.n / subs;
  const auto lay = cuda::fft::subrow_layout(len);
  at::parallel_for(0, job.rows * subs, 1, [&](int64_t b, int64_t e) {
    const FlushDenormals no_denormals;  // see ops/common/library.h
    std::vector<Real> buf(static_cast<size_t>(lay.total));
    const auto tw = task_table(buf, lay.tw, len);
    with_exec(job.fused_ends, [&](auto ex) {
      for (int64_t sr = b; sr < e; ++sr)
        cuda::fft::run_subrow_any(ex, inner, first, sr, buf.data() + lay.xr, buf.data() + lay.xi, tw);
    });
  });
  if (job.spectrum_out != nullptr || first == 0) return;
  tile_pass<true>(job, first);
}

template <typename Real>
struct CpuRunner {
  // Staged unless asked for the CUDA schedule; no tensor cores (the bf16 field is checked with the others and ignored).
  bool fused_ends(const ButterflyOptions& o) const { return o.schedule == ButterflyOptions::Schedule::kFused; }
  bool tensor_cores(const ButterflyOptions&) const { return false; }
  template <typename X>
  void operator()(const FftJob<X, Real>& job) const {
    static_assert(std::is_same<X, Real>::value, "the CPU pipelines store what they compute in");
    run(job);
  }
  bool needs_work(const cuda::ButterflyPlan& plan) const { return cuda::fft::first_subrow_stage(plan, kButterflyCpuSubrowMax) > 0; }
  // Work rows of a multi-pass pipeline per chunk: 8 MiB, within the last-level cache.
  int64_t cache_bytes() const { return int64_t{8} << 20; }
  void fill_twiddles(Cx<Real>* table, int64_t n) const { fill_table(table, n); }
  // Tasks (split, h): at least two per thread when there are few channels (batch splits, summed afterwards).
  int64_t correlation_splits(const cuda::ButterflyPlan& plan, int64_t B, int64_t H) const {
    if (cuda::fft::first_subrow_stage(plan, kButterflyCpuSubrowMax) > 0 || B == 0 || H == 0) return 0;
    return std::clamp<int64_t>((2 * at::get_num_threads() + H - 1) / H, 1, B);
  }
  template <typename X>
  void correlate_fused(const FftJob<X, Real>& job, Cx<Real>* partials, int64_t splits) const {
    const int64_t n = job.plan.n;
    const auto lay = cuda::fft::correlate_layout(n);
    at::parallel_for(0, splits * job.H, 1, [&](int64_t tb, int64_t te) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      std::vector<Real> buf(static_cast<size_t>(lay.total));
      const auto tw = task_table(buf, lay.row.tw, n);
      with_exec(job.fused_ends, [&](auto ex) {
        for (int64_t task = tb; task < te; ++task) {  // as the CUDA blocks: task = split H + h
          const int64_t h = task % job.H, split = task / job.H;
          int64_t b0 = 0, b1 = 0;
          cuda::fft::correlation_batch_range(job.B, splits, split, &b0, &b1);
          Cx<Real>* out = partials + task * n;
          cuda::fft::correlate_channel(ex, job, h, b0, b1, buf.data(), lay, tw,
                                       [&](int t, Cx<Real> v) { out[t] = v; });
        }
      });
    });
  }
  void correlate(const Cx<Real>* U, const Cx<Real>* G, Cx<Real>* GK, const cuda::ButterflyPlan& plan, int64_t B,
                 int64_t H) const {
    at::parallel_for(0, H * plan.n, 1024, [&](int64_t b, int64_t e) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      for (int64_t i = b; i < e; ++i) cuda::fft::correlate_item(U, G, GK, plan, B, H, i);
    });
  }
};

template <typename Real>
using CpuFft = ButterflyFft<Real, Real, CpuRunner<Real>>;

// The spectrum (H, n) of the circular kernel: k at 0..Lk-1, k_rev[d] at n-1-d.
template <typename Real>
at::Tensor kernel_spectrum(const CpuFft<Real>& f, const at::Tensor& k, const OptTensor& k_rev) {
  const auto& s = f.s;
  at::Tensor kp = at::zeros({s.H, s.n}, k.options());  // (H, n)
  kp.narrow(1, 0, s.Lk).copy_(k);
  if (s.has_k_rev) kp.narrow(1, s.n - s.Lk, s.Lk).add_(k_rev->flip({1}));
  return f.template spectrum<Real>(kp, s.H, s.n);
}

template <typename Real>
at::Tensor forward(const ButterflyConvSizes& s, const at::Tensor& u_in, const at::Tensor& k, const OptTensor& D,
                   const OptTensor& k_rev) {
  const CpuFft<Real> f(s, {}, u_in.options());
  const at::Tensor u = u_in.contiguous();
  at::Tensor y = at::empty_like(u);  // (B, H, L)
  if (s.B == 0) return y;
  f.convolve(u, kernel_spectrum(f, k, k_rev), false, s.has_D ? D->contiguous() : at::Tensor(), y);
  return y;
}

template <typename Real>
ButterflyConvGrads backward(const ButterflyConvSizes& s, const at::Tensor& grad_y, const at::Tensor& u_in,
                            const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev, std::array<bool, 5> mask) {
  const CpuFft<Real> f(s, {}, u_in.options());
  const at::Tensor u = u_in.contiguous(), g = grad_y.contiguous();
  at::Tensor du, dk, dD, dk_rev;
  if (s.B == 0)
    return {mask[0] ? at::empty_like(u) : du, mask[1] ? at::zeros_like(k) : dk,
            mask[2] && s.has_D ? at::zeros_like(*D) : dD, mask[3] && s.has_k_rev ? at::zeros_like(*k_rev) : dk_rev,
            {}};
  if (mask[0]) {
    du = at::empty_like(u);  // (B, H, L)
    f.convolve(g, kernel_spectrum(f, k, k_rev), true, s.has_D ? D->contiguous() : at::Tensor(), du);
  }
  if (mask[1] || (mask[3] && s.has_k_rev)) {
    const at::Tensor kg = f.kernel_grad(g, u);  // (H, n): gradient of the circular kernel
    if (mask[1]) dk = kg.narrow(1, 0, s.Lk).contiguous();
    if (mask[3] && s.has_k_rev) dk_rev = kg.narrow(1, s.n - s.Lk, s.Lk).flip({1});
  }
  if (mask[2] && s.has_D) dD = (g.to(at::kDouble) * u.to(at::kDouble)).sum(at::IntArrayRef{0, 2}).to(u.scalar_type());
  return {du, dk, dD, dk_rev, {}};
}

}  // namespace

at::Tensor butterfly_conv_fft_cpu(const ButterflyConvSizes& sizes, const at::Tensor& u, const at::Tensor& k,
                                  const OptTensor& D, const OptTensor& k_rev) {
  at::AutoDispatchBelowADInplaceOrView no_autograd;
  if (u.scalar_type() == at::kDouble) return forward<double>(sizes, u, k, D, k_rev);
  return forward<float>(sizes, u, k, D, k_rev);
}

ButterflyConvGrads butterfly_conv_backward_fft_cpu(const ButterflyConvSizes& sizes, const at::Tensor& grad_y,
                                                   const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                                   const OptTensor& k_rev, std::array<bool, 5> mask) {
  at::AutoDispatchBelowADInplaceOrView no_autograd;
  if (u.scalar_type() == at::kDouble) return backward<double>(sizes, grad_y, u, k, D, k_rev, mask);
  return backward<float>(sizes, grad_y, u, k, D, k_rev, mask);
}

}  // namespace ssm::ops
