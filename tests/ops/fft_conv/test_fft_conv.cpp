// ssm::fft_conv: forward against the direct O(L^2) float64 convolution, gradients by finite differences,
// CPU against CUDA, and every bad input.
#include "ops/common/test_util.h"
#include "ssm/ops.h"

#include <limits>

namespace ssm::test {
namespace {

using Shape = ConvShape;
using Inputs = ConvInputs;


class FftConvForward : public ::testing::TestWithParam<Shape> {};

TEST_P(FftConvForward, MatchesDirectConvolution) {
  const Shape s = GetParam();
  for (const auto dtype : {at::kDouble, at::kFloat}) {
    SCOPED_TRACE(dtype == at::kDouble ? "float64" : "float32");
    const Inputs in = make_conv_inputs(s, dtype);
    const double tol = dtype == at::kDouble ? 1e-10 : 2e-5;
    const at::Tensor y = ssm::fft_conv(in.u, in.k);
    ASSERT_EQ(y.sizes(), in.u.sizes());
    ASSERT_EQ(y.scalar_type(), dtype);
    EXPECT_LT(rel_error(y, fft_conv_reference(in.u, in.k, std::nullopt, std::nullopt)), tol) << "causal";
    EXPECT_LT(rel_error(ssm::fft_conv(in.u, in.k, in.D), fft_conv_reference(in.u, in.k, in.D, std::nullopt)), tol)
        << "with D";
    EXPECT_LT(rel_error(ssm::fft_conv(in.u, in.k, in.D, in.k_rev), fft_conv_reference(in.u, in.k, in.D, in.k_rev)),
              tol)
        << "bidirectional with D";
    EXPECT_LT(rel_error(ssm::fft_conv(in.u, in.k, std::nullopt, in.k_rev),
                        fft_conv_reference(in.u, in.k, std::nullopt, in.k_rev)),
              tol)
        << "bidirectional";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FftConvForward,
                         ::testing::Values(Shape{1, 1, 1, 1}, Shape{2, 3, 7, 7}, Shape{2, 3, 7, 3}, Shape{1, 5, 100, 1},
                                           Shape{3, 4, 257, 200}, Shape{2, 2, 1000, 1000}, Shape{1, 2, 4096, 4096},
                                           Shape{2, 33, 129, 65}),
                         [](const auto& info) { return name(info.param); });

TEST(FftConv, LongSequence65536) {
  const Shape s{1, 2, 65536, 65536};
  const Inputs in = make_conv_inputs(s, at::kFloat);
  // The direct convolution at this length costs 2 * 65536^2 / 2 operations per row: compare against float64 FFT
  // convolution checked above, and a direct evaluation at a few positions.
  const at::Tensor y = ssm::fft_conv(in.u, in.k, in.D, in.k_rev);
  const at::Tensor y64 = ssm::fft_conv(in.u.to(at::kDouble), in.k.to(at::kDouble), in.D.to(at::kDouble),
                                       in.k_rev.to(at::kDouble));
  EXPECT_LT(rel_error(y, y64), 2e-5);
  const at::Tensor u = in.u.to(at::kDouble), k = in.k.to(at::kDouble), kr = in.k_rev.to(at::kDouble);
  for (const int64_t l : {int64_t{0}, int64_t{1}, int64_t{12345}, s.L - 1}) {
    for (int64_t h = 0; h < s.H; ++h) {
      double acc = in.D[h].item<double>() * u[0][h][l].item<double>();
      acc += (k[h].narrow(0, 0, l + 1).flip(0) * u[0][h].narrow(0, 0, l + 1)).sum().item<double>();
      if (l + 1 < s.L) acc += (kr[h].narrow(0, 0, s.L - l - 1) * u[0][h].narrow(0, l + 1, s.L - l - 1)).sum().item<double>();
      EXPECT_NEAR(y64[0][h][l].item<double>(), acc, 1e-9 * (1 + std::abs(acc))) << "h " << h << " l " << l;
    }
  }
}

TEST(FftConv, GradientsMatchFiniteDifferences) {
  for (const Shape s : {Shape{2, 3, 9, 4}, Shape{1, 1, 1, 1}, Shape{2, 2, 17, 17}}) {
    SCOPED_TRACE(name(s));
    Inputs in = make_conv_inputs(s, at::kDouble);
    for (auto* t : {&in.u, &in.k, &in.D, &in.k_rev}) t->requires_grad_(true);
    expect_gradients_match(
        [](const std::vector<at::Tensor>& a) { return ssm::fft_conv(a[0], a[1], a[2], a[3]); },
        {in.u, in.k, in.D, in.k_rev});
    expect_gradients_match([](const std::vector<at::Tensor>& a) { return ssm::fft_conv(a[0], a[1]); },
                           {in.u, in.k});
  }
}

TEST(FftConv, GradientsOfSomeInputsOnly) {
  Inputs in = make_conv_inputs({2, 3, 20, 5}, at::kDouble);
  in.k.requires_grad_(true);
  const at::Tensor y = ssm::fft_conv(in.u, in.k, in.D, in.k_rev);
  y.sum().backward();
  ASSERT_TRUE(in.k.grad().defined());
  // dk[h, m] = sum_b sum_l u[b, h, l - m]
  const at::Tensor expect = at::stack({in.u.sum(0).sum(1), in.u.sum(0).narrow(1, 0, 19).sum(1),
                                       in.u.sum(0).narrow(1, 0, 18).sum(1), in.u.sum(0).narrow(1, 0, 17).sum(1),
                                       in.u.sum(0).narrow(1, 0, 16).sum(1)},
                                      1);
  EXPECT_LT(rel_error(in.k.grad(), expect), 1e-10);
}

TEST(FftConv, NonContiguousInputs) {
  const Inputs in = make_conv_inputs({3, 4, 50, 20}, at::kDouble);
  const at::Tensor ut = in.u.transpose(0, 1).contiguous().transpose(0, 1);
  const at::Tensor kt = at::cat({in.k, in.k}, 1).narrow(1, 0, 20);
  ASSERT_FALSE(ut.is_contiguous());
  ASSERT_FALSE(kt.is_contiguous());
  EXPECT_LT(rel_error(ssm::fft_conv(ut, kt, in.D), fft_conv_reference(in.u, in.k, in.D, std::nullopt)), 1e-10);
}

TEST(FftConv, NanAndInfPropagate) {
  Inputs in = make_conv_inputs({2, 2, 16, 16}, at::kFloat);
  in.u[0][1][3] = std::numeric_limits<float>::quiet_NaN();
  in.k[0][0] = std::numeric_limits<float>::infinity();
  const at::Tensor y = ssm::fft_conv(in.u, in.k);
  EXPECT_TRUE(at::isnan(y[0][1]).any().item<bool>());
  EXPECT_FALSE(at::isfinite(y.select(1, 0)).all().item<bool>());
}

TEST(FftConv, CpuMatchesCuda) {
  SSM_REQUIRE_CUDA();
  for (const Shape s : {Shape{1, 1, 1, 1}, Shape{2, 3, 7, 3}, Shape{3, 4, 257, 200}, Shape{2, 8, 4096, 4096},
                        Shape{1, 2, 65536, 65536}, Shape{4, 300, 100, 100}}) {
    SCOPED_TRACE(name(s));
    const Inputs in = make_conv_inputs(s, at::kFloat);
    std::vector<at::Tensor> cpu, gpu;
    for (const auto& t : {in.u, in.k, in.D, in.k_rev}) {
      cpu.push_back(t.clone().requires_grad_(true));
      gpu.push_back(t.cuda().requires_grad_(true));
    }
    const at::Tensor yc = ssm::fft_conv(cpu[0], cpu[1], cpu[2], cpu[3]);
    const at::Tensor yg = ssm::fft_conv(gpu[0], gpu[1], gpu[2], gpu[3]);
    EXPECT_LT(rel_error(yg, yc), 2e-5);
    EXPECT_LT(rel_error(yg, fft_conv_reference(in.u, in.k, in.D, in.k_rev)), 2e-5);
    const at::Tensor g = at::randn_like(yc);
    yc.backward(g);
    yg.backward(g.cuda());
    for (int i = 0; i < 4; ++i) EXPECT_LT(rel_error(gpu[i].grad(), cpu[i].grad()), 1e-4) << "input " << i;
  }
}

TEST(FftConv, CudaHalfPrecisionInputs) {
  SSM_REQUIRE_CUDA();
  const Shape s{2, 16, 2048, 2048};
  const Inputs in = make_conv_inputs(s, at::kFloat);
  const at::Tensor ref = fft_conv_reference(in.u, in.k, in.D, in.k_rev);
  for (const auto dtype : {at::kBFloat16, at::kHalf}) {
    std::vector<at::Tensor> t;
    for (const auto& x : {in.u, in.k, in.D, in.k_rev}) t.push_back(x.to(dtype).cuda().requires_grad_(true));
    const at::Tensor y = ssm::fft_conv(t[0], t[1], t[2], t[3]);
    ASSERT_EQ(y.scalar_type(), dtype);
    // Inputs rounded to 8 (bf16) or 11 (fp16) bits; the sums run in float32.
    const double tol = dtype == at::kBFloat16 ? 3e-2 : 4e-3;
    EXPECT_LT(rel_error(y, ref), tol);
    y.backward(at::randn_like(y));
    for (int i = 0; i < 4; ++i) EXPECT_TRUE(t[i].grad().defined() && t[i].grad().scalar_type() == dtype);
  }
}

TEST(FftConv, BadInputsNameTheArgument) {
  const Inputs in = make_conv_inputs({2, 3, 10, 4}, at::kFloat);
  expect_error([&] { ssm::fft_conv(in.u[0], in.k); }, {"'u'", "(B, H, L)", "2-d", "(3, 10)"});
  expect_error([&] { ssm::fft_conv(in.u, in.k[0]); }, {"'k'", "(H, Lk)", "1-d", "(4)"});
  expect_error([&] { ssm::fft_conv(in.u, in.k.narrow(0, 0, 2)); }, {"'k'", "H = 3", "(2, 4)"});
  expect_error([&] { ssm::fft_conv(in.u.narrow(2, 0, 3), in.k); }, {"'k'", "Lk <= L = 3", "(3, 4)"});
  expect_error([&] { ssm::fft_conv(in.u, in.k.narrow(1, 0, 0)); }, {"'k'", "1 <= Lk", "(3, 0)"});
  expect_error([&] { ssm::fft_conv(in.u.narrow(2, 0, 0), in.k.narrow(1, 0, 0)); }, {"'u'", "L >= 1", "(2, 3, 0)"});
  expect_error([&] { ssm::fft_conv(in.u, in.k.to(at::kDouble)); }, {"'k'", "Double", "Float", "one dtype"});
  expect_error([&] { ssm::fft_conv(in.u.to(at::kHalf), in.k.to(at::kHalf)); }, {"'u'", "float32 or float64", "Half"});
  expect_error([&] { ssm::fft_conv(in.u, in.k, in.D.narrow(0, 0, 2)); }, {"'D'", "(H) = (3)", "(2)"});
  expect_error([&] { ssm::fft_conv(in.u, in.k, in.D.to(at::kDouble)); }, {"'D'", "Double"});
  expect_error([&] { ssm::fft_conv(in.u, in.k, std::nullopt, in.k_rev.narrow(1, 0, 2)); },
               {"'k_rev'", "(3, 4)", "(3, 2)"});
  expect_error([&] { ssm::fft_conv(in.u, in.k.to(at::kMeta)); }, {"'k'", "meta", "one device"});
}

TEST(FftConv, BadDevicesCuda) {
  SSM_REQUIRE_CUDA();
  const Inputs in = make_conv_inputs({2, 3, 10, 4}, at::kFloat);
  expect_error([&] { ssm::fft_conv(in.u, in.k.cuda()); }, {"'k'", "cuda", "cpu"});
  expect_error([&] { ssm::fft_conv(in.u.cuda().to(at::kDouble), in.k.cuda().to(at::kDouble)); },
               {"'u'", "float32, bfloat16 or float16 on CUDA", "Double"});
}

TEST(FftConvSize, SmallestSmoothLength) {
  EXPECT_EQ(ssm::fft_conv_size(4096, 4096, false), 8192);
  EXPECT_EQ(ssm::fft_conv_size(4096, 4096, true), 8192);
  EXPECT_EQ(ssm::fft_conv_size(1000, 1000, false), 2000);  // 2^4 5^3
  EXPECT_EQ(ssm::fft_conv_size(1, 1, false), 2);
  EXPECT_EQ(ssm::fft_conv_size(7, 7, true), 14);
  EXPECT_EQ(ssm::fft_conv_size(3, 2, false), 4);
}

}  // namespace
}  // namespace ssm::test
