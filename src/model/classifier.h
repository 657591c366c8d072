// A sequence classifier: encoder, n residual blocks around a sequence layer, pooling, decoder.
//   encoder: embedding (token inputs, vocab_size > 0) or linear (real-valued inputs, d_input features)
//   block:   prenorm:  x + dropout(layer(norm(x)))      postnorm: norm(x + dropout(layer(x)))
//            the layer (S4D or S5) ends with GELU, dropout, linear H -> 2H and GLU (see layers/s4d.h, layers/s5.h)
//   pooling: mean over the valid positions (lengths) or the last valid position
#pragma once

#include "layers/s4d.h"
#include "layers/long_conv.h"
#include "layers/s5.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <string>
#include <vector>

namespace ssm::model {

struct ClassifierOptions {
  int64_t vocab_size = 0;  // > 0: token inputs (B, L) int64; 0: real inputs (B, L, d_input)
  int64_t d_input = 1;
  int64_t n_classes = 10;
  int64_t n_layers = 4;
  bool prenorm = true;
  std::string norm = "layer";    // layer | batch
  std::string pooling = "mean";  // mean | last
  double dropout = 0.0;
  std::string layer_type = "s4d";  // s4d | s5 | longconv
  layers::S4DOptions layer;        // s4d; its d_model is the model width for every layer type
  layers::S5Options s5;            // s5 (d_model, dropout and bidirectional are taken from `layer`)
  layers::LongConvOptions longconv;  // longconv (likewise)
};

class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(const ClassifierOptions& o);
  // x: (B, L) tokens or (B, L, d_input) values; lengths: (B) int64 valid lengths (undefined: all L). -> (B, classes)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& lengths = {});
  std::vector<torch::Tensor> ssm_parameters() const;
  std::vector<torch::Tensor> butterfly_parameters() const;
  const ClassifierOptions& options() const { return o_; }

 private:
  torch::Tensor normalize(size_t i, const torch::Tensor& x);
  ClassifierOptions o_;
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear encode{nullptr}, decode{nullptr};
  std::vector<std::shared_ptr<layers::SequenceLayer>> blocks_;
  std::vector<std::shared_ptr<torch::nn::Module>> norms_;
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Classifier);

}  // namespace ssm::model
