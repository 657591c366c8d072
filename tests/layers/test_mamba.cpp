// The Mamba block: against a direct float64 recurrence written from its parameters, causality, the recurrent step
// against the full forward, the bidirectional form on padded batches, gradients by finite differences, the
// initialization ranges and bad options.
#include "layers/mamba.h"
#include "support/expect_error.h"
#include "support/layer_reference.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace ssm::layers {
namespace {

MambaOptions opts(bool bidir = false) {
  MambaOptions o;
  o.d_model = 6;
  o.d_state = 5;
  o.expand = 2;
  o.d_conv = 3;
  o.dt_rank = 2;
  o.bias = true;
  o.bidirectional = bidir;
  return o;
}

using test::ref_silu;
using test::ref_softplus;

// Fresh random parameters, A = -(n + 1) kept.
void randomize(torch::nn::Module& m, double scale = 0.4) {
  test::randomize(m, scale, [](const std::string& name, torch::Tensor&) { return name.find("A_log") != std::string::npos; });
}

// One direction's gated output (B, L, inner) from xz (B, L, 2 inner), step by step in float64.
torch::Tensor reference_direction(const MambaDirection& d, const torch::Tensor& xz, int64_t inner, int64_t R,
                                  int64_t N, int64_t K) {
  const int64_t B = xz.size(0), L = xz.size(1);
  const torch::Tensor x = xz.narrow(2, 0, inner), z = xz.narrow(2, inner, inner);
  const torch::Tensor w = d->conv->weight.squeeze(1).to(torch::kDouble);  // (inner, K)
  const torch::Tensor A = -torch::exp(d->A_log.to(torch::kDouble));
  torch::Tensor h = torch::zeros({B, inner, N}, torch::kDouble);
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < L; ++t) {
    torch::Tensor xc = d->conv->bias.to(torch::kDouble).unsqueeze(0).expand({B, inner}).clone();
    for (int64_t k = 0; k < K; ++k) {
      const int64_t s = t - (K - 1) + k;
      if (s >= 0) xc = xc + w.select(1, k) * x.select(1, s);
    }
    xc = ref_silu(xc);
    const torch::Tensor dbl = torch::matmul(xc, d->x_proj->weight.to(torch::kDouble).t());
    const torch::Tensor dt = ref_softplus(torch::matmul(dbl.narrow(1, 0, R), d->dt_proj->weight.to(torch::kDouble).t()) +
                                      d->dt_proj->bias.to(torch::kDouble));
    const torch::Tensor Bt = dbl.narrow(1, R, N), Ct = dbl.narrow(1, R + N, N);
    h = torch::exp(dt.unsqueeze(2) * A) * h + (dt * xc).unsqueeze(2) * Bt.unsqueeze(1);
    ys.push_back(((h * Ct.unsqueeze(1)).sum(2) + d->D.to(torch::kDouble) * xc) * ref_silu(z.select(1, t)));
  }
  return torch::stack(ys, 1);
}

torch::Tensor reference(MambaImpl& m, const torch::Tensor& u) {
  auto p = m.named_parameters();
  const auto& o = m.options();
  const torch::Tensor xz = torch::matmul(u.to(torch::kDouble), p["in_proj.weight"].to(torch::kDouble).t()) +
                           p["in_proj.bias"].to(torch::kDouble);
  torch::Tensor y = reference_direction(m.direction(0), xz, m.inner(), m.dt_rank(), o.d_state, o.d_conv);
  if (o.bidirectional)
    y = y + reference_direction(m.direction(1), xz.flip({1}), m.inner(), m.dt_rank(), o.d_state, o.d_conv).flip({1});
  return torch::matmul(y, p["out_proj.weight"].to(torch::kDouble).t()) + p["out_proj.bias"].to(torch::kDouble);
}

TEST(Mamba, MatchesADirectRecurrence) {
  torch::manual_seed(1);
  for (const bool bidir : {false, true}) {
    SCOPED_TRACE(bidir ? "bidirectional" : "causal");
    Mamba m(opts(bidir));
    randomize(*m);
    const torch::Tensor u = torch::randn({3, 11, 6});
    const torch::Tensor y = m->forward(u);
    ASSERT_EQ(y.sizes(), u.sizes());
    EXPECT_TRUE(torch::allclose(y.to(torch::kDouble), reference(*m, u), 1e-4, 1e-5))
        << (y.to(torch::kDouble) - reference(*m, u)).abs().max().item<double>();
  }
}

TEST(Mamba, OutputAtTDoesNotDependOnLaterInputs) {
  torch::manual_seed(2);
  Mamba m(opts());
  randomize(*m);
  const torch::Tensor u = torch::randn({2, 13, 6});
  const torch::Tensor y = m->forward(u);
  for (const int64_t t : {0, 5, 11}) {
    torch::Tensor v = u.clone();
    v.narrow(1, t + 1, 13 - t - 1).copy_(torch::randn({2, 13 - t - 1, 6}) * 3);
    const torch::Tensor w = m->forward(v);
    EXPECT_TRUE(torch::allclose(w.narrow(1, 0, t + 1), y.narrow(1, 0, t + 1), 1e-5, 1e-6)) << "t " << t;
    EXPECT_FALSE(torch::allclose(w.narrow(1, t + 1, 1), y.narrow(1, t + 1, 1), 1e-3, 1e-3)) << "t " << t;
  }
}

