// ssm::selective_scan beyond its case table (src/ops/selective_scan/cases.cpp, run by tests/ops/common/test_cases.cpp):
// padded batches against the unpadded sequences, a loss on last_state alone, the state carried across calls,
// non-contiguous inputs, bad inputs.
#include "ops/common/cases.h"
#include "ops/common/test_util.h"
#include "ssm/ops.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/autograd.h>

namespace ssm::test {
namespace {

struct Inputs {
  at::Tensor u, delta, A, B, C, D, z, bias, h0;
};

Inputs make(int64_t batch, int64_t dim, int64_t L, int64_t N, at::ScalarType dt = at::kDouble) {
  const auto o = at::TensorOptions().dtype(dt);
  const auto so = at::TensorOptions().dtype(dt == at::kDouble ? at::kDouble : at::kFloat);
  return {at::randn({batch, dim, L}, o),
          at::randn({batch, dim, L}, o) * 0.5 - 1.5,
          -(at::arange(1, N + 1, so).unsqueeze(0) * (0.5 + at::rand({dim, 1}, so))),
          at::randn({batch, N, L}, o),
          at::randn({batch, N, L}, o),
          at::randn({dim}, so),
          at::randn({batch, dim, L}, o),
          at::randn({dim}, so) * 0.3,
          at::randn({batch, dim, N}, so)};
}

std::tuple<at::Tensor, at::Tensor> scan(const Inputs& x, const std::optional<at::Tensor>& lengths = std::nullopt,
                                        bool with_h0 = true) {
  return ssm::selective_scan(x.u, x.delta, x.A, x.B, x.C, x.D, x.z, x.bias, true,
                             with_h0 ? std::optional<at::Tensor>(x.h0) : std::nullopt, lengths);
}

// Row b of every per-batch input, cut to its first len steps.
Inputs row(const Inputs& x, int64_t b, int64_t len) {
  auto cut = [&](const at::Tensor& t) { return t.narrow(0, b, 1).narrow(-1, 0, len).contiguous(); };
  return {cut(x.u), cut(x.delta), x.A, cut(x.B), cut(x.C), x.D, cut(x.z), x.bias, x.h0.narrow(0, b, 1).contiguous()};
}

TEST(SelectiveScan, PaddedBatchGivesTheUnpaddedSequences) {
  const int64_t L = 150;  // three chunks of 64, the last one ragged
  const Inputs x = make(4, 3, L, 5);
  const std::vector<int64_t> lens = {L, 1, 64, 97};
  const at::Tensor lengths = at::tensor(lens, at::TensorOptions().dtype(at::kLong));
  // Garbage in the padding must not leak into anything.
  Inputs noisy = x;
  for (int64_t b = 0; b < 4; ++b)
    if (lens[b] < L) {
      noisy.u[b].narrow(-1, lens[b], L - lens[b]).fill_(1e30);
      noisy.B[b].narrow(-1, lens[b], L - lens[b]).fill_(std::nan(""));
    }
  for (auto* t : {&noisy.u, &noisy.delta, &noisy.B, &noisy.C, &noisy.z, &noisy.h0, &noisy.D}) t->requires_grad_(true);
  auto [out, last] = scan(noisy, lengths);
  const at::Tensor w = at::randn(out.sizes(), out.options()), wl = at::randn(last.sizes(), last.options());
  const auto grads = torch::autograd::grad({(out * w).sum() + (last * wl).sum()},
                                           {noisy.u, noisy.delta, noisy.B, noisy.C, noisy.z, noisy.h0, noisy.D});
  at::Tensor dD_sum = at::zeros_like(x.D);
  for (int64_t b = 0; b < 4; ++b) {
    SCOPED_TRACE("row " + std::to_string(b));
    Inputs r = row(x, b, lens[b]);
    for (auto* t : {&r.u, &r.delta, &r.B, &r.C, &r.z, &r.h0, &r.D}) *t = t->detach().clone().requires_grad_(true);
    auto [o1, l1] = scan(r);
    EXPECT_LT(rel_error(out[b].narrow(-1, 0, lens[b]), o1[0]), 1e-12);
    if (lens[b] < L) EXPECT_EQ(out[b].narrow(-1, lens[b], L - lens[b]).abs().max().item<double>(), 0.0);
    EXPECT_LT(rel_error(last[b], l1[0]), 1e-12);
    const auto g1 = torch::autograd::grad({(o1 * w[b].narrow(-1, 0, lens[b])).sum() + (l1 * wl[b]).sum()},
                                          {r.u, r.delta, r.B, r.C, r.z, r.h0, r.D});
    for (int i = 0; i < 5; ++i) {  // per-step inputs: the valid part equals, the padding gets zero gradient
      EXPECT_LT(rel_error(grads[i][b].narrow(-1, 0, lens[b]), g1[i][0]), 1e-11) << "input " << i;
      if (lens[b] < L) EXPECT_EQ(grads[i][b].narrow(-1, lens[b], L - lens[b]).abs().max().item<double>(), 0.0);
    }
    EXPECT_LT(rel_error(grads[5][b], g1[5][0]), 1e-11);
    dD_sum += g1[6];
  }
  EXPECT_LT(rel_error(grads[6], dD_sum), 1e-11);
}

TEST(SelectiveScan, LossOnLastStateAloneBackpropagates) {
  Inputs x = make(2, 3, 70, 4);
  for (auto* t : {&x.u, &x.h0, &x.A}) t->requires_grad_(true);
  auto f = [&](const std::vector<at::Tensor>& in) {
    return std::get<1>(ssm::selective_scan(in[0], x.delta, in[2], x.B, x.C, x.D, x.z, x.bias, true, in[1]));
  };
  expect_gradients_match(f, {x.u, x.h0, x.A});
}

TEST(SelectiveScan, LastStateContinuesTheSequence) {
  // Two calls, the second from the first's last state, equal one call over the whole sequence.
  const Inputs x = make(2, 4, 100, 3);
  auto [out, last] = scan(x);
  auto cut = [](const Inputs& in, int64_t s, int64_t n, const at::Tensor& h0) {
    auto c = [&](const at::Tensor& t) { return t.narrow(-1, s, n).contiguous(); };
    return Inputs{c(in.u), c(in.delta), in.A, c(in.B), c(in.C), in.D, c(in.z), in.bias, h0};
  };
  auto [o1, l1] = scan(cut(x, 0, 37, x.h0));
  auto [o2, l2] = scan(cut(x, 37, 63, l1));
  EXPECT_LT(rel_error(at::cat({o1, o2}, -1), out), 1e-12);
  EXPECT_LT(rel_error(l2, last), 1e-12);
}

TEST(SelectiveScan, NonContiguousInputs) {
  const Inputs x = make(3, 4, 33, 5);
  auto [out, last] = scan(x);
  Inputs t = x;
  t.u = x.u.transpose(0, 2).contiguous().transpose(0, 2);
  t.B = x.B.transpose(1, 2).contiguous().transpose(1, 2);
  t.A = x.A.t().contiguous().t();
  ASSERT_FALSE(t.u.is_contiguous() || t.B.is_contiguous() || t.A.is_contiguous());
  auto [o2, l2] = scan(t);
  EXPECT_LT(rel_error(o2, out), 1e-14);
  EXPECT_LT(rel_error(l2, last), 1e-14);
}

TEST(SelectiveScan, CudaReadsTimeContiguousViewsInPlace) {
  SSM_REQUIRE_CUDA();
  // Views whose time dimension is contiguous (slices of wider tensors) go to the kernel with their strides.
  const Inputs wide = make(3, 10, 50, 16, at::kFloat);
  auto part = [](const at::Tensor& t, int64_t dim) { return t.cuda().narrow(dim, 2, 6); };
  Inputs x{part(wide.u, 1),
           part(wide.delta, 1),
           part(wide.A, 0).contiguous(),
           wide.B.cuda(),
           wide.C.cuda(),
           part(wide.D, 0).contiguous(),
           part(wide.z, 1),
           part(wide.bias, 0).contiguous(),
           part(wide.h0, 1).contiguous()};
  ASSERT_FALSE(x.u.is_contiguous());
  ASSERT_EQ(x.u.stride(-1), 1);
  auto [out, last] = scan(x);
  Inputs c = x;
  for (auto* t : {&c.u, &c.delta, &c.z}) *t = t->contiguous();
  auto [out2, last2] = scan(c);
  EXPECT_LT(rel_error(out.cpu(), out2.cpu()), 1e-6);
  EXPECT_LT(rel_error(last.cpu(), last2.cpu()), 1e-6);
}

TEST(SelectiveScan, BackwardRejectsForeignCheckpoints) {
  // The internal backward op checks what only the forward should have made.
  using Opt = std::optional<at::Tensor>;
  using Sig = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                         at::Tensor>(const Opt&, const Opt&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                     const at::Tensor&, const at::Tensor&, const Opt&, const Opt&, const Opt&, bool,
                                     const Opt&, const Opt&, const at::Tensor&);
  const auto bwd = c10::Dispatcher::singleton().findSchemaOrThrow("ssm::selective_scan_backward", "").typed<Sig>();
  const Inputs x = make(2, 3, 70, 4, at::kFloat);  // 2 chunks of 64
  const at::Tensor g = at::randn(x.u.sizes());
  auto call = [&](const at::Tensor& ck, const Opt& g_last = std::nullopt) {
    return bwd.call(g, g_last, x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, std::nullopt, false,
                    std::nullopt, std::nullopt, ck);
  };
  expect_error(
      [&] {
        call(at::zeros({2, 3, 1, 4}));
      },
      {"'checkpoints'", "(batch, dim, chunks, N) = (2, 3, 2, 4)", "(2, 3, 1, 4)"});
  expect_error([&] { call(at::zeros({2, 3, 2, 4}, at::kDouble)); }, {"'checkpoints'"});
  expect_error([&] { call(at::zeros({2, 3, 2, 4}), at::zeros({2, 3, 5})); }, {"'grad_last_state'", "(2, 3, 4)"});
  auto [du, ddelta, dA, dB, dC, dD, dz, dbias, dh0] = call(at::zeros({2, 3, 2, 4}));
  EXPECT_EQ(du.sizes(), x.u.sizes());
  EXPECT_FALSE(dD.defined() || dz.defined() || dbias.defined() || dh0.defined());
}

TEST(SelectiveScan, BadInputsNameTheArgument) {
  const Inputs x = make(2, 4, 6, 3, at::kFloat);
  auto call =
      [&](const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
          const std::optional<at::Tensor>& D = std::nullopt, const std::optional<at::Tensor>& z = std::nullopt,
          const std::optional<at::Tensor>& bias = std::nullopt, const std::optional<at::Tensor>& h0 = std::nullopt,
          const std::optional<at::Tensor>& lengths = std::nullopt) {
        return ssm::selective_scan(u, delta, A, B, C, D, z, bias, false, h0, lengths);
      };
  const auto l64 = at::TensorOptions().dtype(at::kLong);
  expect_error([&] { call(x.u[0], x.delta, x.A, x.B, x.C); }, {"'u'", "(batch, dim, L)", "2-d", "(4, 6)"});
  expect_error([&] { call(x.u, x.delta.narrow(2, 0, 5), x.A, x.B, x.C); }, {"'delta'", "shape of 'u'", "(2, 4, 5)"});
  expect_error([&] { call(x.u, x.delta, x.A.narrow(0, 0, 3), x.B, x.C); }, {"'A'", "(dim, N)", "dim = 4", "(3, 3)"});
  expect_error([&] { call(x.u, x.delta, x.A.to(at::kDouble), x.B, x.C); }, {"'A'", "float32", "Double"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B.narrow(1, 0, 2), x.C); },
               {"'B'", "(batch, N, L) = (2, 3, 6)", "(2, 2, 6)"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B, at::randn({2, 3, 3, 6})); }, {"'C'", "G = 3", "divide dim = 4"});
  expect_error(
      [&] {
        call(x.u, x.delta, x.A, at::randn({2, 2, 3, 6}), at::randn({2, 4, 3, 6}));
      },
      {"'B' and 'C'", "same number of groups", "2 and 4"});
  expect_error([&] { call(x.u, x.delta, x.A, at::randn({4, 2}), x.C); }, {"'B'", "(dim, N) = (4, 3)", "(4, 2)"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B.to(at::kDouble), x.C); }, {"'B'", "Double", "'u' has dtype Float"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B, x.C, x.D.narrow(0, 0, 3)); }, {"'D'", "(dim) = (4)", "(3)"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, x.z.narrow(0, 0, 1)); }, {"'z'", "shape of 'u'"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, x.bias.to(at::kHalf)); },
               {"'delta_bias'", "float32", "Half"});
  expect_error([&] { call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, std::nullopt, x.h0[0]); },
               {"'h0'", "(batch, dim, N) = (2, 4, 3)", "(4, 3)"});
  expect_error(
      [&] {
        call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
             at::tensor({6, 0}, l64));
      },
      {"'lengths'", "[1, L] = [1, 6]", "got 0 at index 1"});
  expect_error(
      [&] {
        call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
             at::tensor({6, 7}, l64));
      },
      {"'lengths'", "got 7 at index 1"});
  expect_error(
      [&] {
        call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
             at::tensor({6.0, 2.0}));
      },
      {"'lengths'", "int64", "Double"});
  expect_error(
      [&] {
        call(x.u, x.delta, x.A, x.B, x.C, std::nullopt, std::nullopt, std::nullopt, std::nullopt, at::tensor({6}, l64));
      },
      {"'lengths'", "(batch) = (2)", "(1)"});
  expect_error(
      [&] {
        call(x.u.to(at::kBFloat16), x.delta.to(at::kBFloat16), x.A, x.B.to(at::kBFloat16), x.C.to(at::kBFloat16));
      },
      {"'u'", "float32 or float64 on the CPU", "BFloat16"});
  expect_error(
      [&] { call(x.u.narrow(2, 0, 0), x.delta.narrow(2, 0, 0), x.A, x.B.narrow(2, 0, 0), x.C.narrow(2, 0, 0)); },
      {"'u'", "L >= 1", "(2, 4, 0)"});
  expect_error([&] { call(x.u, x.delta, x.A.to(at::kMeta), x.B, x.C); }, {"'A'", "meta", "one device"});
}

}  // namespace
}  // namespace ssm::test
