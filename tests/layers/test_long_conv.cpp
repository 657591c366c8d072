// The long-convolution layer: Squash and Smooth on the kernel, the convolution it computes, gradient flow.
#include "layers/long_conv.h"
#include "layers/s4d.h"
#include "support/expect_error.h"
#include "ssm/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <torch/torch.h>

namespace ssm::layers {
namespace {

LongConvOptions opts(double lambda, int64_t smooth, bool bidir) {
  LongConvOptions o;
  o.d_model = 4;
  o.max_length = 64;
  o.lambda = lambda;
  o.smooth = smooth;
  o.bidirectional = bidir;
  return o;
}

TEST(LongConv, SquashIsASoftThreshold) {
  LongConv layer(opts(0.002, 0, false));
  torch::NoGradGuard g;
  const torch::Tensor raw = layer->named_parameters()["kernel"].narrow(2, 0, 30);
  const torch::Tensor k = layer->kernel(30);
  EXPECT_TRUE(torch::allclose(k, torch::sign(raw) * torch::clamp_min(torch::abs(raw) - 0.002, 0)));
  EXPECT_GT((k == 0).sum().item<int64_t>(), 0);  // randn * 0.002: many entries fall under the threshold
}

TEST(LongConv, SmoothIsAMovingAverage) {
  LongConv layer(opts(0.0, 2, false));
  torch::NoGradGuard g;
  const torch::Tensor raw = layer->named_parameters()["kernel"].narrow(2, 0, 20).to(torch::kDouble);
  const torch::Tensor k = layer->kernel(20).to(torch::kDouble);
  for (int64_t i = 0; i < 20; ++i) {
    double acc = 0;
    for (int64_t j = i - 2; j <= i + 2; ++j)
      if (j >= 0 && j < 20) acc += raw[0][1][j].item<double>();
    EXPECT_NEAR(k[0][1][i].item<double>(), acc / 5, 1e-7) << i;
  }
}

TEST(LongConv, ComputesTheConvolutionOfItsKernel) {
  for (const bool bidir : {false, true}) {
    LongConv layer(opts(0.0, 0, bidir));
    layer->eval();
    torch::NoGradGuard g;
    const torch::Tensor u = torch::randn({2, 40, 4});
    const torch::Tensor k = layer->kernel(40);
    auto p = layer->named_parameters();
    const std::optional<torch::Tensor> kr = bidir ? std::optional<torch::Tensor>(k[1]) : std::nullopt;
    const torch::Tensor y = ssm::fft_conv(u.transpose(1, 2), k[0], p["D"], kr).transpose(1, 2);
    const torch::Tensor expect = torch::nn::functional::glu(
        torch::nn::functional::linear(torch::gelu(y), p["output.out.weight"], p["output.out.bias"]), -1);
    EXPECT_TRUE(torch::allclose(layer->forward(u), expect, 1e-5, 1e-6));
  }
}

TEST(LongConv, GradientsReachTheKernelAndLongInputsAreRejected) {
  LongConv layer(opts(0.0, 1, true));
  const torch::Tensor u = torch::randn({2, 30, 4});
  layer->forward(u).pow(2).sum().backward();
  EXPECT_GT(layer->named_parameters()["kernel"].grad().abs().sum().item<double>(), 0);
  EXPECT_EQ(layer->ssm_parameters().size(), 1u);
  try {
    layer->forward(torch::randn({1, 65, 4}));
    ADD_FAILURE() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the kernel length 64"), std::string::npos);
  }
}

TEST(LongConv, ButterflyBackendsEqualTheFftConvolution) {
  // conv: butterfly, fixed or learned (per channel or shared) factors at initialization: the same layer output as
  // conv: fft for the same parameters, at the full kernel length and at shorter (zero-padded) inputs.
  for (const bool bidir : {false, true}) {
    LongConvOptions o = opts(0.001, 0, bidir);
    torch::manual_seed(3);
    LongConv fft(o);
    fft->eval();
    for (const int learned : {0, 1, 2}) {
      SCOPED_TRACE(std::string(bidir ? "bidirectional" : "causal") + " learned " + std::to_string(learned));
      LongConvOptions b = o;
      b.conv = "butterfly";
      b.learn_butterfly = learned > 0;
      b.butterfly_per_channel = learned == 2;
      torch::manual_seed(3);
      LongConv bfly(b);
      bfly->eval();
      const auto params = bfly->butterfly_parameters();
      if (learned) {
        const auto radices = ssm::butterfly_radices(ssm::fft_conv_size(64, 64, bidir));
        ASSERT_EQ(params.size(), radices.size());
        for (size_t i = 0; i < params.size(); ++i)
          EXPECT_EQ(params[i].size(-2), radices[i]) << "factor " << i;
        EXPECT_EQ(params[0].dim(), learned == 2 ? 4 : 3);  // (H, r, r, 2) or (r, r, 2)
      } else {
        EXPECT_TRUE(params.empty());
      }
      torch::NoGradGuard g;
      for (const int64_t L : {int64_t{64}, int64_t{37}}) {
        const torch::Tensor u = torch::randn({3, L, 4});
        EXPECT_TRUE(torch::allclose(bfly->forward(u), fft->forward(u), 1e-4, 1e-5)) << "L " << L;
      }
    }
  }
}

TEST(LongConv, DoubleExpInitDecaysPerChannel) {
  LongConvOptions o = opts(0.0, 0, false);
  o.d_model = 8;
  o.max_length = 512;
  o.init = "double_exp";
  torch::manual_seed(0);
  LongConv layer(o);
  const torch::Tensor k = layer->named_parameters()["kernel"].detach().abs().select(0, 0);  // (H, L)
  // Channel i decays like exp(-(j / L) 4^(i / 8)): compare the mean magnitude of the first and last quarter.
  for (int64_t i = 0; i < 8; ++i) {
    const double head = k[i].narrow(0, 0, 128).mean().item<double>(), tail = k[i].narrow(0, 384, 128).mean().item<double>();
    const double expect = std::exp(-0.75 * std::pow(4.0, i / 8.0));  // ratio of the decays at j = 448 and j = 64
    EXPECT_NEAR(tail / head, expect, 0.35 * expect) << "channel " << i;
  }
  EXPECT_NEAR(k.narrow(1, 0, 16).mean().item<double>(), 0.02 * std::sqrt(2 / M_PI), 0.004);  // E|randn| * 0.02
  o.init = "uniform";
  EXPECT_THROW(LongConv{o}, std::invalid_argument);
}

TEST(LongConv, LearnedButterflyFactorsTrain) {
  LongConvOptions o = opts(0.0, 0, false);
  o.conv = "butterfly";
  o.learn_butterfly = true;
  LongConv layer(o);
  layer->forward(torch::randn({2, 50, 4})).pow(2).sum().backward();
  for (const auto& f : layer->butterfly_parameters()) {
    ASSERT_TRUE(f.grad().defined());
    EXPECT_GT(f.grad().abs().sum().item<double>(), 0);
  }
  try {
    layer->forward(torch::randn({1, 65, 4}));
    ADD_FAILURE() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the kernel length 64"), std::string::npos);
  }
  o.conv = "fft";
  EXPECT_THROW(LongConv{o}, std::invalid_argument);
}

}  // namespace
}  // namespace ssm::layers

namespace ssm::layers {
namespace {

// The SequenceLayer interface: a layer without a recurrent form says so; S4D steps through the base class.
TEST(SequenceLayerInterface, RecurrentStepThroughTheBaseClass) {
  std::shared_ptr<SequenceLayer> conv = std::make_shared<LongConvImpl>(LongConvOptions{});
  test::expect_error([&] { conv->step_state(2); }, {"longconv", "no recurrent mode"});
  S4DOptions o;
  o.d_model = 4;
  o.d_state = 8;
  std::shared_ptr<SequenceLayer> s4d = std::make_shared<S4DImpl>(o);
  s4d->eval();
  torch::NoGradGuard g;
  const torch::Tensor u = torch::randn({2, 6, 4});
  const torch::Tensor y = s4d->forward(u);
  torch::Tensor state = s4d->step_state(2);
  for (int64_t t = 0; t < 6; ++t)
    EXPECT_TRUE(torch::allclose(s4d->step(u.select(1, t), state), y.select(1, t), 1e-4, 1e-5)) << t;
}

}  // namespace
}  // namespace ssm::layers
