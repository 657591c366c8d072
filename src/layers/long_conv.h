// The long-convolution layer (Simple Hardware-Efficient Long Convolutions): the kernel is an explicit parameter
// (channels, H, max_length), regularized by Smooth (a moving average of window 2p+1), then Squash (soft threshold
// lambda), then kernel dropout; y = fft_conv(u, k[0], D, k[1] when bidirectional), then the shared output stage.
// The kernel gets the SSM learning rate and no weight decay (ssm_parameters).
//
// conv = "butterfly" computes the same convolution with ssm::butterfly_conv. With learn_butterfly its DFT factors
// become parameters (per channel or shared by all channels), initialized to the exact DFT matrices so that the layer
// starts as the exact convolution; they get optimizer.butterfly_lr and no weight decay. The factors fit the plan of
// max_length, so shorter inputs are zero-padded to max_length (which leaves the convolution of the input unchanged).
#pragma once

#include "layers/output_stage.h"
#include "layers/sequence_layer.h"

#include <string>
#include <vector>

namespace ssm::layers {

struct LongConvOptions {
  int64_t d_model = 128;
  int64_t max_length = 2048;  // kernel length; inputs may be shorter, never longer
  double lambda = 0.002;      // Squash threshold
  int64_t smooth = 0;         // Smooth half-window p (0: off)
  double kernel_dropout = 0.0;
  bool bidirectional = false;
  double dropout = 0.0;
  // Kernel initialization: "randn" (randn * 0.002) or "double_exp" (randn * 0.02 * exp(-(j / L) (H/2)^(i / H)) for
  // channel i and position j: each channel decays at its own rate, slow to fast), the two of the long-conv paper.
  std::string init = "randn";
  std::string conv = "fft";           // fft | butterfly
  bool learn_butterfly = false;       // butterfly only: learned DFT factors
  bool butterfly_per_channel = true;  // one set of factors per channel, or one shared set
};

class LongConvImpl : public SequenceLayer {
 public:
  explicit LongConvImpl(const LongConvOptions& o);
  at::Tensor forward(const at::Tensor& u, const SequenceContext& ctx = {}) override;  // (B, L, H) -> (B, L, H)
  std::string kind() const override { return "longconv"; }
  std::vector<torch::Tensor> ssm_parameters() const override { return {kernel_}; }
  std::vector<torch::Tensor> butterfly_parameters() const override { return factors_; }
  // The regularized kernel used for an input of length L: (channels, H, L).
  torch::Tensor kernel(int64_t L);
  const LongConvOptions& options() const { return o_; }

 private:
  LongConvOptions o_;
  OutputStage output{nullptr};
  torch::Tensor kernel_, D;
  std::vector<torch::Tensor> factors_;  // learned butterfly factors as real (..., r, r, 2) tensors
};
TORCH_MODULE(LongConv);

}  // namespace ssm::layers
