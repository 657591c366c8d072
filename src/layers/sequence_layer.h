// The interface every sequence layer of a model implements (S4D, S5, long conv, Mamba, Chimera):
// forward over a whole sequence with a context (the valid lengths of a padded batch), an optional recurrent step,
// and the parameter groups that get their own learning rates. The GELU/GLU output stage that S4D, S5 and long conv
// end with is a module of its own (layers/output_stage.h) that they compose.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <string>
#include <vector>

namespace ssm::layers {

// What a layer may need to know about its batch besides the values.
struct SequenceContext {
  at::Tensor lengths;  // (B) int64 valid lengths of a right-padded batch; undefined: every position is valid
  // The rows of the batch are groups of `variates` consecutive series of one sample (variate v of sample b is row
  // b * variates + v): a layer that mixes variates (Chimera) sees the grid (B / variates, variates, L, H); the
  // others treat every row as a sequence of its own.
  int64_t variates = 1;
  // (B, L, 1) 1 at valid positions, 0 at padding, in `like`'s dtype and device; undefined without lengths.
  at::Tensor mask(const at::Tensor& like) const;
};

class SequenceLayer : public torch::nn::Module {
 public:
  // u: (B, L, H) -> (B, L, H). Outputs at padded positions are unspecified; outputs at valid positions depend on the
  // valid inputs only when the caller zeroes the padding (the backbone does), since causal and anti-causal
  // convolutions and scans then see zeros there.
  virtual at::Tensor forward(const at::Tensor& u, const SequenceContext& ctx = {}) = 0;

  // Recurrent mode: step_state(B) is the zero state of a batch of B sequences; step(u_t (B, H), state) returns
  // y_t (B, H) and advances the state. Layers without a recurrent form (a non-causal layer, an explicit kernel)
  // throw std::logic_error naming the layer.
  virtual at::Tensor step_state(int64_t batch) const;
  virtual at::Tensor step(const at::Tensor& u_t, at::Tensor& state);

  // The parameters of the state-space part: optimizer.ssm_lr, optimizer.ssm_weight_decay.
  virtual std::vector<at::Tensor> ssm_parameters() const = 0;
  // Learned butterfly factors (optimizer.butterfly_lr, no weight decay); none for most layers.
  virtual std::vector<at::Tensor> butterfly_parameters() const { return {}; }

  // The registry name of the layer ("s4d", "s5", ...), for messages.
  virtual std::string kind() const = 0;
};

// d_model, or std::invalid_argument naming the layer when it is < 1.
int64_t checked_width(const char* layer, int64_t d_model);

}  // namespace ssm::layers
