// ssm::diag_scan beyond its case table (src/ops/diag_scan/cases.cpp, run by tests/ops/common/test_cases.cpp):
// non-contiguous inputs, bad inputs.
#include "ops/common/cases.h"
#include "ops/common/test_util.h"
#include "ssm/ops.h"

namespace ssm::test {
namespace {

struct Case {
  int64_t B, L, P;
  bool varying;
};

std::string name(const Case& c) {
  return "B" + std::to_string(c.B) + "_L" + std::to_string(c.L) + "_P" + std::to_string(c.P) +
         (c.varying ? "_varying" : "_invariant");
}

// Stable random coefficients: |a| < 1, like a discretized S5 (exp(dt Lambda) with Re Lambda < 0).
at::Tensor make_a(const Case& c, at::ScalarType dt) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const std::vector<int64_t> shape = c.varying ? std::vector<int64_t>{c.B, c.L, c.P} : std::vector<int64_t>{c.P};
  const at::Tensor mag = 0.5 + 0.49 * at::rand(shape, f64);
  if (!at::isComplexType(dt)) return (mag * at::where(at::rand(shape, f64) < 0.2, -1.0, 1.0)).to(dt);
  return at::polar(mag, at::rand(shape, f64) * 6.283185307179586).to(dt);
}

at::Tensor make_b(const Case& c, at::ScalarType dt) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  if (!at::isComplexType(dt)) return at::randn({c.B, c.L, c.P}, f64).to(dt);
  return at::complex(at::randn({c.B, c.L, c.P}, f64), at::randn({c.B, c.L, c.P}, f64)).to(dt);
}

// The sequential float64 / complex128 loop of the case table.
at::Tensor scan_reference(const at::Tensor& a, const at::Tensor& b, bool reverse, const std::optional<at::Tensor>& h0) {
  cases::Case c;
  c.option["reverse"] = reverse ? "1" : "0";
  return cases::table("diag_scan").reference(c, {a, b, h0.value_or(at::Tensor())});
}

TEST(DiagScan, NonContiguousInputs) {
  const Case c{3, 20, 5, true};
  const at::Tensor a = make_a(c, at::kComplexDouble), b = make_b(c, at::kComplexDouble);
  const at::Tensor bt = b.transpose(0, 1).contiguous().transpose(0, 1);
  ASSERT_FALSE(bt.is_contiguous());
  EXPECT_LT(rel_error(ssm::diag_scan(a, bt), scan_reference(a, b, false, std::nullopt)), 1e-12);
}

TEST(DiagScan, BadInputsNameTheArgument) {
  const Case c{2, 5, 3, false};
  const at::Tensor a = make_a(c, at::kComplexFloat), b = make_b(c, at::kComplexFloat);
  expect_error([&] { ssm::diag_scan(a, b[0]); }, {"'b'", "(B, L, P)", "2-d", "(5, 3)"});
  expect_error([&] { ssm::diag_scan(a.narrow(0, 0, 2), b); }, {"'a'", "(P) = (3)", "(2)"});
  expect_error([&] { ssm::diag_scan(make_a({2, 4, 3, true}, at::kComplexFloat), b); }, {"'a'", "(2, 5, 3)", "(2, 4, 3)"});
  expect_error([&] { ssm::diag_scan(a.to(at::kComplexDouble), b); }, {"'a'", "ComplexDouble", "ComplexFloat"});
  expect_error([&] { ssm::diag_scan(a.to(at::kHalf), b.to(at::kHalf)); }, {"'b'", "float32, float64, complex64", "Half"});
  expect_error([&] { ssm::diag_scan(a, b, false, at::zeros({3, 3}, b.options())); }, {"'h0'", "(B, P) = (2, 3)", "(3, 3)"});
  expect_error([&] { ssm::diag_scan(a, b.narrow(1, 0, 0)); }, {"'b'", "L >= 1", "(2, 0, 3)"});
  expect_error([&] { ssm::diag_scan(a.to(at::kMeta), b); }, {"'a'", "meta", "one device"});
}

}  // namespace
}  // namespace ssm::test
