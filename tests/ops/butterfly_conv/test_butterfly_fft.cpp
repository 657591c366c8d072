// cuda/butterfly_conv/butterfly_fft.h on its own (the host-device code of the exact-DFT butterfly, shared by the CPU backend and the
// CUDA kernels): every codelet against the DFT sum, twiddle powers, the digit-order position of -f, and a whole
// spectrum (stages in digit order, u + i g rows) against the DFT sum, in float64.
#include "butterfly_conv/butterfly_fft.h"
#include "ssm/ops.h"
#include "tc_warp_emulator.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <complex>
#include <cstdio>
#include <random>
#include <vector>

namespace ssm::test {
namespace {

using cuda::fft::Cx;
using cplx = std::complex<double>;

std::vector<cplx> random_complex(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> d;
  std::vector<cplx> v(n);
  for (auto& x : v) x = {d(gen), d(gen)};
  return v;
}

// sum_i x_i exp(-+ 2 pi i a i / n), the phase reduced exactly first
std::vector<cplx> dft_sum(const std::vector<cplx>& x, bool inverse) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<cplx> out(x.size());
  for (int64_t a = 0; a < n; ++a)
    for (int64_t i = 0; i < n; ++i)
      out[a] += x[i] * std::polar(1.0, (inverse ? 2.0 : -2.0) * M_PI * static_cast<double>((a * i) % n) / n);
  return out;
}

template <int R, bool kInv>
double codelet_error(unsigned seed) {
  const auto x = random_complex(R, seed);
  Cx<double> v[R];
  for (int i = 0; i < R; ++i) v[i] = {x[i].real(), x[i].imag()};
  cuda::fft::dft<R, kInv>(v);
  const auto ref = dft_sum(x, kInv);
  double err = 0;
  for (int a = 0; a < R; ++a) err = std::max(err, std::abs(ref[a] - cplx(v[a].x, v[a].y)));
  return err;
}

TEST(ButterflyFft, EveryCodeletIsTheDft) {
#define SSM_CHECK(R)                                                                            \
  EXPECT_LT((codelet_error<R, false>(R)), 1e-14) << "forward radix " << R;                      \
  EXPECT_LT((codelet_error<R, true>(R + 100)), 1e-14) << "inverse radix " << R;
  SSM_CHECK(2) SSM_CHECK(3) SSM_CHECK(4) SSM_CHECK(5) SSM_CHECK(6) SSM_CHECK(7) SSM_CHECK(8) SSM_CHECK(9)
  SSM_CHECK(10) SSM_CHECK(12) SSM_CHECK(14) SSM_CHECK(15) SSM_CHECK(16)
#undef SSM_CHECK
}

// The twiddle table of length len (twiddle_table_size(len) entries at storage), filled, as a kernel's block does.
template <typename Real>
cuda::fft::TwiddleTable<Real> fill_twiddle_table(Cx<Real>* storage, int64_t len) {
  for (int64_t i = 0; i < cuda::fft::twiddle_table_size(len); ++i)
    storage[i] = cuda::fft::twiddle_table_entry<Real>(len, i);
  return cuda::fft::twiddle_table<Real>(storage, len);
}

TEST(ButterflyFft, TwiddleTableHoldsEveryRoot) {
  for (const int64_t len : {2, 7, 60, 2048, 1 << 21}) {
    std::vector<Cx<double>> storage(cuda::fft::twiddle_table_size(len));
    const auto tw = fill_twiddle_table(storage.data(), len);
    for (int64_t t = 0; t < len; t += 1 + len / 1000) {
      const Cx<double> w = tw(static_cast<int>(t));
      EXPECT_LT(std::abs(cplx(w.x, w.y) - std::polar(1.0, -2.0 * M_PI * t / len)), 1e-15)
          << "len " << len << " t " << t;
    }
  }
}

TEST(ButterflyFft, TwiddlePowers) {
  Cx<double> v[16];
  const auto x = random_complex(16, 7);
  for (int i = 0; i < 16; ++i) v[i] = {x[i].real(), x[i].imag()};
  const double phi = 0.7309;
  cuda::fft::apply_powers<16, false>(v, Cx<double>{std::cos(phi), std::sin(phi)});
  for (int a = 0; a < 16; ++a)
    EXPECT_LT(std::abs(cplx(v[a].x, v[a].y) - x[a] * std::polar(1.0, phi * a)), 1e-14) << "power " << a;
}

cuda::ButterflyPlan plan_of(int64_t n) {
  cuda::ButterflyPlan plan;
  plan.n = n;
  int64_t P = 1;
  for (const int64_t r : ssm::butterfly_radices(n)) {
    plan.radix[plan.stages] = static_cast<int>(r);
    plan.P[plan.stages] = P;
    P *= r;
    plan.m[plan.stages] = n / P;
    ++plan.stages;
  }
  return plan;
}

// The frequency held at digit-order position t: t = sum a_k m_k holds f = sum a_k P_k.
int64_t frequency_at(const cuda::ButterflyPlan& plan, int64_t t) {
  int64_t f = 0;
  for (int k = 0; k < plan.stages; ++k) f += (t / plan.m[k]) % plan.radix[k] * plan.P[k];
  return f;
}

TEST(ButterflyFft, NegatedPositionHoldsMinusF) {
  for (const int64_t n : {2, 12, 30, 1568, 2000, 2048, 4096 * 5}) {
    const auto plan = plan_of(n);
    for (int64_t t = 0; t < n; ++t) {
      const int64_t tn = cuda::fft::negated_position(plan, t);
      ASSERT_EQ(frequency_at(plan, tn), (n - frequency_at(plan, t)) % n) << "n " << n << " position " << t;
    }
  }
}

using cuda::fft::ReverseExec;
using cuda::fft::SerialExec;

// The buffers and twiddle table of sub-rows of length len (subrow_layout), and the sub-row pipeline on them, in the
// job's row layout (run: the kernel without, run_tc: with job.tensor_cores, ex an executor with the warp blocks).
template <typename Real = double>
struct SubrowBuffers {
  int64_t len;
  cuda::fft::SubrowLayout lay = cuda::fft::subrow_layout(len);
  std::vector<Real> buf = std::vector<Real>(lay.total);
  explicit SubrowBuffers(int64_t l) : len(l) {
    fill_twiddle_table(reinterpret_cast<Cx<Real>*>(buf.data() + lay.tw), len);
  }
  cuda::fft::TwiddleTable<Real> table() const {
    return cuda::fft::twiddle_table<Real>(reinterpret_cast<const Cx<Real>*>(buf.data() + lay.tw), len);
  }
  template <class Exec>
  void run(Exec& ex, const cuda::fft::FftJob<Real, Real>& job, int first, int64_t sr) {
    cuda::fft::run_subrow_any(ex, job, first, sr, buf.data() + lay.xr, buf.data() + lay.xi, table());
  }
  template <class Exec>
  void run_tc(Exec& ex, const cuda::fft::FftJob<Real, Real>& job, int first, int64_t sr) {
    if (job.real_rows)
      cuda::fft::run_subrow<true, true>(ex, job, first, sr, buf.data() + lay.xr, buf.data() + lay.xi, table());
    else
      cuda::fft::run_subrow<false, true>(ex, job, first, sr, buf.data() + lay.xr, buf.data() + lay.xi, table());
  }
};

// The largest distance between X (n entries, digit order) and the DFT of x zero padded to n; *scale = max |DFT|.
double digit_order_error(const cuda::ButterflyPlan& plan, std::vector<cplx> x, const std::vector<Cx<double>>& X,
                         double* scale) {
  x.resize(plan.n);
  const auto ref = dft_sum(x, false);
  double err = 0;
  *scale = 0;
  for (int64_t t = 0; t < plan.n; ++t) {
    err = std::max(err, std::abs(ref[frequency_at(plan, t)] - cplx(X[t].x, X[t].y)));
    *scale = std::max(*scale, std::abs(ref[t]));
  }
  return err;
}

// A random complex row z (len entries) given as the real rows u = Re z and g = Im z of a one-row job.
struct RandomRow {
  std::vector<cplx> z;
  std::vector<double> u, g;
  RandomRow(int64_t len, unsigned seed) : z(random_complex(static_cast<size_t>(len), seed)), u(len), g(len) {
    for (int64_t t = 0; t < len; ++t) {
      u[t] = z[t].real();
      g[t] = z[t].imag();
    }
  }
  cuda::fft::FftJob<double, double> job(const cuda::ButterflyPlan& plan) const {
    cuda::fft::FftJob<double, double> j;
    j.plan = plan;
    j.rows = 1;
    j.src = u.data();
    j.src_imag = g.data();
    j.src_len = static_cast<int64_t>(u.size());
    return j;
  }
};

// The spectrum pipeline of one sub-row (the whole row, first stage 0) of u + i g for ragged lengths, in digit order.
TEST(ButterflyFft, SubrowSpectrumIsTheDftInDigitOrder) {
  for (const int64_t n : {6, 60, 1568, 2000}) {
    const int64_t len = n - 3;  // zero padded to n
    const auto plan = plan_of(n);
    const RandomRow row(len, static_cast<unsigned>(n));
    std::vector<Cx<double>> X(n);
    auto job = row.job(plan);
    job.spectrum_out = X.data();
    SubrowBuffers<> sub(n);
    SerialExec ex;
    sub.run(ex, job, 0, 0);
    double scale = 0;
    const double err = digit_order_error(plan, row.z, X, &scale);
    EXPECT_LT(err, 1e-13 * scale) << "n " << n;
  }
}

// The multi-pass scheme: the outer stages [0, first) as tiles of G inner positions (G = 16 and 5: partial tiles when
// the sub-row length is no multiple), then the sub-rows, give the spectrum in digit order; the inverse tiles bring
// it back (scaled into the work area, then as real rows with the skip term).
TEST(ButterflyFft, TiledSpectrumAndInverse) {
  for (const int64_t n : {60, 1568, 2000, 4096, 3 * 5 * 7 * 8}) {
    const auto plan = plan_of(n);
    for (int first = 1; first < plan.stages; ++first)
      for (const int G : {16, 5}) {
        SCOPED_TRACE("n " + std::to_string(n) + " first " + std::to_string(first) + " G " + std::to_string(G));
        const int64_t len = n - 5;
        const RandomRow row(len, static_cast<unsigned>(n + first));
        const auto& z = row.z;
        const auto& u = row.u;
        std::vector<Cx<double>> work(n), X(n), row_table(cuda::fft::twiddle_table_size(n));
        fill_twiddle_table(row_table.data(), n);
        auto job = row.job(plan);
        job.work = work.data();
        job.row_twiddles = row_table.data();
        ReverseExec ex;
        const auto tl = cuda::fft::tile_layout(plan, first, G);
        std::vector<double> tile(tl.total);
        for (int64_t t = 0; t < tl.tiles; ++t) cuda::fft::run_tile<false>(ex, job, first, t, tile.data(), tl);
        // the sub-rows, from the work area into X
        const int64_t subs = plan.P[first];
        SubrowBuffers<> sub(n / subs);
        auto inner = job;
        inner.complex_in = true;
        inner.spectrum_out = X.data();
        for (int64_t sr = 0; sr < subs; ++sr) sub.run(ex, inner, first, sr);
        double scale = 0;
        const double err = digit_order_error(plan, z, X, &scale);
        EXPECT_LT(err, 1e-13 * scale);
        // inverse: X -> work (the sub-rows' inverse stages), then the inverse tiles
        auto back = job;
        back.forward = false;
        back.complex_in = true;
        back.complex_out = true;
        back.scale = 1.0;
        for (int64_t t = 0; t < n; ++t) work[t] = X[t];
        for (int64_t sr = 0; sr < subs; ++sr) sub.run(ex, back, first, sr);
        const std::vector<Cx<double>> spectrum_back = work;
        back.scale = 1.0 / static_cast<double>(n);
        for (int64_t t = 0; t < tl.tiles; ++t) cuda::fft::run_tile<true>(ex, back, first, t, tile.data(), tl);
        double err_back = 0;
        for (int64_t t = 0; t < n; ++t)
          err_back = std::max(err_back, std::abs((t < len ? z[t] : cplx()) - cplx(work[t].x, work[t].y)));
        EXPECT_LT(err_back, 1e-13 * scale);
        // the real output: real parts (scaled) of the first L - 2 positions, plus D skip
        std::vector<double> y(len - 2, 0.0), skip(len - 2), D = {0.5};
        for (size_t t = 0; t < skip.size(); ++t) skip[t] = std::sin(static_cast<double>(t));
        auto out = back;
        out.complex_out = false;
        out.dst = y.data();
        out.dst_len = len - 2;
        out.skip = skip.data();
        out.D = D.data();
        for (int64_t t = 0; t < n; ++t) work[t] = spectrum_back[t];
        for (int64_t t = 0; t < tl.tiles; ++t) cuda::fft::run_tile<true>(ex, out, first, t, tile.data(), tl);
        double err_y = 0;
        for (size_t t = 0; t < y.size(); ++t) err_y = std::max(err_y, std::abs(y[t] - (u[t] + 0.5 * skip[t])));
        EXPECT_LT(err_y, 1e-13 * scale);
      }
  }
}

// A plan with the given radices in this order.
cuda::ButterflyPlan plan_of_radices(const std::vector<int>& radices) {
  cuda::ButterflyPlan plan;
  plan.n = 1;
  for (const int r : radices) plan.n *= r;
  int64_t P = 1;
  for (const int r : radices) {
    plan.radix[plan.stages] = r;
    plan.P[plan.stages] = P;
    P *= r;
    plan.m[plan.stages] = plan.n / P;
    ++plan.stages;
  }
  return plan;
}

// Fresh on every run: seed offset by the run's seed (test_main.cpp).
std::vector<double> random_real(size_t n, unsigned seed) {
  std::mt19937 gen(seed + static_cast<unsigned>(at::detail::getDefaultCPUGenerator().current_seed()));
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

// Real rows (FftJob::real_rows): a real row of 2 N through the N-point plan. The spectrum (digit order, entry 0
// packed as {X[0], X[N]}) against the DFT sum of the row zero padded to 2 N, and the convolution (and correlation,
// conj_spectrum) with a real kernel of 2 N, with the skip term and an odd output length, against the direct circular
// sums. Radix orders where a last-stage column is its own partner with lower digits (2, 16), where column 0 pairs
// within itself across an even radix (16, 2 / 4, 4, 4) and an odd one (3, 4, 5 / 5), one-stage plans, and both
// schedules with the items in order and in reverse.
TEST(ButterflyFft, RealRowsSpectrumAndConvolution) {
  std::vector<cuda::ButterflyPlan> plans;
  for (const auto& radices : std::vector<std::vector<int>>{
           {2}, {5}, {2, 16}, {16, 2}, {3, 4, 5}, {4, 4, 4}, {7, 2, 3}, {5, 3}, {8, 16, 16}})
    plans.push_back(plan_of_radices(radices));
  plans.push_back(plan_of(2000));
  plans.push_back(plan_of(1568));
  for (const auto& plan : plans)
    for (const bool fused : {false, true})
      for (const bool reverse : {false, true}) {
        const int64_t N = plan.n, n = 2 * N, len = n - 1;
        SCOPED_TRACE("N " + std::to_string(N) + " radix[0] " + std::to_string(plan.radix[0]) +
                     (fused ? " fused" : " staged") + (reverse ? " reverse" : ""));
        const auto x = random_real(static_cast<size_t>(len), static_cast<unsigned>(N + 7));
        const auto k = random_real(static_cast<size_t>(n), static_cast<unsigned>(N + 11));
        cuda::fft::FftJob<double, double> job;
        job.plan = plan;
        job.rows = 1;
        job.real_rows = true;
        job.fused_ends = fused;
        job.root_half = {std::cos(M_PI / static_cast<double>(N)), -std::sin(M_PI / static_cast<double>(N))};
        SubrowBuffers<> sub(N);
        auto run = [&](const cuda::fft::FftJob<double, double>& j) {
          if (reverse) {
            ReverseExec ex;
            sub.run(ex, j, 0, 0);
          } else {
            SerialExec ex;
            sub.run(ex, j, 0, 0);
          }
        };
        // spectra of x and of the kernel
        std::vector<Cx<double>> X(N), K(N);
        auto spec = job;
        spec.src = x.data();
        spec.src_len = len;
        spec.spectrum_out = X.data();
        run(spec);
        spec.src = k.data();
        spec.src_len = n;
        spec.spectrum_out = K.data();
        run(spec);
        std::vector<cplx> xc(n);
        for (int64_t t = 0; t < len; ++t) xc[t] = x[t];
        const auto ref = dft_sum(xc, false);
        double scale = 0, err = 0;
        for (const auto& v : ref) scale = std::max(scale, std::abs(v));
        for (int64_t t = 0; t < N; ++t) {
          const int64_t f = frequency_at(plan, t);
          if (f == 0)
            err = std::max({err, std::abs(ref[0] - X[t].x), std::abs(ref[N] - X[t].y)});
          else
            err = std::max(err, std::abs(ref[f] - cplx(X[t].x, X[t].y)));
        }
        EXPECT_LT(err, 1e-13 * scale) << "spectrum";
        // convolution and correlation with the skip term, output length n - 1 (odd: the last pair half stored)
        for (const bool conj : {false, true}) {
          std::vector<double> y(len, 0.0), D = {0.75};
          auto conv = job;
          conv.src = x.data();
          conv.src_len = len;
          conv.dst = y.data();
          conv.dst_len = len;
          conv.skip = x.data();
          conv.D = D.data();
          conv.spectrum = K.data();
          conv.conj_spectrum = conj;
          conv.scale = 1.0 / static_cast<double>(n);
          run(conv);
          double err_y = 0, size = 0;
          for (int64_t t = 0; t < len; ++t) {
            double want = 0.75 * x[t];
            for (int64_t s = 0; s < len; ++s) want += x[s] * k[((conj ? s - t : t - s) % n + n) % n];
            err_y = std::max(err_y, std::abs(y[t] - want));
            size = std::max(size, std::abs(want));
          }
          EXPECT_LT(err_y, 1e-12 * size) << (conj ? "correlation" : "convolution");
        }
      }
}

}  // namespace
}  // namespace ssm::test

