// The interface every sequence layer of a model implements (S4D, S5, ...): (B, L, H) -> (B, L, H), and the
// parameters that get the SSM learning rate and no weight decay. The shared output stage lives here too: after the
// state-space part, GELU, dropout, a linear map H -> 2H and a GLU.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>

#include <vector>

namespace ssm::layers {

class SequenceLayer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& u) = 0;
  virtual std::vector<torch::Tensor> ssm_parameters() const = 0;
  // Learned butterfly factors (optimizer.butterfly_lr, no weight decay); none for most layers.
  virtual std::vector<torch::Tensor> butterfly_parameters() const { return {}; }

 protected:
  SequenceLayer(int64_t d_model, double dropout);
  // d_model, or std::invalid_argument naming the layer when it is < 1 (checked before the base is built).
  static int64_t checked_width(const char* layer, int64_t d_model);
  // GELU, dropout, linear H -> 2H, GLU over the last axis.
  torch::Tensor output_stage(const torch::Tensor& y);

 private:
  torch::nn::Linear out{nullptr};
  torch::nn::Dropout drop{nullptr};
};

}  // namespace ssm::layers
