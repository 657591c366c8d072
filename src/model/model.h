// A sequence model = input encoder + backbone + head.
//   encoder:  embedding (token inputs) or linear (real-valued inputs of d_input features) to the width H
//   backbone: n residual blocks around a sequence layer from the layer registry (layers/registry.h):
//             prenorm  x + dropout(layer(mask * norm(x)))      postnorm  norm(x + dropout(layer(mask * x)))
//             norm: LayerNorm, BatchNorm or RMSNorm (Mamba's)
//             mask zeroes the padding of a right-padded batch, so that no causal or anti-causal layer mixes it
//             into valid positions (BatchNorm's training statistics still see the padding: use layer norm for
//             unequal lengths)
//   variates: a layer that mixes variates (Chimera, LayerSpec::grid) gets each variate's series encoded on its own
//             (a linear map 1 -> H per (v, t)) as V consecutive rows per sample (SequenceContext::variates); the
//             classification head then pools over time and over the variates. Optional variate embedding: a
//             learned vector per variate added to its encoding (also for channel-independent forecasting)
//   heads:    classify   pooling (mean over valid positions, or the last valid one) -> linear -> classes
//             retrieval  both inputs through the same encoder and backbone, pooled to a, b;
//                        [a, b, a * b, a - b] -> linear 4H -> H -> GELU -> linear -> classes
//             forecast   (B', L, H) -> linear over time L -> T -> linear H -> outputs; channel-independent:
//                        B' = B V sequences of one variate each (shared weights), one output each; channel-mixing:
//                        B' = B, the V variates are the encoder's features and the head outputs every variate.
//                        Optional RevIN: each window's look-back mean and std per variate, removed before the
//                        encoder and restored on the output, with a learned affine map per variate.
#pragma once

#include "layers/sequence_layer.h"
#include "model/shape.h"
#include "tasks/task.h"

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ssm::model {

struct ModelOptions {
  ModelShape shape;
  int64_t d_model = 128;
  int64_t n_layers = 4;
  bool prenorm = true;
  std::string norm = "layer";    // layer | batch | rms
  std::string pooling = "mean";  // mean | last (classify, retrieval)
  double dropout = 0.0;
  // The layer mixes variates (LayerSpec::grid): real multivariate inputs are encoded per variate (see above).
  bool variate_grid = false;
  // A learned (V, H) table added to the encoding of variate v where variates are encoded one by one (the grid path
  // above and channel-independent forecasting): the shared weights can then tell the variates apart.
  bool variate_embedding = false;
  // Makes the sequence layer of one block (called n_layers times).
  std::function<std::shared_ptr<layers::SequenceLayer>()> make_layer;
};

// RMSNorm over the last dimension (Zhang & Sennrich 2019; Mamba's norm): x / sqrt(mean(x^2) + eps) * weight.
class RMSNormImpl : public torch::nn::Module {
 public:
  explicit RMSNormImpl(int64_t dim, double eps = 1e-5);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

class BackboneImpl : public torch::nn::Module {
 public:
  BackboneImpl(const ModelOptions& o);
  at::Tensor forward(const at::Tensor& h, const layers::SequenceContext& ctx = {});  // (B, L, H) -> (B, L, H)
  const std::vector<std::shared_ptr<layers::SequenceLayer>>& layers() const { return blocks_; }

 private:
  at::Tensor normalize(size_t i, const at::Tensor& x);
  bool prenorm_;
  std::string norm_;
  std::vector<std::shared_ptr<layers::SequenceLayer>> blocks_;
  std::vector<std::shared_ptr<torch::nn::Module>> norms_;
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(Backbone);

// (B, L, H) with lengths -> (B, H): the mean over valid positions or the last valid position.
at::Tensor pool(const at::Tensor& h, const at::Tensor& lengths, const std::string& pooling);

class SequenceModelImpl : public torch::nn::Module {
 public:
  explicit SequenceModelImpl(const ModelOptions& o);
  // The task's output for a batch: logits (B, classes) or forecasts (B, T, V_out).
  at::Tensor forward(const tasks::Batch& b);
  // Encoder and backbone only: (B, L) tokens or (B, L, d_input) values -> (B, L, H). variates: the rows are groups
  // of that many series of one sample (SequenceContext::variates).
  at::Tensor features(const at::Tensor& x, const at::Tensor& lengths = {}, int64_t variates = 1);
  std::vector<at::Tensor> ssm_parameters() const;
  std::vector<at::Tensor> butterfly_parameters() const;
  const ModelOptions& options() const { return o_; }

 private:
  at::Tensor forecast(const at::Tensor& x);
  // Classification of real multivariate inputs with a variate-mixing layer: (B, L, V) -> pooled (B, H).
  at::Tensor pooled_grid(const at::Tensor& x, const at::Tensor& lengths);
  ModelOptions o_;
  bool grid_ = false;  // classify / retrieval inputs encoded per variate
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear encode{nullptr};
  Backbone backbone_{nullptr};
  torch::nn::Linear decode{nullptr};                   // classify: H -> classes
  torch::nn::Linear hidden{nullptr}, classify{nullptr};  // retrieval: 4H -> H -> classes
  torch::nn::Linear over_time{nullptr}, to_variates{nullptr};  // forecast: L -> T, H -> outputs
  at::Tensor revin_weight, revin_bias;                 // forecast with RevIN: (V)
  at::Tensor variate_embed;                            // optional: (V, H), see ModelOptions::variate_embedding
};
TORCH_MODULE(SequenceModel);

}  // namespace ssm::model
