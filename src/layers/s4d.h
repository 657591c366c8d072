// The S4D layer (diagonal state-space convolution), built on ssm::vandermonde and ssm::fft_conv.
//
// Per channel h: A[h,n] = -exp(A_log_re[h,n]) + i A_im[h,n] (n < N/2, conjugate pairs implied), dt[h] = exp(log_dt[h]),
// complex C[c,h,n] (c = 2 output channels when bidirectional), real D[h]. With dtA = dt A:
//   ZOH:      K[c,h,l] = 2 Re sum_n C (exp(dtA) - 1) / A * exp(dtA l)
//   bilinear: K[c,h,l] = 2 Re sum_n C dt / (1 - dtA/2) * ((1 + dtA/2) / (1 - dtA/2))^l
// y = fft_conv(u, K[0], D, K[1] if bidirectional), then GELU, dropout, a linear map H -> 2H and a GLU.
// step() runs the same layer as a recurrence (unidirectional only) and matches the convolution to float tolerance.
#pragma once

#include "layers/output_stage.h"
#include "layers/sequence_layer.h"

#include <string>

namespace ssm::layers {

struct S4DOptions {
  int64_t d_model = 128;        // H channels
  int64_t d_state = 64;         // N: state size; N/2 complex modes are stored (conjugate symmetry)
  std::string init = "lin";     // lin | inv | real | legs | ptd (S4-PTD: all N eigenvalues, no conjugate halving)
  int64_t ptd_iterations = 10000;  // ptd: optimization steps of the perturbation (cached, see layers/ptd.h)
  double ptd_lambda = 3e-3;
  std::string discretization = "zoh";  // zoh | bilinear
  double dt_min = 1e-3, dt_max = 1e-1;
  bool bidirectional = false;
  double dropout = 0.0;
};

class S4DImpl : public SequenceLayer {
 public:
  explicit S4DImpl(const S4DOptions& o);

  // u: (B, L, H) -> (B, L, H).
  at::Tensor forward(const at::Tensor& u, const SequenceContext& ctx = {}) override;
  // The convolution kernel, (channels, H, L) with channels = 2 when bidirectional.
  torch::Tensor kernel(int64_t L);

  // Recurrent mode. step_state(B) gives a zero state; step(u_t (B, H), state) returns y_t (B, H) and advances state.
  at::Tensor step_state(int64_t batch) const override;
  at::Tensor step(const at::Tensor& u_t, at::Tensor& state) override;

  // The parameters of the state-space part (dt, A), which get their own learning rate and no weight decay.
  std::vector<at::Tensor> ssm_parameters() const override;
  std::string kind() const override { return "s4d"; }

  const S4DOptions& options() const { return o_; }

 private:
  // Discretized (x = log dA, v = C dB) for every output channel: complex (channels * H, N/2) each.
  std::pair<torch::Tensor, torch::Tensor> discretize();

  S4DOptions o_;
  OutputStage output{nullptr};
  double mode_scale_ = 1.0;  // 0.5 when all N modes are stored (ptd): the kernel is Re, not 2 Re, of the sum
  torch::Tensor log_dt, A_log_re, A_im, C, D;  // C stored as real (channels, H, N/2, 2)
};
TORCH_MODULE(S4D);

}  // namespace ssm::layers
