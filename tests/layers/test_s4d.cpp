// The S4D layer: shapes, gradient flow, its kernel against a direct float64 evaluation, step mode against
// convolution mode.
#include "layers/s4d.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ssm::layers {
namespace {

S4DOptions opts(const std::string& disc, bool bidir, const std::string& init = "lin") {
  test::use_temp_cache();  // PTD initializations are cached on disk: keep the tests' out of the user's cache
  S4DOptions o;
  o.ptd_iterations = 200;
  o.d_model = 6;
  o.d_state = 8;
  o.discretization = disc;
  o.bidirectional = bidir;
  o.init = init;
  return o;
}

TEST(S4D, ShapesAndGradientFlow) {
  for (const bool bidir : {false, true}) {
    S4D layer(opts("zoh", bidir));
    const torch::Tensor u = torch::randn({3, 37, 6}, torch::requires_grad());
    const torch::Tensor y = layer->forward(u);
    ASSERT_EQ(y.sizes(), u.sizes());
    y.pow(2).sum().backward();
    EXPECT_GT(u.grad().abs().sum().item<double>(), 0);
    for (const auto& p : layer->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0) << p.key() << " gets no gradient";
    }
  }
}

TEST(S4D, KernelMatchesDirectEvaluation) {
  for (const std::string disc : {"zoh", "bilinear"}) {
    for (const std::string init : {"lin", "inv", "real", "legs", "ptd"}) {
      SCOPED_TRACE(disc + " " + init);
      S4D layer(opts(disc, false, init));
      const int64_t L = 50;
      const torch::Tensor k = layer->kernel(L).to(torch::kDouble);  // (1, H, L)
      auto params = layer->named_parameters();
      const torch::Tensor A = torch::complex(-torch::exp(params["A_log_re"].to(torch::kDouble)),
                                             params["A_im"].to(torch::kDouble));      // (H, N/2)
      const torch::Tensor dt = torch::exp(params["log_dt"].to(torch::kDouble)).unsqueeze(-1);  // (H, 1)
      const torch::Tensor C = torch::view_as_complex(params["C"].to(torch::kDouble))[0];        // (H, N/2)
      torch::Tensor dA, dB;
      if (disc == "zoh") {
        dA = torch::exp(dt * A);
        dB = (dA - 1) / A;
      } else {
        dA = (1 + dt * A / 2) / (1 - dt * A / 2);
        dB = dt / (1 - dt * A / 2);
      }
      const torch::Tensor l = torch::arange(L, torch::kDouble).to(torch::kComplexDouble);
      // Conjugate-symmetric inits store N/2 modes and take 2 Re; PTD stores all N modes and takes Re.
      const double factor = init == "ptd" ? 1.0 : 2.0;
      const torch::Tensor ref = factor * torch::real((C * dB).unsqueeze(-1) * torch::pow(dA.unsqueeze(-1), l)).sum(1);
      EXPECT_LT((k[0] - ref).abs().max().item<double>() / ref.abs().max().item<double>(), 1e-4);
    }
  }
}

TEST(S4D, StepModeMatchesConvolutionMode) {
  for (const std::string init : {"lin", "ptd"})
  for (const std::string disc : {"zoh", "bilinear"}) {
    SCOPED_TRACE(disc + " " + init);
    S4D layer(opts(disc, false, init));
    layer->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor u = torch::randn({2, 300, 6});
    const torch::Tensor y_conv = layer->forward(u);
    torch::Tensor state = layer->step_state(2);
    std::vector<torch::Tensor> ys;
    for (int64_t t = 0; t < u.size(1); ++t) ys.push_back(layer->step(u.select(1, t), state));
    const torch::Tensor y_step = torch::stack(ys, 1);
    EXPECT_LT((y_step - y_conv).abs().max().item<double>() / y_conv.abs().max().item<double>(), 1e-4);
  }
}

TEST(S4D, BadOptionsAreRejected) {
  auto o = opts("zoh", false);
  o.d_state = 7;
  EXPECT_THROW(S4D{o}, std::invalid_argument);
  o = opts("euler", false);
  EXPECT_THROW(S4D{o}, std::invalid_argument);
  S4D bi(opts("zoh", true));
  torch::Tensor s = bi->step_state(1);
  EXPECT_THROW(bi->step(torch::randn({1, 6}), s), c10::Error);
}

}  // namespace
}  // namespace ssm::layers
