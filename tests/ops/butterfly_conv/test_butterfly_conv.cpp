// ssm::butterfly_conv: the plan, forward and backward against the direct float64 convolution and ssm::fft_conv,
// learned factors (finite-difference gradients, exact DFT factors = no factors), CPU against CUDA, bad inputs.
#include "ops/common/test_util.h"
#include "ssm/ops.h"

#include <cstdlib>
#include <limits>
#include <sstream>
#include <numeric>
#include <string>
#include <vector>

namespace ssm::test {
namespace {

using Shape = ConvShape;
using Inputs = ConvInputs;


// Exact DFT factors plus a random perturbation of relative size `noise` (a learned butterfly after some training).
std::vector<at::Tensor> perturbed_factors(int64_t n, int64_t H, bool per_channel, double noise, at::ScalarType cdt) {
  auto F = ssm::butterfly_dft_factors(n, cdt, per_channel ? H : 0);
  for (auto& f : F) f = (f + noise * at::randn(f.sizes(), f.options())).detach();
  return F;
}

TEST(ButterflyRadices, ProductsOfSmallRadicesSmallestFirst) {
  EXPECT_EQ(ssm::butterfly_radices(2048), (std::vector<int64_t>{8, 16, 16}));
  EXPECT_EQ(ssm::butterfly_radices(65536), (std::vector<int64_t>{16, 16, 16, 16}));
  EXPECT_EQ(ssm::butterfly_radices(2), (std::vector<int64_t>{2}));
  EXPECT_EQ(ssm::butterfly_radices(14), (std::vector<int64_t>{14}));
  for (const int64_t L : {1, 2, 3, 7, 100, 999, 1000, 4097, 12345, 65537, 1 << 20}) {
    const int64_t n = ssm::fft_conv_size(L, L, false);
    const auto r = ssm::butterfly_radices(n);
    EXPECT_EQ(std::accumulate(r.begin(), r.end(), int64_t{1}, std::multiplies<>()), n) << "n " << n;
    for (const int64_t x : r) EXPECT_TRUE(x >= 2 && x <= 16 && x != 11 && x != 13) << "radix " << x;
    EXPECT_TRUE(std::is_sorted(r.begin(), r.end())) << "n " << n;
  }
  expect_error([] { ssm::butterfly_radices(22); }, {"22", "2, 3, 5 and 7"});
  expect_error([] { ssm::butterfly_radices(1); }, {"n must be >= 2"});
}

// Gradients of <y, g> against fft_conv's (checked against finite differences in test_fft_conv).
std::vector<at::Tensor> grads(bool butterfly, const Inputs& in, const at::Tensor& g) {
  std::vector<at::Tensor> t;
  for (const auto& x : {in.u, in.k, in.D, in.k_rev}) t.push_back(x.detach().clone().requires_grad_(true));
  const at::Tensor y = butterfly ? ssm::butterfly_conv(t[0], t[1], t[2], t[3]) : ssm::fft_conv(t[0], t[1], t[2], t[3]);
  y.backward(g);
  return {y.detach(), t[0].grad(), t[1].grad(), t[2].grad(), t[3].grad()};
}

TEST(ButterflyConv, LongSequencesUpTo2To20) {
  // Powers of two and not, up to L = 2^20 (n = 2^21): forward and every gradient against fft_conv in float64.
  for (const Shape s : {Shape{1, 1, 1 << 20, 1 << 20}, Shape{1, 2, 699051, 4097}, Shape{2, 1, 65537, 65537}}) {
    SCOPED_TRACE(name(s));
    const Inputs in = make_conv_inputs(s, at::kDouble);
    const at::Tensor g = at::randn_like(in.u);
    const auto a = grads(true, in, g), b = grads(false, in, g);
    const char* what[] = {"y", "du", "dk", "dD", "dk_rev"};
    for (int i = 0; i < 5; ++i) EXPECT_LT(rel_error(a[i], b[i]), 1e-9) << what[i];
  }
}

TEST(ButterflyConv, BackwardMatchesFftConvFloat32) {
  // The last two take the multi-pass scheme on the CPU (n > 32768: tiles of the outer stages, SIMD lanes): n =
  // 65536 in chunks of 16 rows (8 MiB of work area; 24 row pairs, the last unpaired, and 40 rows of dk spectra), and
  // partial tiles (n = 35280 = 12 x 14 x 14 x 15: 2940-point sub-rows, tiles of 16 columns and one of 12).
  for (const Shape s : {Shape{2, 3, 7, 3}, Shape{3, 5, 1000, 640}, Shape{2, 4, 4096, 4096}, Shape{5, 8, 32768, 32768},
                        Shape{1, 3, 17640, 17640}}) {
    SCOPED_TRACE(name(s));
    const Inputs in = make_conv_inputs(s, at::kFloat);
    const at::Tensor g = at::randn_like(in.u);
    const Inputs in64{in.u.to(at::kDouble), in.k.to(at::kDouble), in.D.to(at::kDouble), in.k_rev.to(at::kDouble)};
    const auto a = grads(true, in, g), b = grads(false, in64, g.to(at::kDouble));
    const char* what[] = {"y", "du", "dk", "dD", "dk_rev"};
    for (int i = 0; i < 5; ++i) EXPECT_LT(rel_error(a[i], b[i]), 2e-5) << what[i];
  }
}

TEST(ButterflyConv, FactorGradientsMatchFiniteDifferences) {
  // Sizes whose plans have one, two and three stages of different radices: n = 9, 80 = 8*10, 270 = 2*9*15.
  for (const Shape s : {Shape{2, 3, 5, 5}, Shape{2, 2, 40, 40}, Shape{1, 2, 130, 130}})
    for (const bool per_channel : {false, true})
      for (const bool bidir : {false, true}) {
        SCOPED_TRACE(name(s) + (per_channel ? " per-channel" : " shared") + (bidir ? " k_rev" : ""));
        Inputs in = make_conv_inputs(s, at::kDouble);
        const int64_t n = ssm::fft_conv_size(s.L, s.Lk, bidir);
        std::vector<at::Tensor> args = {in.u, in.k, in.D, in.k_rev};
        const auto F = perturbed_factors(n, s.H, per_channel, 0.1, at::kComplexDouble);
        args.insert(args.end(), F.begin(), F.end());
        for (size_t i = 0; i < args.size(); ++i) args[i].requires_grad_(i != 3 || bidir);
        expect_gradients_match(
            [bidir](const std::vector<at::Tensor>& a) {
              const std::vector<at::Tensor> f(a.begin() + 4, a.end());
              return ssm::butterfly_conv(a[0], a[1], a[2], bidir ? std::optional(a[3]) : std::nullopt,
                                         at::TensorList(f));
            },
            args, 1e-6, 1e-6);
      }
}

TEST(ButterflyConv, ExactFactorsEqualTheConvolution) {
  const Shape s{3, 4, 300, 300};
  const Inputs in = make_conv_inputs(s, at::kFloat);
  const int64_t n = ssm::fft_conv_size(s.L, s.Lk, true);
  const at::Tensor ref = fft_conv_reference(in.u, in.k, in.D, in.k_rev);
  for (const int64_t channels : {int64_t{0}, s.H}) {
    const auto F = ssm::butterfly_dft_factors(n, at::kComplexFloat, channels);
    EXPECT_LT(rel_error(ssm::butterfly_conv(in.u, in.k, in.D, in.k_rev, at::TensorList(F)), ref), 2e-5);
  }
}

TEST(ButterflyConv, LearnedFactorsChangeTheTransformPerChannel) {
  // Perturbing channel 1's factors changes only channel 1's output, and matches the definition
  // y = Re(F^-1 (Ft u * Ft k)) with Ft the dense matrix of the perturbed butterfly, built column by column.
  const Shape s{2, 3, 6, 6};
  const Inputs in = make_conv_inputs(s, at::kDouble);
  const int64_t n = ssm::fft_conv_size(s.L, s.Lk, false);  // 11 -> 12
  auto F = ssm::butterfly_dft_factors(n, at::kComplexDouble, s.H);
  const at::Tensor exact = ssm::butterfly_conv(in.u, in.k, std::nullopt, std::nullopt, at::TensorList(F));
  F[0][1] += 0.3 * at::randn({F[0].size(1), F[0].size(2)}, F[0].options());
  const at::Tensor y = ssm::butterfly_conv(in.u, in.k, std::nullopt, std::nullopt, at::TensorList(F));
  EXPECT_LT(rel_error(y.select(1, 0), exact.select(1, 0)), 1e-12);
  EXPECT_LT(rel_error(y.select(1, 2), exact.select(1, 2)), 1e-12);
  EXPECT_GT(rel_error(y.select(1, 1), exact.select(1, 1)), 1e-3);
  const auto r = ssm::butterfly_radices(n);
  ASSERT_EQ(r.size(), 1u);  // n = 12 is one stage: Ft = F[0][1] exactly, in natural order.
  const at::Tensor Ft = F[0][1];
  const auto c = at::TensorOptions().dtype(at::kComplexDouble);
  auto pad = [&](const at::Tensor& x) {
    at::Tensor p = at::zeros({n}, c);
    p.narrow(0, 0, x.size(0)).copy_(x);
    return p;
  };
  const at::Tensor dft = ssm::butterfly_dft_factors(n, at::kComplexDouble)[0];
  for (int64_t b = 0; b < s.B; ++b) {
    const at::Tensor Z = at::matmul(Ft, pad(in.u[b][1])) * at::matmul(Ft, pad(in.k[1]));
    const at::Tensor expect = at::real(at::matmul(dft.conj(), Z) / n).narrow(0, 0, s.L);
    EXPECT_LT(rel_error(y[b][1], expect), 1e-12) << "b " << b;
  }
}

TEST(ButterflyConv, NonContiguousInputsAndNanPropagation) {
  Inputs in = make_conv_inputs({3, 4, 50, 20}, at::kDouble);
  const at::Tensor ut = in.u.transpose(0, 1).contiguous().transpose(0, 1);
  ASSERT_FALSE(ut.is_contiguous());
  EXPECT_LT(rel_error(ssm::butterfly_conv(ut, in.k, in.D), fft_conv_reference(in.u, in.k, in.D, std::nullopt)), 1e-10);
  in.u[0][1][3] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(at::isnan(ssm::butterfly_conv(in.u, in.k)[0][1]).any().item<bool>());
}

TEST(ButterflyConv, BadInputsNameTheArgument) {
  const Shape s{2, 3, 10, 4};
  const Inputs in = make_conv_inputs(s, at::kFloat);
  const int64_t n = ssm::fft_conv_size(s.L, s.Lk, false);  // 13 -> 14: one stage of radix 14
  const auto F = ssm::butterfly_dft_factors(n, at::kComplexFloat);
  expect_error([&] { ssm::butterfly_conv(in.u[0], in.k); }, {"ssm::butterfly_conv", "'u'", "(B, H, L)"});
  expect_error([&] { ssm::butterfly_conv(in.u, in.k.narrow(0, 0, 2)); }, {"'k'", "H = 3"});
  expect_error([&] { ssm::butterfly_conv(in.u, in.k, in.D.to(at::kDouble)); }, {"'D'", "Double"});
  const std::vector<at::Tensor> two = {F[0], F[0]};
  expect_error([&] { ssm::butterfly_conv(in.u, in.k, std::nullopt, std::nullopt, at::TensorList(two)); },
               {"'factors'", "one matrix per stage", "size-14 plan", "1 stages", "got 2"});
  const std::vector<at::Tensor> wrong_dtype = {F[0].to(at::kComplexDouble)};
  expect_error([&] { ssm::butterfly_conv(in.u, in.k, std::nullopt, std::nullopt, at::TensorList(wrong_dtype)); },
               {"'factors[0]'", "ComplexFloat", "ComplexDouble"});
  const std::vector<at::Tensor> wrong_shape = {F[0].narrow(0, 0, 7)};
  expect_error([&] { ssm::butterfly_conv(in.u, in.k, std::nullopt, std::nullopt, at::TensorList(wrong_shape)); },
               {"'factors[0]'", "(14, 14) or (H, 14, 14) = (3, 14, 14)", "(7, 14)"});
  const std::vector<at::Tensor> meta = {F[0].to(at::kMeta)};
  expect_error([&] { ssm::butterfly_conv(in.u, in.k, std::nullopt, std::nullopt, at::TensorList(meta)); },
               {"'factors[0]'", "meta", "one device"});
  // Mixed kinds: a two-stage plan (n = 80 = 8 * 10) with one shared and one per-channel factor.
  const Inputs in2 = make_conv_inputs({1, 3, 40, 40}, at::kFloat);
  auto F2 = ssm::butterfly_dft_factors(80, at::kComplexFloat);
  F2[1] = F2[1].unsqueeze(0).expand({3, 10, 10});
  expect_error([&] { ssm::butterfly_conv(in2.u, in2.k, std::nullopt, std::nullopt, at::TensorList(F2)); },
               {"all shared", "factors[1]"});
}

// Sets one field of SSM_BUTTERFLY (ButterflyOptions: rows, schedule, bf16, float32, chunk_bytes) for one scope, keeping
// the others (scopes nest; a ctest entry may have set some for the whole process), and restores the variable after.
class OptionScope {
 public:
  OptionScope(const std::string& field, const std::string& value) {
    const char* old = std::getenv("SSM_BUTTERFLY");
    had_ = old != nullptr;
    if (had_) old_ = old;
    std::string spec;
    std::istringstream in(old_);
    for (std::string item; std::getline(in, item, ',');)
      if (!item.empty() && item.rfind(field + "=", 0) != 0) spec += item + ",";
    setenv("SSM_BUTTERFLY", (spec + field + "=" + value).c_str(), 1);
  }
  ~OptionScope() {
    if (had_)
      setenv("SSM_BUTTERFLY", old_.c_str(), 1);
    else
      unsetenv("SSM_BUTTERFLY");
  }
  OptionScope(const OptionScope&) = delete;
  OptionScope& operator=(const OptionScope&) = delete;