namespace ssm::test {
namespace {

// One pipeline job over B = 3, H = 2 (paired rows, the last pair half empty; or the complex work rows of the
// multi-pass scheme's sub-row pass when first > 0), in float64 through the codelets and in float32 with the
// tensor-core blocks on the emulated warp: a convolution (spectrum K, conjugated when conj), or with spectrum_out the
// spectra alone; returns the largest difference relative to the largest output, and the number of warp blocks run in
// *blocks.
template <bool kRound>
double tc_job_error(const cuda::ButterflyPlan& plan, int first, bool fused, bool conj, bool spectra, int64_t* blocks) {
  const int64_t B = 3, H = 2, n = plan.n, L = n - 5, rows = cuda::fft::pipeline_rows(B, H, first == 0);
  const int64_t subs = plan.P[first], len = n / subs;
  const auto u = random_real(static_cast<size_t>(B * H * L), static_cast<unsigned>(n + first));
  const auto Kd = random_real(static_cast<size_t>(2 * H * n), static_cast<unsigned>(n + 3));
  const auto Wd = random_real(static_cast<size_t>(2 * rows * n), static_cast<unsigned>(n + 5));
  const std::vector<double> D = {0.5, -1.25};
  std::vector<float> uf(u.begin(), u.end()), Df(D.begin(), D.end());
  std::vector<Cx<double>> K(H * n), work(rows * n);
  std::vector<Cx<float>> Kf(H * n), workf(rows * n);
  for (int64_t i = 0; i < H * n; ++i) {
    K[i] = {Kd[2 * i], Kd[2 * i + 1]};
    Kf[i] = {static_cast<float>(Kd[2 * i]), static_cast<float>(Kd[2 * i + 1])};
  }
  for (int64_t i = 0; i < rows * n; ++i) {
    work[i] = {Wd[2 * i], Wd[2 * i + 1]};
    workf[i] = {static_cast<float>(Wd[2 * i]), static_cast<float>(Wd[2 * i + 1])};
  }
  std::vector<double> y(B * H * L, 0.0);
  std::vector<float> yf(B * H * L, 0.f);
  std::vector<Cx<double>> X(spectra ? rows * n : 0);
  std::vector<Cx<float>> Xf(X.size());
  auto fill = [&](auto& job, const auto* src, auto* dst, const auto* Dp, const auto* Kp, auto* wk, auto* out) {
    job.plan = plan;
    job.rows = rows;
    job.B = B;
    job.H = H;
    job.fused_ends = fused;
    job.conj_spectrum = conj;
    job.spectrum = spectra ? nullptr : Kp;
    job.spectrum_out = spectra ? out : nullptr;
    job.scale = 1.0f / static_cast<float>(n);
    job.work = wk;
    if (first > 0) {
      job.complex_in = job.complex_out = true;
    } else {
      job.pair = true;
      job.src = src;
      job.src_len = L;
      job.dst = dst;
      job.dst_len = L;
      job.skip = src;
      job.D = Dp;
    }
  };
  cuda::fft::FftJob<double, double> ref;
  fill(ref, u.data(), y.data(), D.data(), K.data(), work.data(), X.data());
  ref.scale = 1.0 / static_cast<double>(n);
  SubrowBuffers<> sub(len);
  SerialExec serial;
  for (int64_t sr = 0; sr < rows * subs; ++sr) sub.run(serial, ref, first, sr);

  cuda::fft::FftJob<float, float> job;
  fill(job, uf.data(), yf.data(), Df.data(), Kf.data(), workf.data(), Xf.data());
  job.tensor_cores = true;
  SubrowBuffers<float> subf(len);
  EmuTcExec<kRound> ex;
  for (int64_t sr = 0; sr < rows * subs; ++sr) subf.run_tc(ex, job, first, sr);
  *blocks = ex.blocks_run;

  double err = 0, size = 0;
  if (spectra) {
    for (size_t i = 0; i < X.size(); ++i) {
      err = std::max({err, std::abs(X[i].x - Xf[i].x), std::abs(X[i].y - Xf[i].y)});
      size = std::max({size, std::abs(X[i].x), std::abs(X[i].y)});
    }
  } else if (first > 0) {
    for (int64_t i = 0; i < rows * n; ++i) {
      err = std::max({err, std::abs(work[i].x - workf[i].x), std::abs(work[i].y - workf[i].y)});
      size = std::max({size, std::abs(work[i].x), std::abs(work[i].y)});
    }
  } else {
    for (size_t i = 0; i < y.size(); ++i) {
      err = std::max(err, std::abs(y[i] - yf[i]));
      size = std::max(size, std::abs(y[i]));
    }
  }
  return err / size;
}

// The tensor-core blocks (cuda/butterfly_conv/butterfly_fft_tc.h: the last two radix-16 stages of a convolution sub-row and the
// spectrum product as 16 x 16 matrix products of one warp, fragment layouts of mma.m16n8k16 and movmatrix) on the
// emulated warp (tc_warp_emulator.h) against the codelet pipeline in float64: with float operands the same result
// to float rounding (the layouts, twiddles, transposes and the product's positions), with bf16 operands within the
// rounding of bf16 stages (emulated before: about 4e-3 relative, scripts/bf16-dft-emulation.py). Plans where the
// blocks are the whole sub-row (16, 16), follow fused or staged codelet stages (8, 16, 16; 3, 16, 16; 2, 16, 16, 16),
// or run in the sub-row pass of the multi-pass scheme (first = 1: complex rows from and to the work area); a plan
// that does not end in two radix-16 stages runs the codelets (no block). Convolutions (tc_block_conv) and spectra
// (spectrum_out: tc_block_forward).
// The tensor-core block's shared-memory accesses: every load instruction (n-tile j, register r, half e) and every
// store instruction (n-tile j, accumulator q) of a warp touches 32 distinct banks of the padded sub-row buffers, for
// blocks at several offsets; the loads (and the stores) cover the block's 256 positions once each.
TEST(ButterflyFft, TensorCoreBlockAccessesAreFreeOfBankConflicts) {
  for (const int base : {0, 256, 768, 4096 - 256}) {
    std::vector<int> loaded(256, 0), stored(256, 0);
    auto banks_distinct = [&](auto position, std::vector<int>& seen) {
      std::vector<int> lanes_per_bank(32, 0);
      for (int lane = 0; lane < 32; ++lane) {
        const int p = position(lane);
        ++seen[p];
        ++lanes_per_bank[cuda::fft::pad(base + p) % 32];
      }
      return *std::max_element(lanes_per_bank.begin(), lanes_per_bank.end()) == 1;
    };
    for (int j = 0; j < 2; ++j) {
      for (int r = 0; r < 2; ++r)
        for (int e = 0; e < 2; ++e)
          EXPECT_TRUE(banks_distinct([&](int l) { return cuda::fft::tc_load_position(l, j, r, e); }, loaded))
              << "load j " << j << " r " << r << " e " << e << " base " << base;
      for (int q = 0; q < 4; ++q)
        EXPECT_TRUE(banks_distinct([&](int l) { return cuda::fft::tc_store_position(l, j, q); }, stored))
            << "store j " << j << " q " << q << " base " << base;
    }
    EXPECT_EQ(std::count(loaded.begin(), loaded.end(), 1), 256);
    EXPECT_EQ(std::count(stored.begin(), stored.end(), 1), 256);
  }
}

TEST(ButterflyFft, TensorCoreBlocksMatchTheCodelets) {
  struct Case {
    std::vector<int> radices;
    int first;
  };
  for (const Case& c : std::vector<Case>{{{16, 16}, 0}, {{8, 16, 16}, 0}, {{3, 16, 16}, 0}, {{2, 16, 16, 16}, 0},
                                          {{4, 16, 16}, 1}, {{5, 16, 16}, 1}, {{16, 8}, 0}})
    for (const bool fused : {false, true})
      for (const int mode : {0, 1, 2}) {  // convolution, correlation (conj), spectra
        const bool conj = mode == 1, spectra = mode == 2;
        const auto plan = plan_of_radices(c.radices);
        const char* what = spectra ? " spectra" : conj ? " conj" : " conv";
        SCOPED_TRACE("n " + std::to_string(plan.n) + " radix[0] " + std::to_string(plan.radix[0]) + " first " +
                     std::to_string(c.first) + (fused ? " fused" : " staged") + what);
        const bool tc = cuda::fft::tc_plan(plan, c.first);
        int64_t blocks = 0;
        const double exact = tc_job_error<false>(plan, c.first, fused, conj, spectra, &blocks);
        const int64_t rows = cuda::fft::pipeline_rows(3, 2, c.first == 0);
        EXPECT_EQ(blocks, tc ? rows * plan.n / cuda::fft::kTcBlock : 0);
        EXPECT_LT(exact, 2e-6) << "float operands";
        const double bf16 = tc_job_error<true>(plan, c.first, fused, conj, spectra, &blocks);
        if (tc) {
          EXPECT_LT(bf16, 2e-2) << "bf16 operands";
          EXPECT_GT(bf16, 1e-4) << "bf16 operands: the rounding should show";
        }
        std::printf("n %lld first %d %s%s: float operands %.2e, bf16 %.2e\n", static_cast<long long>(plan.n),
                    c.first, fused ? "fused" : "staged", what, exact, bf16);
      }
}

// The kernel gradient's fused correlation (correlate_channel: u and g of each batch row transformed, each as its own
// real row, and correlated into an accumulator per channel) with the tensor-core blocks ending the transforms, on the
// emulated warp, against the codelets in float64, for one-sub-row plans ending in two radix-16 stages.
TEST(ButterflyFft, TensorCoreBlocksInTheFusedCorrelation) {
  for (const auto& radices : std::vector<std::vector<int>>{{16, 16}, {8, 16, 16}, {2, 16, 16, 16}})
    for (const bool fused : {false, true}) {
      const auto plan = plan_of_radices(radices);
      const int64_t B = 3, H = 2, n = plan.n, L = n / 2 + 3;
      SCOPED_TRACE("n " + std::to_string(n) + (fused ? " fused" : " staged"));
      const auto u = random_real(static_cast<size_t>(B * H * L), static_cast<unsigned>(n + 21));
      const auto g = random_real(static_cast<size_t>(B * H * L), static_cast<unsigned>(n + 22));
      auto run = [&](auto real, auto& ex, auto tc) {
        using Real = decltype(real);
        const std::vector<Real> ur(u.begin(), u.end()), gr(g.begin(), g.end());
        cuda::fft::FftJob<Real, Real> job;
        job.plan = plan;
        job.B = B;
        job.H = H;
        job.src = ur.data();
        job.src_imag = gr.data();
        job.src_len = L;
        job.fused_ends = fused;
        const auto lay = cuda::fft::correlate_layout(n);
        std::vector<Real> smem(lay.total);
        const auto tw = fill_twiddle_table(reinterpret_cast<Cx<Real>*>(smem.data() + lay.row.tw), n);
        std::vector<cplx> GK(H * n);
        for (int64_t h = 0; h < H; ++h)
          cuda::fft::correlate_channel<decltype(tc)::value>(
              ex, job, h, 0, B, smem.data(), lay, tw, [&](int t, Cx<Real> v) { GK[h * n + t] = {v.x, v.y}; });
        return GK;
      };
      SerialExec serial;
      const auto ref = run(double{}, serial, std::false_type{});
      EmuTcExec<true> ex;
      const auto got = run(float{}, ex, std::true_type{});
      EXPECT_EQ(ex.blocks_run, 2 * B * H * n / cuda::fft::kTcBlock);  // two transforms per batch row
      double err = 0, size = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        err = std::max(err, std::abs(ref[i] - got[i]));
        size = std::max(size, std::abs(ref[i]));
      }
      EXPECT_LT(err / size, 2e-2);
      EXPECT_GT(err / size, 1e-4) << "bf16 operands: the rounding should show";
      std::printf("correlation n %lld %s: bf16 %.2e\n", static_cast<long long>(n), fused ? "fused" : "staged",
                  err / size);
    }
}

// Real rows (a real row of 2 N as a complex row of N) with the tensor-core blocks: forward blocks, the real-row step
// on the spectra in the buffers, inverse blocks (tc_block_inverse). The spectrum (entry 0 packed) and the
// convolution and correlation with the skip term and an odd output length, float32 on the emulated warp against the
// codelets in float64, for plans ending in two radix-16 stages (the blocks the whole row, or after codelet stages,
// with column 0 and self-paired columns), both schedules.
TEST(ButterflyFft, TensorCoreBlocksWithRealRows) {
  for (const auto& radices : std::vector<std::vector<int>>{{16, 16}, {2, 16, 16}, {3, 16, 16}, {8, 16, 16}})
    for (const bool fused : {false, true})
      for (const int mode : {0, 1, 2}) {  // spectrum, convolution, correlation
        const auto plan = plan_of_radices(radices);
        const int64_t N = plan.n, n = 2 * N, len = n - 1;
        SCOPED_TRACE("N " + std::to_string(N) + (fused ? " fused" : " staged") + " mode " + std::to_string(mode));
        const auto x = random_real(static_cast<size_t>(len), static_cast<unsigned>(N + 31));
        const auto kd = random_real(static_cast<size_t>(2 * N), static_cast<unsigned>(N + 32));
        auto run = [&](auto real, auto& ex, auto tc) {
          using Real = decltype(real);
          const std::vector<Real> xr(x.begin(), x.end()), D = {Real(0.75)};
          std::vector<Cx<Real>> K(N), out(N);
          for (int64_t i = 0; i < N; ++i) K[i] = {static_cast<Real>(kd[2 * i]), static_cast<Real>(kd[2 * i + 1])};
          std::vector<Real> y(len, Real(0));
          cuda::fft::FftJob<Real, Real> job;
          job.plan = plan;
          job.rows = 1;
          job.real_rows = true;
          job.fused_ends = fused;
          job.root_half = {static_cast<Real>(std::cos(M_PI / N)), static_cast<Real>(-std::sin(M_PI / N))};
          job.src = xr.data();
          job.src_len = len;
          if (mode == 0) {
            job.spectrum_out = out.data();
          } else {
            job.dst = y.data();
            job.dst_len = len;
            job.skip = xr.data();
            job.D = D.data();
            job.spectrum = K.data();
            job.conj_spectrum = mode == 2;
            job.scale = Real(1) / static_cast<Real>(n);
          }
          job.tensor_cores = decltype(tc)::value;
          SubrowBuffers<Real> sub(N);
          if constexpr (decltype(tc)::value)
            sub.run_tc(ex, job, 0, 0);
          else
            sub.run(ex, job, 0, 0);
          std::vector<double> r;
          if (mode == 0)
            for (const auto& v : out) r.insert(r.end(), {static_cast<double>(v.x), static_cast<double>(v.y)});
          else
            r.assign(y.begin(), y.end());
          return r;
        };
        SerialExec serial;
        const auto ref = run(double{}, serial, std::false_type{});
        auto error = [&](const std::vector<double>& got) {
          double err = 0, size = 0;
          for (size_t i = 0; i < ref.size(); ++i) {
            err = std::max(err, std::abs(ref[i] - got[i]));
            size = std::max(size, std::abs(ref[i]));
          }
          return err / size;
        };
        EmuTcExec<false> exact;
        const double e_float = error(run(float{}, exact, std::true_type{}));
        EXPECT_EQ(exact.blocks_run, (mode == 0 ? 1 : 2) * N / cuda::fft::kTcBlock);
        EXPECT_LT(e_float, 2e-6) << "float operands";
        EmuTcExec<true> ex;
        const double e_bf16 = error(run(float{}, ex, std::true_type{}));
        EXPECT_LT(e_bf16, 2e-2);
        EXPECT_GT(e_bf16, 1e-4) << "bf16 operands: the rounding should show";
        std::printf("real rows N %lld %s mode %d: float operands %.2e, bf16 %.2e\n", static_cast<long long>(N),
                    fused ? "fused" : "staged", mode, e_float, e_bf16);
      }
}

}  // namespace
}  // namespace ssm::test
