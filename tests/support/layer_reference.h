// Shared by the layer tests that write a block's recurrence out in float64 (Mamba, Chimera): the reference
// activations and a parameter randomizer (never the initial zeros or ones, so that every path is exercised).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>

namespace ssm::test {

inline torch::Tensor ref_softplus(const torch::Tensor& x) { return torch::log1p(torch::exp(x)); }
inline torch::Tensor ref_silu(const torch::Tensor& x) { return x / (1 + torch::exp(-x)); }
inline torch::Tensor d64(const torch::Tensor& t) { return t.to(torch::kDouble); }

// Sets every parameter of m to N(0, scale^2) draws, except those `special` handles (it returns true for them).
inline void randomize(torch::nn::Module& m, double scale = 0.4,
                      const std::function<bool(const std::string&, torch::Tensor&)>& special = {}) {
  torch::NoGradGuard g;
  for (auto& p : m.named_parameters()) {
    if (special && special(p.key(), p.value())) continue;
    p.value().copy_(torch::randn_like(p.value()) * scale);
  }
}

}  // namespace ssm::test
