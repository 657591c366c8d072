#include "layers/output_stage.h"

#include <torch/nn/functional/activation.h>
#include <torch/torch.h>

namespace ssm::layers {

OutputStageImpl::OutputStageImpl(int64_t d_model, double dropout) {
  out = register_module("out", torch::nn::Linear(d_model, 2 * d_model));
  drop = register_module("drop", torch::nn::Dropout(dropout));
}

at::Tensor OutputStageImpl::forward(const at::Tensor& y) {
  return torch::nn::functional::glu(out(drop(torch::gelu(y))), -1);
}

}  // namespace ssm::layers
