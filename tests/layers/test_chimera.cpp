// The Chimera block: the whole block against a direct float64 evaluation of its 2-D recurrences, the reduction to
// Mamba's 1-D selective scan (V = 1, variate path off), causality in time, mixing across variates only when the
// variate path is on, the initialization ranges and bad options.
#include "layers/chimera.h"
#include "ssm/ops.h"
#include "support/expect_error.h"
#include "support/layer_reference.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace ssm::layers {
namespace {

ChimeraOptions opts() {
  ChimeraOptions o;
  o.d_model = 5;
  o.d_state = 3;
  o.expand = 2;
  o.d_conv = 3;
  o.dt_rank = 2;
  o.season_lag = 2;
  return o;
}

using test::d64;
using test::ref_silu;
using test::ref_softplus;

// A_i drawn in [-3, -0.3]: every coupling matters at this size.
void randomize(torch::nn::Module& m, double scale = 0.4) {
  test::randomize(m, scale, [](const std::string& name, torch::Tensor& p) {
    if (name.find("A_log") == std::string::npos) return false;
    p.copy_(torch::log(torch::rand_like(p) * 2.7 + 0.3));
    return true;
  });
}

// The block on a (B, V, L, H) grid, cell by cell in float64 (no op, no conv module).
torch::Tensor reference(ChimeraImpl& m, const torch::Tensor& grid_u) {
  // Without autograd: the loop writes each cell into a view of h1/h2 and reads earlier cells back through views, and
  // autograd would keep every saved view's base alive from the node that saved it, a reference cycle that leaks.
  torch::NoGradGuard no_grad;
  const auto& o = m.options();
  const int64_t B = grid_u.size(0), V = grid_u.size(1), L = grid_u.size(2), E = m.inner(), N = o.d_state,
                R = m.dt_rank(), K = o.d_conv;
  const torch::Tensor xz = torch::matmul(d64(grid_u), d64(m.input_projection()->weight).t());  // (B, V, L, 2E)
  const torch::Tensor x0 = xz.narrow(3, 0, E), z = xz.narrow(3, E, E);
  torch::Tensor x = torch::zeros_like(x0);
  const torch::Tensor w = d64(m.convolution()->weight).squeeze(1);  // (E, K)
  for (int64_t t = 0; t < L; ++t) {
    torch::Tensor acc = d64(m.convolution()->bias).expand({B, V, E}).clone();
    for (int64_t k = 0; k < K; ++k)
      if (t - (K - 1) + k >= 0) acc = acc + w.select(1, k) * x0.select(2, t - (K - 1) + k);
    x.select(2, t).copy_(ref_silu(acc));
  }
  torch::Tensor y = d64(m.skip()) * x;
  for (const auto& h : m.heads()) {
    const torch::Tensor dbl = torch::matmul(x, d64(h->x_proj->weight).t());
    const torch::Tensor dt1 =
        ref_softplus(torch::matmul(dbl.narrow(3, 0, R), d64(h->dt1_proj->weight).t()) + d64(h->dt1_proj->bias));
    const torch::Tensor dt2 =
        ref_softplus(torch::matmul(dbl.narrow(3, R, R), d64(h->dt2_proj->weight).t()) + d64(h->dt2_proj->bias));
    const torch::Tensor B1 = dbl.narrow(3, 2 * R, N), B2 = dbl.narrow(3, 2 * R + N, N);
    const torch::Tensor C1 = dbl.narrow(3, 2 * R + 2 * N, N), C2 = dbl.narrow(3, 2 * R + 3 * N, N);
    const torch::Tensor A = -torch::exp(d64(h->A_log));  // (4, E, N)
    for (const bool reverse : {false, true}) {
      torch::Tensor h1 = torch::zeros({B, V, L, E, N}, torch::kDouble), h2 = torch::zeros_like(h1);
      for (int64_t t = 0; t < L; ++t)
        for (int64_t s = 0; s < V; ++s) {
          const int64_t v = reverse ? V - 1 - s : s, prev = reverse ? v + 1 : v - 1;
          auto at = [&](const torch::Tensor& q) { return q.select(1, v).select(1, t); };  // (B, ...)
          const torch::Tensor d1 = at(dt1).unsqueeze(2), d2 = at(dt2).unsqueeze(2), xv = at(x).unsqueeze(2);
          torch::Tensor n1 = d1 * at(B1).unsqueeze(1) * xv, n2 = d2 * at(B2).unsqueeze(1) * xv;
          if (t >= h->lag) {
            n1 = n1 + torch::exp(d1 * A[0]) * h1.select(1, v).select(1, t - h->lag) +
                 torch::exp(d1 * A[1]) * h2.select(1, v).select(1, t - h->lag);
          }
          if (s > 0) {
            n2 = n2 + torch::exp(d2 * A[2]) * h1.select(1, prev).select(1, t) +
                 torch::exp(d2 * A[3]) * h2.select(1, prev).select(1, t);
          }
          h1.select(1, v).select(1, t).copy_(n1);
          h2.select(1, v).select(1, t).copy_(n2);
        }
      y = y + 0.5 * ((h1 * C1.unsqueeze(3)).sum(4) + (h2 * C2.unsqueeze(3)).sum(4));
    }
  }
  return torch::matmul(y * ref_silu(z), d64(m.output_projection()->weight).t());
}

TEST(Chimera, MatchesADirectEvaluationOfItsTwoHeads) {
  torch::manual_seed(1);
  Chimera m(opts());
  randomize(*m);
  const int64_t B = 2, V = 3, L = 7, H = 5;
  const torch::Tensor u = torch::randn({B, V, L, H});
  SequenceContext ctx;
  ctx.variates = V;
  const torch::Tensor y = m->forward(u.view({B * V, L, H}), ctx);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{B * V, L, H}));
  const torch::Tensor ref = reference(*m, u).view({B * V, L, H});
  EXPECT_TRUE(torch::allclose(d64(y), ref, 1e-4, 1e-5)) << (d64(y) - ref).abs().max().item<double>();
}

