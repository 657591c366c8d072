// The interface every sequence layer of a model implements (S4D, S5, ...): (B, L, H) -> (B, L, H), and the
// parameters that get the SSM learning rate and no weight decay.
#pragma once

#include <torch/nn/module.h>

#include <vector>

namespace ssm::layers {

class SequenceLayer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& u) = 0;
  virtual std::vector<torch::Tensor> ssm_parameters() const = 0;
};

}  // namespace ssm::layers