TEST(Mamba, StepModeEqualsTheFullForward) {
  torch::manual_seed(3);
  for (const int64_t d_conv : {1, 4}) {
    MambaOptions o = opts();
    o.d_conv = d_conv;
    o.conv_bias = d_conv == 4;
    Mamba m(o);
    randomize(*m);
    m->to(torch::kDouble);
    const torch::Tensor u = torch::randn({3, 9, 6}, torch::kDouble);
    const torch::Tensor y = m->forward(u);
    torch::Tensor state = m->step_state(3);
    EXPECT_EQ(state.size(2), d_conv - 1 + 5);
    for (int64_t t = 0; t < 9; ++t)
      EXPECT_TRUE(torch::allclose(m->step(u.select(1, t), state), y.select(1, t), 1e-10, 1e-11))
          << "d_conv " << d_conv << " t " << t;
  }
  Mamba bi(opts(true));
  torch::Tensor s = bi->step_state(1);
  test::expect_error([&] { bi->step(torch::randn({1, 6}), s); }, {"Mamba", "unidirectional"});
}

TEST(Mamba, BidirectionalReversesWithinTheValidLength) {
  torch::manual_seed(4);
  Mamba m(opts(true));
  randomize(*m);
  const torch::Tensor u = torch::randn({2, 10, 6});
  const torch::Tensor lengths = torch::tensor({7, 10}, torch::kLong);
  torch::Tensor padded = u.clone();
  padded[0].narrow(0, 7, 3).zero_();
  SequenceContext ctx;
  ctx.lengths = lengths;
  const torch::Tensor y = m->forward(padded, ctx);
  // Row 0's valid part equals the layer on that row alone; row 1 is unpadded.
  EXPECT_TRUE(torch::allclose(y[0].narrow(0, 0, 7), m->forward(u[0].narrow(0, 0, 7).unsqueeze(0))[0], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(y[1], m->forward(u[1].unsqueeze(0))[0], 1e-5, 1e-6));
  // reverse_valid is its own inverse and keeps the padding in place.
  const torch::Tensor r = reverse_valid(padded, lengths);
  EXPECT_TRUE(torch::equal(r[0][0], padded[0][6]));
  EXPECT_TRUE(torch::equal(r[0][8], padded[0][8]));
  EXPECT_TRUE(torch::equal(reverse_valid(r, lengths), padded));
}

TEST(Mamba, GradientsMatchFiniteDifferences) {
  torch::manual_seed(5);
  Mamba m(opts(true));
  randomize(*m);
  m->to(torch::kDouble);
  const torch::Tensor u = torch::randn({2, 7, 6}, torch::kDouble);
  const torch::Tensor g = torch::randn({2, 7, 6}, torch::kDouble);
  auto loss = [&] { return (m->forward(u) * g).sum(); };
  m->zero_grad();
  loss().backward();
  torch::NoGradGuard ng;
  int checked = 0;
  for (auto& p : m->named_parameters()) {
    torch::Tensor w = p.value();
    const torch::Tensor grad = w.grad().clone();
    auto flat = w.view({-1});
    for (const int64_t i : {int64_t{0}, flat.numel() / 2, flat.numel() - 1}) {
      const double old = flat[i].item<double>(), h = 1e-6;
      flat[i] = old + h;
      const double up = loss().item<double>();
      flat[i] = old - h;
      const double down = loss().item<double>();
      flat[i] = old;
      const double fd = (up - down) / (2 * h);
      EXPECT_NEAR(grad.view({-1})[i].item<double>(), fd, 1e-5 * (1 + std::abs(fd))) << p.key() << "[" << i << "]";
      ++checked;
    }
  }
  EXPECT_GE(checked, 30);
}

TEST(Mamba, InitializationRanges) {
  MambaOptions o = opts();
  o.dt_min = 0.002;
  o.dt_max = 0.05;
  o.dt_rank = 0;
  o.d_model = 40;
  Mamba m(o);
  EXPECT_EQ(m->dt_rank(), 3);  // ceil(40 / 16)
  EXPECT_EQ(m->inner(), 80);
  const auto& d = m->direction(0);
  const torch::Tensor dt = torch::softplus(d->dt_proj->bias);
  EXPECT_GE(dt.min().item<float>(), 0.002 * 0.999);
  EXPECT_LE(dt.max().item<float>(), 0.05 * 1.001);
  EXPECT_GT(dt.max().item<float>() / dt.min().item<float>(), 5);  // spread over the range, log-uniform
  const torch::Tensor A = -torch::exp(d->A_log);
  EXPECT_TRUE(torch::allclose(A, -torch::arange(1, 6, torch::kFloat).repeat({80, 1}), 1e-5, 1e-6));
  EXPECT_TRUE(torch::equal(d->D, torch::ones({80})));
  EXPECT_EQ(m->ssm_parameters().size(), 3u);
}

TEST(Mamba, BadOptionsAreRejected) {
  auto with = [](auto f) {
    MambaOptions o = opts();
    f(o);
    return o;
  };
  test::expect_error([&] { Mamba(with([](MambaOptions& o) { o.expand = 0; })); }, {"Mamba", "expand"});
  test::expect_error([&] { Mamba(with([](MambaOptions& o) { o.d_conv = 0; })); }, {"Mamba", "d_conv"});
  test::expect_error([&] { Mamba(with([](MambaOptions& o) { o.dt_min = 0.5; })); }, {"Mamba", "dt_min <= dt_max"});
  test::expect_error([&] { Mamba(with([](MambaOptions& o) { o.d_model = 0; })); }, {"Mamba", "d_model"});
  Mamba m(opts());
  test::expect_error([&] { m->forward(torch::randn({2, 5, 4})); }, {"Mamba", "(B, L, 6)"});
}

}  // namespace
}  // namespace ssm::layers
