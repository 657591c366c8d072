// ssm::fft_conv beyond its case table (src/ops/fft_conv/cases.cpp, run by tests/ops/common/test_cases.cpp): long
// sequences, gradients of some inputs only, non-contiguous inputs, NaN and Inf, every bad input, the FFT length.
#include "ops/common/test_util.h"
#include "ssm/ops.h"

#include <limits>

namespace ssm::test {
namespace {

using Shape = ConvShape;
using Inputs = ConvInputs;


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