 private:
  bool had_ = false;
  std::string old_;
};

// A bad SSM_BUTTERFLY names the field and its values; the variables it replaced are refused by name.
TEST(ButterflyConv, BadOptionsNameTheField) {
  const Inputs in = make_conv_inputs({1, 2, 10, 4}, at::kFloat);
  {
    const OptionScope bad("schedule", "eager");
    expect_error([&] { ssm::butterfly_conv(in.u, in.k); },
                 {"SSM_BUTTERFLY", "field 'schedule'", "auto, fused, staged", "'eager'"});
  }
  {
    const OptionScope bad("bf16", "fast");  // checked on the CPU too, where it changes nothing
    expect_error([&] { ssm::butterfly_conv(in.u, in.k); }, {"field 'bf16'", "cuda_cores, tensor_cores", "'fast'"});
  }
  {
    const OptionScope bad("rows", "complex");
    expect_error([&] { ssm::butterfly_conv(in.u, in.k); }, {"field 'rows'", "auto, real, single, paired", "'complex'"});
  }
  {
    const OptionScope bad("layout", "real");
    expect_error([&] { ssm::butterfly_conv(in.u, in.k); },
                 {"unknown field 'layout'", "rows, schedule, bf16, float32, chunk_bytes"});
  }
  setenv("SSM_BUTTERFLY_ROWS", "real", 1);
  expect_error([&] { ssm::butterfly_conv(in.u, in.k); }, {"SSM_BUTTERFLY_ROWS", "no longer read", "SSM_BUTTERFLY"});
  unsetenv("SSM_BUTTERFLY_ROWS");
}

// Each sample's outputs depend on that sample alone, in the default row layout wherever it can run: a NaN in sample 0
// leaves sample 1 finite, and sample 0 scaled by 1e6 leaves sample 1's output and input gradient bit for bit what they
// were. Shapes: real rows (n = 2000, 20000), an odd n = 15 and a multi-pass n = 80000 (single rows).
TEST(ButterflyConv, SamplesAreIndependent) {
  for (const Shape s : {Shape{2, 3, 1000, 1000}, Shape{3, 2, 10000, 10000}, Shape{2, 2, 8, 7}, Shape{2, 1, 40000, 40000}}) {
    SCOPED_TRACE(name(s));
    for (const auto dtype : {at::kFloat, at::kDouble}) {
      const Inputs in = make_conv_inputs(s, dtype);
      const at::Tensor g = at::randn_like(in.u);
      const auto base = grads(true, in, g);
      Inputs scaled = in;
      scaled.u = in.u.clone();
      scaled.u.select(0, 0).mul_(1e6);
      const auto big = grads(true, scaled, g);
      for (int i : {0, 1}) EXPECT_TRUE(at::equal(big[i].narrow(0, 1, s.B - 1), base[i].narrow(0, 1, s.B - 1))) << i;
      Inputs poisoned = in;
      poisoned.u = in.u.clone();
      poisoned.u[0][0][s.L / 2] = std::numeric_limits<double>::quiet_NaN();
      const auto nan = grads(true, poisoned, g);
      EXPECT_TRUE(nan[0].select(0, 0).isnan().any().item<bool>());
      EXPECT_TRUE(at::equal(nan[0].narrow(0, 1, s.B - 1), base[0].narrow(0, 1, s.B - 1)));
    }
  }
}

// The gradients are linear in grad_y (what torch.autograd.gradcheck checks first): grad_y = 0 gives exactly zero du,
// dk, dD and dk_rev, on the fused correlation (one sub-row) and on the written-out spectra (n = 80000).
TEST(ButterflyConv, ZeroGradYGivesZeroGradients) {
  for (const Shape s : {Shape{2, 3, 37, 20}, Shape{3, 2, 1000, 1000}, Shape{2, 1, 40000, 40000}}) {
    SCOPED_TRACE(name(s));
    for (const auto dtype : {at::kFloat, at::kDouble}) {
      const Inputs in = make_conv_inputs(s, dtype);
      const auto out = grads(true, in, at::zeros_like(in.u));
      for (int i = 1; i < 5; ++i) EXPECT_EQ(out[i].abs().max().item<double>(), 0.0) << "output " << i;
    }
  }
}

// The row layouts of the convolutions (one real row as a complex row of n / 2, one or two as a complex row of n) give
// the same outputs and gradients: odd B (an unpaired last row with pairs), odd lengths, n = 1750 = 2 x 5^3 x 7 and
// 4116 = 2^2 x 3 x 7^3, n = 65536 (real rows, n needing tile passes and n / 2 not), and an odd n = 15 (no real rows).
TEST(ButterflyConv, RowLayoutsAgree) {
  for (const Shape s :
       {Shape{3, 4, 1031, 700}, Shape{1, 3, 2049, 2049}, Shape{3, 2, 32768, 32768}, Shape{2, 2, 8, 7}}) {
    SCOPED_TRACE(name(s));
    const Inputs in = make_conv_inputs(s, at::kDouble);
    const at::Tensor g = at::randn_like(in.u);
    std::vector<std::vector<at::Tensor>> out;
    for (const char* rows : {"real", "single", "paired"}) {
      const OptionScope scope("rows", rows);
      out.push_back(grads(true, in, g));
    }
    for (int r = 1; r < 3; ++r)
      for (int i = 0; i < 5; ++i) EXPECT_LT(rel_error(out[0][i], out[r][i]), 1e-11) << "layout " << r << " output " << i;
  }
}

// The chunk size of the multi-pass pipelines changes nothing but where the work area lives: one row per chunk and
// all rows at once give the same result; a bad value names the field.
TEST(ButterflyConv, ChunkSizeOnlyMovesTheWorkArea) {
  const Inputs in = make_conv_inputs({3, 4, 20000, 20000}, at::kFloat);  // n = 40000 > 32768: tiles and sub-rows
  const at::Tensor g = at::randn_like(in.u);
  std::vector<std::vector<at::Tensor>> out;
  for (const char* bytes : {"1", "1000000000"}) {
    const OptionScope scope("chunk_bytes", bytes);
    out.push_back(grads(true, in, g));
  }
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(at::equal(out[0][i], out[1][i])) << "output " << i;
  const OptionScope bad("chunk_bytes", "8M");
  expect_error([&] { ssm::butterfly_conv(in.u, in.k); }, {"field 'chunk_bytes'", "non-negative", "'8M'"});
  expect_error([&] { ssm::butterfly_conv(in.u.narrow(2, 0, 100), in.k.narrow(1, 0, 100)); },
               {"field 'chunk_bytes'", "'8M'"});  // also where the plan has no chunks
}

TEST(ButterflyConv, CpuMatchesCuda) {
  SSM_REQUIRE_CUDA();
  // One fused pass (n <= 16384) and the multi-pass path (n > 16384), ragged sizes, with and without factors. Without
  // factors, n = 20000 takes real rows on the GPU (n / 2 fits a block, n does not) and pairs on the CPU (B even).
  for (const Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 7, 3}, Shape{3, 4, 257, 200}, Shape{2, 8, 4096, 4096},
                        Shape{2, 3, 7000, 7000}, Shape{2, 3, 10000, 10000}, Shape{1, 2, 65536, 65536},
                        Shape{1, 1, 1 << 20, 1 << 20}, Shape{4, 300, 100, 100}}) {
    for (const int factors : {0, 1, 2}) {  // none, shared, per channel
      const ConvInputs in = make_conv_inputs(s, at::kFloat);
      const int64_t n = ssm::fft_conv_size(s.L, s.Lk, true);
      const auto F = perturbed_factors(n, s.H, factors == 2, 0.02, at::kComplexFloat);
      std::vector<at::Tensor> cpu, Fc;
      for (const auto& t : {in.u, in.k, in.D, in.k_rev}) cpu.push_back(t.clone().requires_grad_(true));
      if (factors)
        for (const auto& f : F) Fc.push_back(f.clone().requires_grad_(true));
      const at::Tensor yc = ssm::butterfly_conv(cpu[0], cpu[1], cpu[2], cpu[3],
                                                factors ? std::optional(at::TensorList(Fc)) : std::nullopt);
      const at::Tensor g = at::randn_like(yc);
      yc.backward(g);
      // With factors: float32 on CUDA cores and on tensor cores; without: both schedules of the exact pipelines.
      const char* variable = factors ? "float32" : "schedule";
      for (const char* mode : factors ? std::vector<const char*>{"cuda_cores", "tensor_cores"}
                                      : std::vector<const char*>{"fused", "staged"}) {
        SCOPED_TRACE(name(s) + " factors " + std::to_string(factors) + " " + variable + "=" + mode);
        const OptionScope scope(variable, mode);
        std::vector<at::Tensor> gpu, Fg;
        for (const auto& t : {in.u, in.k, in.D, in.k_rev}) gpu.push_back(t.cuda().requires_grad_(true));
        if (factors)
          for (const auto& f : F) Fg.push_back(f.cuda().requires_grad_(true));
        const at::Tensor yg = ssm::butterfly_conv(gpu[0], gpu[1], gpu[2], gpu[3],
                                                  factors ? std::optional(at::TensorList(Fg)) : std::nullopt);
        EXPECT_LT(rel_error(yg, yc), 2e-5);
        yg.backward(g.cuda());
        for (int i = 0; i < 4; ++i) EXPECT_LT(rel_error(gpu[i].grad(), cpu[i].grad()), 1e-4) << "input " << i;
        for (size_t i = 0; i < Fc.size(); ++i)
          EXPECT_LT(rel_error(at::view_as_real(Fg[i].grad()), at::view_as_real(Fc[i].grad())), 1e-4) << "factor " << i;
      }
    }
  }
  const ConvInputs in = make_conv_inputs({1, 2, 10, 4}, at::kFloat, at::kCUDA);
  expect_error([&] { ssm::butterfly_conv(in.u.cpu(), in.k); }, {"'k'", "cuda", "cpu"});
  {
    const OptionScope bad("bf16", "fast");
    expect_error([&] { ssm::butterfly_conv(in.u, in.k); }, {"field 'bf16'", "cuda_cores, tensor_cores", "'fast'"});
  }
  const OptionScope bad("float32", "fast");
  expect_error([&] { ssm::butterfly_conv(in.u, in.k); }, {"field 'float32'", "cuda_cores, tensor_cores", "'fast'"});
}

