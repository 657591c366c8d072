// The vectorizable elementwise math of the CPU scan kernels (src/ops/common/vec_math.h) against libm, over the
// ranges the kernels use and at the edges (underflow, overflow, infinities, NaN).
#include "ops/common/vec_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace ssm::test {
namespace {

template <typename T>
double rel(T got, double want) {
  return std::abs(static_cast<double>(got) - want) / std::max(std::abs(want), 1e-300);
}

TEST(VecMath, ExpMatchesLibmOverTheNormalRange) {
  double worst_f = 0, worst_d = 0;
  for (int i = 0; i <= 200000; ++i) {
    const double xf = -87.0 + 175.0 * i / 200000.0;  // float: [-87, 88]
    worst_f = std::max(worst_f,
                       rel(cpu::vexp(static_cast<float>(xf)), std::exp(static_cast<double>(static_cast<float>(xf)))));
    const double xd = -700.0 + 1409.0 * i / 200000.0;  // double: [-700, 709]
    worst_d = std::max(worst_d, rel(cpu::vexp(xd), std::exp(xd)));
  }
  EXPECT_LT(worst_f, 3 * std::numeric_limits<float>::epsilon());
  EXPECT_LT(worst_d, 4 * std::numeric_limits<double>::epsilon());
}

TEST(VecMath, ExpEdges) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(cpu::vexp(nan)));
  EXPECT_TRUE(std::isnan(cpu::vexp(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(cpu::vexp(inf), inf);
  EXPECT_EQ(cpu::vexp(89.0f), inf);
  EXPECT_EQ(cpu::vexp(710.0), std::numeric_limits<double>::infinity());
  // Below the smallest normal result: that result (never negative, never a denormal, never NaN).
  for (const float x : {-88.0f, -200.0f, -inf}) {
    const float v = cpu::vexp(x);
    EXPECT_GE(v, 0.0f);
    EXPECT_LE(v, 1.2e-38f);
  }
  // Between 127 ln2 and the overflow point: finite, within 2x of the true value.
  EXPECT_TRUE(std::isfinite(cpu::vexp(88.5f)));
  EXPECT_GT(cpu::vexp(88.5f), 0.5 * std::exp(88.5));
  EXPECT_EQ(cpu::vexp(0.0f), 1.0f);
}

TEST(VecMath, Log1pKeepsRelativePrecisionForTinyArguments) {
  double worst_f = 0, worst_d = 0;
  for (int e = -300; e <= 0; ++e)
    for (const double m : {1.0, 1.37, 2.9, 7.7}) {
      const double y = m * std::pow(10.0, e);
      if (y > 1.0) continue;
      if (y > 1e-37) {
        const float yf = static_cast<float>(y);
        worst_f = std::max(worst_f, rel(cpu::vlog1p(yf), std::log1p(static_cast<double>(yf))));
      }
      worst_d = std::max(worst_d, rel(cpu::vlog1p(y), std::log1p(y)));
    }
  EXPECT_LT(worst_f, 3 * std::numeric_limits<float>::epsilon());
  EXPECT_LT(worst_d, 4 * std::numeric_limits<double>::epsilon());
  EXPECT_EQ(cpu::vlog1p(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(cpu::vlog1p(std::numeric_limits<double>::quiet_NaN())));
}

TEST(VecMath, SoftplusAndSigmoid) {
  double worst_sp = 0, worst_sg = 0;
  for (int i = 0; i <= 20000; ++i) {
    const double x = -40.0 + 80.0 * i / 20000.0;
    const double sp = x > 20 ? x : std::log1p(std::exp(x));  // torch.nn.functional.softplus, threshold 20
    worst_sp = std::max(worst_sp, rel(cpu::vsoftplus(x), sp));
    worst_sg = std::max(worst_sg, rel(cpu::vsigmoid(x), 1.0 / (1.0 + std::exp(-x))));
  }
  EXPECT_LT(worst_sp, 1e-14);
  EXPECT_LT(worst_sg, 1e-14);
  EXPECT_EQ(cpu::vsoftplus(50.0f), 50.0f);
  EXPECT_EQ(cpu::vsigmoid(-200.0f), 0.0f);
  EXPECT_EQ(cpu::vsigmoid(200.0f), 1.0f);
}

}  // namespace
}  // namespace ssm::test
