#include "layers/sequence_layer.h"

#include <ATen/ops/arange.h>

#include <stdexcept>
#include <string>

namespace ssm::layers {

at::Tensor SequenceContext::mask(const at::Tensor& like) const {
  if (!lengths.defined()) return {};
  const int64_t L = like.size(1);
  const at::Tensor valid = at::arange(L, lengths.options()).unsqueeze(0) < lengths.to(like.device()).unsqueeze(1);
  return valid.to(like.scalar_type()).unsqueeze(-1);  // (B, L, 1)
}

at::Tensor SequenceLayer::step_state(int64_t) const {
  throw std::logic_error(kind() + ": this layer has no recurrent mode");
}

at::Tensor SequenceLayer::step(const at::Tensor&, at::Tensor&) {
  throw std::logic_error(kind() + ": this layer has no recurrent mode");
}

int64_t checked_width(const char* layer, int64_t d_model) {
  if (d_model < 1) throw std::invalid_argument(std::string(layer) + ": d_model must be >= 1, got " + std::to_string(d_model));
  return d_model;
}

}  // namespace ssm::layers