// The exact pipelines on the GPU against float64 on the CPU, for shapes s with each schedule and the row layout
// `rows`, float32 and bfloat16.
void check_cuda_exact_pipelines(const std::vector<Shape>& shapes, const char* rows) {
  const OptionScope layout("rows", rows);
  for (const Shape& s : shapes) {
    const Inputs in = make_conv_inputs(s, at::kDouble);
    const at::Tensor g = at::randn_like(in.u);
    const auto ref = grads(true, in, g);
    for (const char* schedule : {"fused", "staged"})
      for (const auto dtype : {at::kFloat, at::kBFloat16}) {
        SCOPED_TRACE(name(s) + " " + schedule + " " + rows + (dtype == at::kFloat ? " float32" : " bfloat16"));
        const OptionScope scope("schedule", schedule);
        const Inputs gpu{in.u.to(dtype).cuda(), in.k.to(dtype).cuda(), in.D.to(dtype).cuda(),
                         in.k_rev.to(dtype).cuda()};
        const auto out = grads(true, gpu, g.to(dtype).cuda());
        const char* what[] = {"y", "du", "dk", "dD", "dk_rev"};
        for (int i = 0; i < 5; ++i)
          EXPECT_LT(rel_error(out[i].cpu().to(at::kDouble), ref[i]), dtype == at::kFloat ? 5e-5 : 3e-2) << what[i];
      }
  }
}