TEST(Chimera, OneVariateWithoutTheVariatePathIsMambasSelectiveScan) {
  torch::manual_seed(2);
  ChimeraOptions o = opts();
  o.heads = "trend";
  o.variates = false;
  Chimera m(o);
  randomize(*m);
  m->to(torch::kDouble);
  const int64_t B = 3, L = 12, H = 5, E = m->inner(), N = o.d_state, R = m->dt_rank();
  const torch::Tensor u = torch::randn({B, L, H}, torch::kDouble);
  const torch::Tensor y = m->forward(u);
  // The same block written with the 1-D op.
  const torch::Tensor xz = m->input_projection()(u);
  const torch::Tensor x = torch::silu(m->convolution()(xz.narrow(2, 0, E).transpose(1, 2)).narrow(2, 0, L));
  auto& h = m->heads()[0];
  const torch::Tensor dbl = h->x_proj(x.transpose(1, 2));  // (B, L, 2R + 4N)
  const torch::Tensor delta = torch::matmul(dbl.narrow(2, 0, R), h->dt1_proj->weight.t()).transpose(1, 2);
  const torch::Tensor A = -torch::exp(h->A_log[0]);
  const auto [s, last] = ssm::selective_scan(x, delta, A, dbl.narrow(2, 2 * R, N).transpose(1, 2),
                                             dbl.narrow(2, 2 * R + 2 * N, N).transpose(1, 2), m->skip(),
                                             xz.narrow(2, E, E).transpose(1, 2), h->dt1_proj->bias, true);
  const torch::Tensor expect = m->output_projection()(s.transpose(1, 2));
  EXPECT_TRUE(torch::allclose(y, expect, 1e-10, 1e-11)) << (y - expect).abs().max().item<double>();
  // Grouped as variates of one sample, the variates stay independent with the variate path off.
  SequenceContext ctx;
  ctx.variates = 3;
  EXPECT_TRUE(torch::allclose(m->forward(u, ctx), y, 1e-12, 1e-12));
}

