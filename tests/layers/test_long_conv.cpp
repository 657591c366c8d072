// The long-convolution layer: Squash and Smooth on the kernel, the convolution it computes, gradient flow.
#include "layers/long_conv.h"
#include "ssm/ops.h"

#include <gtest/gtest.h>
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
        torch::nn::functional::linear(torch::gelu(y), p["out.weight"], p["out.bias"]), -1);
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

}  // namespace
}  // namespace ssm::layers
