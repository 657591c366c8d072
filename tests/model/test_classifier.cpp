// The sequence classifier: output shapes, gradient flow, masked pooling.
#include "model/classifier.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ssm::model {
namespace {

ClassifierOptions small(int64_t vocab, const std::string& norm, const std::string& pooling, bool prenorm) {
  ClassifierOptions o;
  o.vocab_size = vocab;
  o.d_input = 3;
  o.n_classes = 5;
  o.n_layers = 2;
  o.norm = norm;
  o.pooling = pooling;
  o.prenorm = prenorm;
  o.layer.d_model = 8;
  o.layer.d_state = 4;
  return o;
}

TEST(Classifier, ShapesAndGradientFlow) {
  for (const std::string norm : {"layer", "batch"})
    for (const bool prenorm : {true, false}) {
      SCOPED_TRACE(norm + (prenorm ? " prenorm" : " postnorm"));
      Classifier real(small(0, norm, "mean", prenorm));
      const torch::Tensor logits = real->forward(torch::randn({4, 20, 3}), torch::tensor({20, 5, 1, 13}));
      ASSERT_EQ(logits.sizes(), (torch::IntArrayRef{4, 5}));
      torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1, 2, 3})).backward();
      for (const auto& p : real->named_parameters())
        EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();
      Classifier tokens(small(11, norm, "last", prenorm));
      EXPECT_EQ(tokens->forward(torch::randint(0, 11, {4, 9})).sizes(), (torch::IntArrayRef{4, 5}));
    }
}

TEST(Classifier, S5Layers) {
  ClassifierOptions o = small(0, "batch", "mean", false);
  o.layer_type = "s5";
  o.s5.d_state = 6;
  o.s5.blocks = 3;
  Classifier m(o);
  const torch::Tensor logits = m->forward(torch::randn({4, 12, 3}), torch::tensor({12, 5, 1, 9}));
  ASSERT_EQ(logits.sizes(), (torch::IntArrayRef{4, 5}));
  torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1, 2, 3})).backward();
  for (const auto& p : m->named_parameters())
    EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();
  EXPECT_EQ(m->ssm_parameters().size(), 8u);  // Lambda_re, Lambda_im, log_step, B per layer
}

TEST(Classifier, PoolingIgnoresPadding) {
  for (const std::string pooling : {"mean", "last"}) {
    Classifier m(small(0, "layer", pooling, true));
    m->eval();
    torch::NoGradGuard g;
    const torch::Tensor x = torch::randn({2, 16, 3}), lengths = torch::tensor({10, 16});
    torch::Tensor x2 = x.clone();
    x2[0].narrow(0, 10, 6).fill_(100.0);  // change only the padding of example 0 (the layers are causal)
    const torch::Tensor a = m->forward(x, lengths), b = m->forward(x2, lengths);
    EXPECT_TRUE(torch::allclose(a[0], b[0], 1e-4, 1e-5)) << pooling;
    // A model that sees only the valid part gives the same answer.
    const torch::Tensor c = m->forward(x.narrow(0, 0, 1).narrow(1, 0, 10), torch::tensor({10}));
    EXPECT_TRUE(torch::allclose(a[0], c[0], 1e-4, 1e-5)) << pooling;
  }
}

}  // namespace
}  // namespace ssm::model