// Small shapes through every CUDA path of the exact pipelines with paired rows: one sub-row with the per-channel
// kernel gradient in shared memory (n = 200, 10000), tiles around sub-rows with the spectra written out (n = 18000 =
// 8 x 10 x 15 x 15: the radix-8 stage in tiles, the last one partial, around 2250-point sub-rows; n = 80000:
// 10000-point sub-rows), odd B (an unpaired last row), both schedules, float32 and bfloat16.
// scripts/gpu-check also runs it under compute-sanitizer (memcheck, racecheck).
TEST(ButterflyConv, CudaExactPipelinesSmall) {
  SSM_REQUIRE_CUDA();
  check_cuda_exact_pipelines({Shape{3, 2, 100, 100}, Shape{2, 2, 5000, 5000}, Shape{1, 2, 9000, 9000},
                              Shape{3, 1, 40000, 40000}},
                             "paired");
}

// The same with real rows (each real row as a complex row of n / 2): n / 2 = 100 and 5000 (B odd and even), and
// n = 32768, which takes real rows by default on a GPU (n / 2 = 16384 fits a block, n does not). Also under
// compute-sanitizer in scripts/gpu-check.
TEST(ButterflyConv, CudaRealRowsSmall) {
  SSM_REQUIRE_CUDA();
  check_cuda_exact_pipelines({Shape{3, 2, 100, 100}, Shape{2, 2, 5000, 5000}, Shape{3, 2, 16384, 16384}}, "real");
}