TEST(Chimera, CausalInTimeAndMixingAcrossVariates) {
  torch::manual_seed(3);
  const int64_t B = 2, V = 4, L = 10, H = 5;
  for (const std::string heads : {"trend", "both"}) {
    ChimeraOptions o = opts();
    o.heads = heads;
    Chimera m(o);
    randomize(*m);
    SequenceContext ctx;
    ctx.variates = V;
    const torch::Tensor u = torch::randn({B * V, L, H});
    const torch::Tensor y = m->forward(u, ctx).view({B, V, L, H});
    for (const int64_t t : {0, 4, 8}) {
      torch::Tensor w = u.clone();
      w.narrow(1, t + 1, L - t - 1).copy_(torch::randn({B * V, L - t - 1, H}) * 3);
      const torch::Tensor yw = m->forward(w, ctx).view({B, V, L, H});
      EXPECT_TRUE(torch::allclose(yw.narrow(2, 0, t + 1), y.narrow(2, 0, t + 1), 1e-5, 1e-6)) << heads << " t " << t;
    }
    // Changing variate 3 of sample 0 changes variate 0 of sample 0 (both variate directions), not sample 1.
    torch::Tensor w = u.clone();
    w[3].copy_(torch::randn({L, H}) * 3);
    const torch::Tensor yw = m->forward(w, ctx).view({B, V, L, H});
    EXPECT_GT((yw[0][0] - y[0][0]).abs().max().item<float>(), 1e-4) << heads;
    EXPECT_TRUE(torch::allclose(yw[1], y[1], 1e-6, 1e-7)) << heads;
    // Without the variate path, no variate sees another.
    o.variates = false;
    Chimera lone(o);
    randomize(*lone);
    const torch::Tensor a = lone->forward(u, ctx), b = lone->forward(w, ctx);
    EXPECT_TRUE(torch::allclose(a.view({B, V, L, H})[0][0], b.view({B, V, L, H})[0][0], 1e-6, 1e-7)) << heads;
  }
}

TEST(Chimera, InitializationRanges) {
  ChimeraOptions o = opts();
  o.d_model = 32;
  o.d_state = 4;
  o.dt_rank = 0;
  Chimera m(o);
  EXPECT_EQ(m->dt_rank(), 2);
  ASSERT_EQ(m->heads().size(), 2u);
  const double ranges[2][2] = {{o.trend_dt_min, o.trend_dt_max}, {o.season_dt_min, o.season_dt_max}};
  for (int k = 0; k < 2; ++k) {
    const auto& h = m->heads()[k];
    EXPECT_EQ(h->lag, k == 0 ? 1 : 2);
    const torch::Tensor dt1 = torch::softplus(h->dt1_proj->bias), dt2 = torch::softplus(h->dt2_proj->bias);
    EXPECT_GE(dt1.min().item<float>(), ranges[k][0] * 0.999);
    EXPECT_LE(dt1.max().item<float>(), ranges[k][1] * 1.001);
    EXPECT_GE(dt2.min().item<float>(), o.variate_dt_min * 0.999);
    EXPECT_LE(dt2.max().item<float>(), o.variate_dt_max * 1.001);
    const torch::Tensor A = -torch::exp(h->A_log);  // (4, inner, N)
    const torch::Tensor n1 = torch::arange(1, 5, torch::kFloat);
    const double kappa = std::log(1 / ranges[k][0]) / (ranges[k][0] + o.variate_dt_min);
    for (const int i : {0, 3}) EXPECT_TRUE(torch::allclose(A[i], -n1.expand({64, 4}), 1e-5, 1e-6)) << i;
    for (const int i : {1, 2}) EXPECT_TRUE(torch::allclose(A[i], -kappa * n1.expand({64, 4}), 1e-4, 1e-3)) << i;
  }
  // An explicit coupling replaces the automatic one.
  o.coupling = 7;
  Chimera c(o);
  EXPECT_NEAR(-std::exp(c->heads()[0]->A_log[1][0][0].item<float>()), -7, 1e-5);
  o.heads = "season";
  EXPECT_EQ(Chimera(o)->heads().size(), 1u);
}

TEST(Chimera, BadOptionsAndInputsAreRejected) {
  auto with = [](auto f) {
    ChimeraOptions o = opts();
    f(o);
    return o;
  };
  test::expect_error([&] { Chimera(with([](ChimeraOptions& o) { o.season_lag = 0; })); }, {"Chimera", "season_lag"});
  test::expect_error([&] { Chimera(with([](ChimeraOptions& o) { o.heads = "all"; })); }, {"Chimera", "heads"});
  test::expect_error([&] { Chimera(with([](ChimeraOptions& o) { o.trend_dt_min = 0.5; })); },
                     {"Chimera", "trend_dt_min <= trend_dt_max"});
  Chimera m(opts());
  SequenceContext ctx;
  ctx.variates = 4;
  test::expect_error([&] { m->forward(torch::randn({6, 5, 5}), ctx); }, {"Chimera", "6 rows", "variates = 4"});
}

}  // namespace
}  // namespace ssm::layers
