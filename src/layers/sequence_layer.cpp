#include "layers/sequence_layer.h"

#include <torch/nn/functional/activation.h>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace ssm::layers {

SequenceLayer::SequenceLayer(int64_t d_model, double dropout) {
  out = register_module("out", torch::nn::Linear(d_model, 2 * d_model));
  drop = register_module("drop", torch::nn::Dropout(dropout));
}

int64_t SequenceLayer::checked_width(const char* layer, int64_t d_model) {
  if (d_model < 1) throw std::invalid_argument(std::string(layer) + ": d_model must be >= 1, got " + std::to_string(d_model));
  return d_model;
}

torch::Tensor SequenceLayer::output_stage(const torch::Tensor& y) {
  return torch::nn::functional::glu(out(drop(torch::gelu(y))), -1);
}

}  // namespace ssm::layers