// bf16 convolutions with SSM_BUTTERFLY=bf16=tensor_cores: the last two radix-16 stages of each sub-row and the
// spectrum product as warp-level bf16 matrix products (cuda/butterfly_conv/butterfly_fft_tc.h). Paired rows: n = 256 (the blocks
// are the whole row), 2048 = 8 x 16 x 16 and 8192 = 2 x 16 x 16 x 16 (codelet stages before the blocks), n = 32768
// (tiles around 4096-point sub-rows that end in the blocks); real rows (forward and inverse blocks around the
// real-row step): n / 2 = 512, 4096 and 16384 (one block on an H100); odd and even B, both schedules. Every output
// and gradient against float64 (y, du and the transforms of dk run the blocks; dD the CUDA cores) within the bf16
// tolerance, and y and dk differ from the CUDA-core bf16 results (the blocks did run). Also under compute-sanitizer
// in gpu-check.
TEST(ButterflyConv, CudaBf16TensorCores) {
  SSM_REQUIRE_CUDA();
  struct Case {
    Shape s;
    const char* rows;
  };
  for (const Case& c : {Case{{2, 2, 128, 128}, "paired"}, Case{{3, 2, 1024, 1024}, "paired"},
                        Case{{2, 3, 4096, 4096}, "paired"}, Case{{3, 2, 16384, 16384}, "paired"},
                        Case{{3, 2, 512, 512}, "real"}, Case{{2, 2, 4096, 4096}, "real"},
                        Case{{1, 2, 16384, 16384}, "real"}}) {
    const Shape& s = c.s;
    const OptionScope layout("rows", c.rows);
    const Inputs in = make_conv_inputs(s, at::kDouble);
    const at::Tensor g = at::randn_like(in.u);
    const auto ref = grads(true, in, g);
    const Inputs gpu{in.u.to(at::kBFloat16).cuda(), in.k.to(at::kBFloat16).cuda(), in.D.to(at::kBFloat16).cuda(),
                     in.k_rev.to(at::kBFloat16).cuda()};
    for (const char* schedule : {"fused", "staged"}) {
      SCOPED_TRACE(name(s) + " " + c.rows + " " + schedule);
      const OptionScope scope("schedule", schedule);
      std::vector<at::Tensor> cores;
      {
        const OptionScope arithmetic("bf16", "cuda_cores");
        cores = grads(true, gpu, g.to(at::kBFloat16).cuda());
      }
      const OptionScope arithmetic("bf16", "tensor_cores");
      const auto out = grads(true, gpu, g.to(at::kBFloat16).cuda());
      const char* what[] = {"y", "du", "dk", "dD", "dk_rev"};
      for (int i = 0; i < 5; ++i) EXPECT_LT(rel_error(out[i].cpu().to(at::kDouble), ref[i]), 3e-2) << what[i];
      for (const int i : {0, 2})
        EXPECT_GT(rel_error(out[i].cpu().to(at::kDouble), cores[i].cpu().to(at::kDouble)), 1e-5)
            << what[i] << " equals the CUDA-core result: the tensor-core blocks did not run";
    }
  }
}

