// ssm::selective_scan_2d beyond its case table (src/ops/selective_scan_2d/cases.cpp): the V = 1 reduction to
// selective_scan, the two variate directions as mirror images, non-contiguous inputs, bad inputs.
#include "ops/common/cases.h"
#include "ops/common/test_util.h"
#include "ssm/ops.h"

#include <torch/csrc/autograd/autograd.h>

namespace ssm::test {
namespace {

cases::Case grid(int64_t batch, int64_t V, int64_t T, int64_t dim, int64_t N, int64_t lag, bool reverse, bool D) {
  cases::Case c;
  c.label = "test";
  c.size = {{"batch", batch}, {"V", V}, {"T", T}, {"dim", dim}, {"N", N}, {"lag", lag}};
  c.option = {{"reverse", reverse ? "1" : "0"}, {"D", D ? "1" : "0"}};
  return c;
}

std::vector<at::Tensor> inputs(const cases::Case& c, at::ScalarType dt = at::kDouble) {
  return cases::table("selective_scan_2d").inputs(c, dt, at::kCPU);
}

at::Tensor run(const cases::Case& c, const std::vector<at::Tensor>& in) {
  return cases::table("selective_scan_2d").run(c, in);
}

TEST(SelectiveScan2d, OneVariateWithoutTheSecondStateIsTheSelectiveScan) {
  const auto c = grid(2, 1, 150, 3, 4, 1, false, true);
  auto in = inputs(c);
  in[8].zero_();   // B2
  in[10].zero_();  // C2
  for (int i : {0, 1, 3, 7, 9, 11}) in[i].requires_grad_(true);
  const at::Tensor y = run(c, in);
  // (batch, 1, T, dim) -> (batch, dim, T); (batch, 1, T, N) -> (batch, N, T).
  auto seq = [](const at::Tensor& t) { return t.select(1, 0).transpose(1, 2); };
  auto [out, last] = ssm::selective_scan(seq(in[0]), seq(in[1]), in[3], seq(in[7]), seq(in[9]), in[11]);
  EXPECT_LT(rel_error(seq(y), out), 1e-12);
  const at::Tensor w = at::randn(y.sizes(), y.options());
  const std::vector<at::Tensor> wrt = {in[0], in[1], in[3], in[7], in[9], in[11]};
  const auto g2 = torch::autograd::grad({(y * w).sum()}, wrt);
  const auto g1 = torch::autograd::grad({(out * seq(w)).sum()}, wrt);
  for (size_t i = 0; i < wrt.size(); ++i) EXPECT_LT(rel_error(g2[i], g1[i]), 1e-11) << "input " << i;
}

TEST(SelectiveScan2d, ReversedVariatesAreTheMirrorImage) {
  const auto fwd = grid(2, 4, 20, 3, 5, 3, false, true), rev = grid(2, 4, 20, 3, 5, 3, true, true);
  const auto in = inputs(fwd);
  std::vector<at::Tensor> flipped;
  for (size_t i = 0; i < in.size(); ++i) flipped.push_back(in[i].dim() == 4 ? in[i].flip(1) : in[i]);
  EXPECT_LT(rel_error(run(rev, flipped).flip(1), run(fwd, in)), 1e-13);
}

TEST(SelectiveScan2d, NonContiguousInputs) {
  const auto c = grid(2, 3, 11, 4, 3, 2, false, true);
  const auto in = inputs(c);
  auto t = in;
  t[0] = in[0].transpose(1, 3).contiguous().transpose(1, 3);
  t[7] = in[7].transpose(0, 2).contiguous().transpose(0, 2);
  t[3] = in[3].t().contiguous().t();
  ASSERT_FALSE(t[0].is_contiguous() || t[7].is_contiguous() || t[3].is_contiguous());
  EXPECT_LT(rel_error(run(c, t), run(c, in)), 1e-14);
}

TEST(SelectiveScan2d, BadInputsNameTheArgument) {
  const auto c = grid(2, 3, 5, 4, 2, 1, false, true);
  const auto in = inputs(c, at::kFloat);
  auto call = [&](std::vector<at::Tensor> a, int64_t lag = 1) {
    return ssm::selective_scan_2d(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
                                  a[11].defined() ? std::optional<at::Tensor>(a[11]) : std::nullopt, lag);
  };
  auto with = [&](int i, const at::Tensor& t) {
    auto a = in;
    a[i] = t;
    return a;
  };
  expect_error([&] { call(with(0, in[0][0])); }, {"'x'", "(batch, V, T, dim)", "3-d", "(3, 5, 4)"});
  expect_error([&] { call(with(1, in[1].narrow(2, 0, 4))); }, {"'dt1'", "shape of 'x'", "(2, 3, 4, 4)"});
  expect_error([&] { call(with(2, in[2].to(at::kDouble))); }, {"'dt2'", "Double"});
  expect_error([&] { call(with(3, in[3].narrow(0, 0, 3))); }, {"'A1'", "(dim, N)", "dim = 4", "(3, 2)"});
  expect_error([&] { call(with(5, in[5].narrow(1, 0, 1))); }, {"'A3'", "(dim, N) = (4, 2)", "(4, 1)"});
  expect_error([&] { call(with(6, in[6].to(at::kDouble))); }, {"'A4'", "float32", "Double"});
  expect_error([&] { call(with(8, in[8].narrow(1, 0, 2))); },
               {"'B2'", "(batch, V, T, N) = (2, 3, 5, 2)", "(2, 2, 5, 2)"});
  expect_error([&] { call(with(10, in[10].to(at::kDouble))); }, {"'C2'", "Double", "'x' has dtype Float"});
  expect_error([&] { call(with(11, in[11].narrow(0, 0, 2))); }, {"'D'", "(dim) = (4)", "(2)"});
  expect_error([&] { call(in, 0); }, {"'lag'", ">= 1", "got 0"});
  auto half = in;
  for (int i : {0, 1, 2, 7, 8, 9, 10}) half[i] = in[i].to(at::kHalf);
  expect_error([&] { call(half); }, {"'x'", "float32 or float64 on the CPU", "Half"});
  expect_error([&] { call(with(9, in[9].to(at::kMeta))); }, {"'C1'", "meta", "one device"});
  auto empty = in;
  for (int i : {0, 1, 2}) empty[i] = in[i].narrow(2, 0, 0);
  expect_error([&] { call(empty); }, {"'x'", "T >= 1", "(2, 3, 0, 4)"});
}

}  // namespace
}  // namespace ssm::test
