// ssm::diag_scan: against a float64 sequential loop over shapes, directions, time-invariant and time-varying a,
// with and without h0; gradients by finite differences; CPU against CUDA; bad inputs.
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

// The sequential float64 / complex128 loop.
at::Tensor scan_reference(const at::Tensor& a, const at::Tensor& b, bool reverse, const std::optional<at::Tensor>& h0) {
  const auto wide = at::isComplexType(b.scalar_type()) ? at::kComplexDouble : at::kDouble;
  const at::Tensor A = a.detach().cpu().to(wide), Bv = b.detach().cpu().to(wide);
  const int64_t L = b.size(1);
  at::Tensor x = at::empty_like(Bv);
  at::Tensor state = h0 ? h0->detach().cpu().to(wide) : at::zeros({b.size(0), b.size(2)}, Bv.options());
  for (int64_t s = 0; s < L; ++s) {
    const int64_t l = reverse ? L - 1 - s : s;
    const at::Tensor al = A.dim() == 3 ? A.select(1, l) : A.unsqueeze(0);
    state = al * state + Bv.select(1, l);
    x.select(1, l).copy_(state);
  }
  return x;
}

class DiagScanForward : public ::testing::TestWithParam<Case> {};

TEST_P(DiagScanForward, MatchesSequentialLoop) {
  const Case c = GetParam();
  for (const auto dt : {at::kComplexFloat, at::kComplexDouble, at::kFloat, at::kDouble}) {
    SCOPED_TRACE(std::string(c10::toString(dt)));
    const at::Tensor a = make_a(c, dt), b = make_b(c, dt), h0 = make_b({c.B, 1, c.P, false}, dt).squeeze(1);
    const bool single = dt == at::kComplexFloat || dt == at::kFloat;
    const double tol = single ? 1e-5 : 1e-12;
    for (const bool reverse : {false, true}) {
      EXPECT_LT(rel_error(ssm::diag_scan(a, b, reverse), scan_reference(a, b, reverse, std::nullopt)), tol);
      EXPECT_LT(rel_error(ssm::diag_scan(a, b, reverse, h0), scan_reference(a, b, reverse, h0)), tol);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, DiagScanForward,
                         ::testing::Values(Case{1, 1, 1, false}, Case{2, 7, 3, false}, Case{2, 7, 3, true},
                                           Case{3, 1000, 17, false}, Case{1, 4099, 64, true}, Case{5, 33, 130, false}),
                         [](const auto& info) { return name(info.param); });

TEST(DiagScan, GradientsMatchFiniteDifferences) {
  for (const Case c : {Case{2, 6, 3, false}, Case{2, 5, 2, true}, Case{1, 1, 1, false}}) {
    for (const auto dt : {at::kComplexDouble, at::kDouble}) {
      for (const bool reverse : {false, true}) {
        SCOPED_TRACE(name(c) + (reverse ? " reverse " : " ") + c10::toString(dt));
        at::Tensor a = make_a(c, dt).requires_grad_(true), b = make_b(c, dt).requires_grad_(true);
        at::Tensor h0 = make_b({c.B, 1, c.P, false}, dt).squeeze(1).requires_grad_(true);
        expect_gradients_match(
            [&](const std::vector<at::Tensor>& in) { return ssm::diag_scan(in[0], in[1], reverse, in[2]); },
            {a, b, h0});
        expect_gradients_match([&](const std::vector<at::Tensor>& in) { return ssm::diag_scan(in[0], in[1], reverse); },
                               {a, b});
      }
    }
  }
}

TEST(DiagScan, NonContiguousInputs) {
  const Case c{3, 20, 5, true};
  const at::Tensor a = make_a(c, at::kComplexDouble), b = make_b(c, at::kComplexDouble);
  const at::Tensor bt = b.transpose(0, 1).contiguous().transpose(0, 1);
  ASSERT_FALSE(bt.is_contiguous());
  EXPECT_LT(rel_error(ssm::diag_scan(a, bt), scan_reference(a, b, false, std::nullopt)), 1e-12);
}

TEST(DiagScan, CpuMatchesCuda) {
  SSM_REQUIRE_CUDA();
  for (const Case c : {Case{1, 1, 1, false}, Case{2, 7, 3, true}, Case{8, 16384, 256, false}, Case{3, 1000, 17, true},
                       Case{2, 4099, 300, false}}) {
    for (const auto dt : {at::kComplexFloat, at::kComplexDouble, at::kFloat}) {
      for (const bool reverse : {false, true}) {
        SCOPED_TRACE(name(c) + (reverse ? " reverse " : " ") + c10::toString(dt));
        const at::Tensor a = make_a(c, dt), b = make_b(c, dt), h0 = make_b({c.B, 1, c.P, false}, dt).squeeze(1);
        const double tol = (dt == at::kComplexDouble) ? 1e-12 : 1e-5;
        std::vector<at::Tensor> cpu = {a.clone().requires_grad_(true), b.clone().requires_grad_(true),
                                       h0.clone().requires_grad_(true)};
        std::vector<at::Tensor> gpu = {a.cuda().requires_grad_(true), b.cuda().requires_grad_(true),
                                       h0.cuda().requires_grad_(true)};
        const at::Tensor xc = ssm::diag_scan(cpu[0], cpu[1], reverse, cpu[2]);
        const at::Tensor xg = ssm::diag_scan(gpu[0], gpu[1], reverse, gpu[2]);
        EXPECT_LT(rel_error(xg, scan_reference(a, b, reverse, h0)), tol);
        const at::Tensor g = make_b(c, dt);
        xc.backward(g);
        xg.backward(g.cuda());
        for (int i = 0; i < 3; ++i) EXPECT_LT(rel_error(gpu[i].grad(), cpu[i].grad()), 10 * tol) << "input " << i;
      }
    }
  }
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