TEST(ButterflyConv, CudaHalfPrecisionInputs) {
  SSM_REQUIRE_CUDA();
  // bf16/fp16 inputs run the radix-16 stages on tensor cores (TF32): n = 4096 = 16^3 fused; n = 65536 = 16^4 with one
  // column pass and fused 4096-point sub-rows; n = 3000 = 2 * 10 * 10 * 15 (no radix 16: float32 stages only).
  // Tolerances: the inputs' own rounding (8 or 11 bits) dominates; an emulation of the TF32 stages
  // (scripts/butterfly-emulation.py) gave 3.1e-3 (bf16) and 7.0e-4 (fp16) for the first shape.
  for (const Shape s : {Shape{2, 16, 2048, 2048}, Shape{1, 4, 32768, 32768}, Shape{2, 3, 1500, 1500}}) {
    SCOPED_TRACE(name(s));
    const Inputs in = make_conv_inputs(s, at::kFloat);
    const at::Tensor ref = ssm::fft_conv(in.u.to(at::kDouble), in.k.to(at::kDouble), in.D.to(at::kDouble),
                                         in.k_rev.to(at::kDouble));
    for (const auto dtype : {at::kBFloat16, at::kHalf}) {
      std::vector<at::Tensor> t;
      for (const auto& x : {in.u, in.k, in.D, in.k_rev}) t.push_back(x.to(dtype).cuda().requires_grad_(true));
      const at::Tensor y = ssm::butterfly_conv(t[0], t[1], t[2], t[3]);
      ASSERT_EQ(y.scalar_type(), dtype);
      EXPECT_LT(rel_error(y, ref), dtype == at::kBFloat16 ? 3e-2 : 4e-3);
      y.backward(at::randn_like(y));
      for (int i = 0; i < 4; ++i) EXPECT_TRUE(t[i].grad().defined() && t[i].grad().scalar_type() == dtype);
    }
  }
  // Learned per-channel factors with bf16 inputs (tensor-core stages with the learned matrices) against float64.
  const Shape s{2, 8, 1024, 1024};
  const ConvInputs in = make_conv_inputs(s, at::kFloat);
  const auto F = perturbed_factors(ssm::fft_conv_size(s.L, s.Lk, false), s.H, true, 0.05, at::kComplexFloat);
  std::vector<at::Tensor> F64, Fg;
  for (const auto& f : F) {
    F64.push_back(f.to(at::kComplexDouble));
    Fg.push_back(f.cuda().requires_grad_(true));
  }
  const at::Tensor ref = ssm::butterfly_conv(in.u.to(at::kDouble), in.k.to(at::kDouble), in.D.to(at::kDouble),
                                             std::nullopt, at::TensorList(F64));
  const at::Tensor y = ssm::butterfly_conv(in.u.to(at::kBFloat16).cuda(), in.k.to(at::kBFloat16).cuda(),
                                           in.D.to(at::kBFloat16).cuda(), std::nullopt, at::TensorList(Fg));
  EXPECT_LT(rel_error(y, ref), 3e-2);
  y.sum().backward();
  for (const auto& f : Fg) EXPECT_TRUE(f.grad().defined() && at::isfinite(at::view_as_real(f.grad())).all().item<bool>());
}

}  // namespace
}  // namespace ssm::test
