// The S5 layer: its SSM against a direct float64 recurrence, step mode against scan mode, shapes and gradient flow.
#include "layers/s5.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ssm::layers {
namespace {

S5Options opts(const std::string& disc, bool bidir, int64_t blocks = 2, const std::string& init = "hippo_n") {
  test::use_temp_cache();
  S5Options o;
  o.init = init;
  o.ptd_iterations = 200;
  o.d_model = 5;
  o.d_state = 8;
  o.blocks = blocks;
  o.discretization = disc;
  o.bidirectional = bidir;
  return o;
}

// y = 2 Re(C x) + D u with x_k = Lambda_bar x_{k-1} + B_bar u_k, all in complex128, from the layer's parameters.
torch::Tensor reference_ssm(S5Impl& layer, const torch::Tensor& u, bool bidirectional) {
  auto p = layer.named_parameters();
  const auto& o = layer.options();
  const torch::Tensor lambda = torch::complex(p["Lambda_re"].to(torch::kDouble), p["Lambda_im"].to(torch::kDouble));
  const torch::Tensor dt = torch::exp(p["log_step"].to(torch::kDouble));
  const torch::Tensor Bm = torch::view_as_complex(p["B"].to(torch::kDouble));  // (P, H)
  const torch::Tensor Cm = torch::view_as_complex(p["C"].to(torch::kDouble));  // (ch, H, P)
  torch::Tensor lbar, bbar;
  if (o.discretization == "zoh") {
    lbar = torch::exp(lambda * dt);
    bbar = ((lbar - 1) / lambda).unsqueeze(-1) * Bm;
  } else {
    lbar = (1 + dt * lambda / 2) / (1 - dt * lambda / 2);
    bbar = (dt / (1 - dt * lambda / 2)).unsqueeze(-1) * Bm;
  }
  const torch::Tensor u64 = u.to(torch::kDouble);
  const int64_t Bn = u.size(0), L = u.size(1), P = lambda.size(0);
  const double factor = o.init == "ptd" ? 1.0 : 2.0;  // Re(C x) without conjugate symmetry, else 2 Re(C x)
  torch::Tensor y = u64 * p["D"].to(torch::kDouble);
  for (int dir = 0; dir < (bidirectional ? 2 : 1); ++dir) {
    torch::Tensor x = torch::zeros({Bn, P}, torch::kComplexDouble);
    for (int64_t s = 0; s < L; ++s) {
      const int64_t l = dir ? L - 1 - s : s;
      x = lbar * x + torch::matmul(u64.select(1, l).to(torch::kComplexDouble), bbar.t());
      y.select(1, l) += factor * torch::real(torch::matmul(x, Cm[dir].t()));
    }
  }
  return y;
}

TEST(S5, SsmMatchesDirectRecurrence) {
  for (const std::string init : {"hippo_n", "ptd"})
  for (const std::string disc : {"zoh", "bilinear"})
    for (const bool bidir : {false, true}) {
      SCOPED_TRACE(init + " " + disc + (bidir ? " bidirectional" : ""));
      S5 layer(opts(disc, bidir, 2, init));
      torch::NoGradGuard g;
      const torch::Tensor u = torch::randn({2, 40, 5});
      const torch::Tensor y = layer->ssm(u), ref = reference_ssm(*layer, u, bidir);
      EXPECT_LT((y.to(torch::kDouble) - ref).abs().max().item<double>() / ref.abs().max().item<double>(), 1e-5);
    }
}

TEST(S5, PtdInitializationHasNegativeRealParts) {
  S5 layer(opts("zoh", false, 2, "ptd"));
  auto p = layer->named_parameters();
  EXPECT_LT(p["Lambda_re"].max().item<double>(), 0.0);
  EXPECT_EQ(p["Lambda_re"].size(0), 8);  // all modes stored
}

TEST(S5, InitializationIsHippoN) {
  S5 layer(opts("zoh", false, 4));
  auto p = layer->named_parameters();
  EXPECT_LT((p["Lambda_re"] + 0.5).abs().max().item<double>(), 1e-6);
  // Every block repeats the same eigenvalues.
  const torch::Tensor im = p["Lambda_im"].view({4, 2});
  EXPECT_TRUE(torch::allclose(im[0], im[3]));
}

TEST(S5, StepModeMatchesScanMode) {
  for (const std::string init : {"hippo_n", "ptd"})
  for (const std::string disc : {"zoh", "bilinear"}) {
    S5 layer(opts(disc, false, 2, init));
    layer->eval();
    torch::NoGradGuard g;
    const torch::Tensor u = torch::randn({3, 50, 5});
    const torch::Tensor y = layer->forward(u);
    torch::Tensor state = layer->step_state(3);
    std::vector<torch::Tensor> ys;
    for (int64_t t = 0; t < 50; ++t) ys.push_back(layer->step(u.select(1, t), state));
    EXPECT_LT((torch::stack(ys, 1) - y).abs().max().item<double>() / y.abs().max().item<double>(), 1e-5) << disc;
  }
}

TEST(S5, ShapesAndGradientFlow) {
  for (const bool bidir : {false, true}) {
    S5 layer(opts("zoh", bidir));
    const torch::Tensor u = torch::randn({2, 17, 5}, torch::requires_grad());
    const torch::Tensor y = layer->forward(u);
    ASSERT_EQ(y.sizes(), u.sizes());
    y.pow(2).sum().backward();
    for (const auto& p : layer->named_parameters())
      EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();
    EXPECT_EQ(layer->ssm_parameters().size(), 4u);
  }
}

TEST(S5, BadOptionsAreRejected) {
  auto o = opts("zoh", false, 3);  // 8 modes in 3 blocks
  EXPECT_THROW(S5{o}, std::invalid_argument);
  o = opts("euler", false);
  EXPECT_THROW(S5{o}, std::invalid_argument);
  o = opts("zoh", false, 2, "random");
  EXPECT_THROW(S5{o}, std::invalid_argument);
  o = opts("zoh", false);
  o.d_model = 0;
  EXPECT_THROW(S5{o}, std::invalid_argument);
}

}  // namespace
}  // namespace ssm::layers
