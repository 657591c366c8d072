// ssm::vandermonde beyond its case table (src/ops/vandermonde/cases.cpp, run by tests/ops/common/test_cases.cpp):
// the tail of long float32 powers, non-contiguous inputs, NaN and Inf, CUDA finite differences, every bad input.
#include "ops/common/test_util.h"
#include "ssm/ops.h"

#include <cmath>
#include <limits>

namespace ssm::test {
namespace {

struct Shape {
  int64_t B, N, L;
};

std::string name(const Shape& s) {
  return "B" + std::to_string(s.B) + "_N" + std::to_string(s.N) + "_L" + std::to_string(s.L);
}

// S4D-like inputs: x = dt * A with A = -exp(a) + i b, dt in [1e-3, 1e-1] per row; v complex normal.
std::pair<at::Tensor, at::Tensor> s4d_inputs(const Shape& s, at::ScalarType dtype, double dt_min = 1e-3,
                                             double dt_max = 1e-1) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor log_dt = at::rand({s.B, 1}, f64) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min);
  const at::Tensor re = -0.5 * at::exp(at::randn({s.B, s.N}, f64) * 0.5);
  const at::Tensor im = M_PI * at::arange(s.N, f64).unsqueeze(0) + at::randn({s.B, s.N}, f64);
  const at::Tensor x = at::complex(re, im) * at::exp(log_dt);
  const at::Tensor v = at::complex(at::randn({s.B, s.N}, f64), at::randn({s.B, s.N}, f64));
  return {v.to(dtype), x.to(dtype)};
}

TEST(Vandermonde, LongSequenceFloat32DoesNotDrift) {
  // Slowly decaying modes (dt in [1e-5, 5e-5]) keep exp(x l) well above zero over all 65536 steps while the phase
  // turns by up to ~700 radians, so the tail measures the accuracy of long powers.
  const Shape s{4, 64, 65536};
  auto [v, x] = s4d_inputs(s, at::kComplexFloat, 1e-5, 5e-5);
  const at::Tensor out = ssm::vandermonde(v, x, s.L);
  const at::Tensor ref = vandermonde_reference(v, x, s.L);
  EXPECT_LT(rel_error(out, ref), 1e-4);
  // The tail as well, against its own scale: ~1e-5 with re-anchored powers, ~1e-3 when powers are only multiplied.
  EXPECT_LT(rel_error(out.narrow(1, s.L - 4096, 4096), ref.narrow(1, s.L - 4096, 4096)), 2e-4);
}

TEST(Vandermonde, NonContiguousInputs) {
  auto [v, x] = s4d_inputs({6, 4, 50}, at::kComplexDouble);
  const at::Tensor vt = v.t().contiguous().t();  // same values, transposed strides
  const at::Tensor xs = at::cat({x, x}, 1).narrow(1, 0, 4);
  ASSERT_FALSE(vt.is_contiguous());
  ASSERT_FALSE(xs.is_contiguous());
  EXPECT_LT(rel_error(ssm::vandermonde(vt, xs, 50), vandermonde_reference(v, x, 50)), 1e-11);
}

TEST(Vandermonde, NanAndInfPropagate) {
  auto [v, x] = s4d_inputs({2, 4, 32}, at::kComplexFloat);
  v[0][1] = c10::complex<float>(std::numeric_limits<float>::quiet_NaN(), 0.f);
  x[1][2] = c10::complex<float>(std::numeric_limits<float>::infinity(), 0.f);
  const at::Tensor out = ssm::vandermonde(v, x, 32);
  EXPECT_TRUE(at::isnan(out[0]).all().item<bool>());
  EXPECT_FALSE(at::isfinite(out[1].narrow(0, 1, 31)).any().item<bool>());
}

TEST(Vandermonde, CudaGradientsMatchFiniteDifferences) {
  SSM_REQUIRE_CUDA();
  auto [v, x] = s4d_inputs({2, 37, 700}, at::kComplexDouble);
  v = v.cuda().requires_grad_(true);
  x = x.cuda().requires_grad_(true);
  expect_gradients_match([&](const std::vector<at::Tensor>& in) { return ssm::vandermonde(in[0], in[1], 700); },
                         {v, x});
}

TEST(Vandermonde, BadInputsNameTheArgument) {
  auto [v, x] = s4d_inputs({2, 4, 8}, at::kComplexFloat);
  expect_error([&] { ssm::vandermonde(v.view({-1}), x, 8); }, {"'v'", "(B, N)", "1-d", "(8)"});
  expect_error([&] { ssm::vandermonde(v, x.unsqueeze(0), 8); }, {"'x'", "(B, N)", "(1, 2, 4)"});
  expect_error([&] { ssm::vandermonde(at::real(v).contiguous(), at::real(x).contiguous(), 8); },
               {"'v'", "complex64 or complex128", "Float"});
  expect_error([&] { ssm::vandermonde(v, x.to(at::kComplexDouble), 8); }, {"'x'", "ComplexDouble", "ComplexFloat"});
  expect_error([&] { ssm::vandermonde(v, x.narrow(1, 0, 3), 8); }, {"'x'", "(2, 4)", "(2, 3)"});
  expect_error([&] { ssm::vandermonde(v.narrow(1, 0, 0), x.narrow(1, 0, 0), 8); }, {"N >= 1", "(2, 0)"});
  expect_error([&] { ssm::vandermonde(v, x, 0); }, {"'L'", ">= 1", "0"});
  expect_error([&] { ssm::vandermonde(v, x, -5); }, {"'L'", "-5"});
  expect_error([&] { ssm::vandermonde(v, x.to(at::kMeta), 8); }, {"'x'", "meta", "cpu", "one device"});
}

TEST(Vandermonde, BadDevicesCuda) {
  SSM_REQUIRE_CUDA();
  auto [v, x] = s4d_inputs({2, 4, 8}, at::kComplexFloat);
  expect_error([&] { ssm::vandermonde(v, x.cuda(), 8); }, {"'x'", "cuda", "cpu"});
}

}  // namespace
}  // namespace ssm::test
