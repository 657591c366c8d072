// The output stage that S4D, S5 and long conv end with (as in the s4 and S5 anchors): GELU, dropout, a linear map
// H -> 2H and a GLU over the last axis: (..., H) -> (..., H).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace ssm::layers {

class OutputStageImpl : public torch::nn::Module {
 public:
  OutputStageImpl(int64_t d_model, double dropout);
  at::Tensor forward(const at::Tensor& y);

 private:
  torch::nn::Linear out{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(OutputStage);

}  // namespace ssm::layers
