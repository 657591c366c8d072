// The S5 layer: one multi-input multi-output diagonal SSM over all H channels, computed with ssm::diag_scan.
//
// State: P complex modes (conjugate symmetry: the conjugate modes are implied and y takes 2 Re). Parameters:
// Lambda = Lambda_re + i Lambda_im (P), B (P, H) complex, C (channels, H, P) complex (channels = 2 when
// bidirectional), D (H), one step per state dt = exp(log_step) (P).
//   ZOH:      Lambda_bar = exp(Lambda dt),  B_bar = (Lambda_bar - 1) / Lambda * B
//   bilinear: Lambda_bar = (1 + dt Lambda / 2) / (1 - dt Lambda / 2),  B_bar = dt / (1 - dt Lambda / 2) * B
//   x_k = Lambda_bar x_{k-1} + B_bar u_k;  y_k = 2 Re(C x_k) + D u_k   (+ 2 Re(C_rev x_rev_k) when bidirectional)
// then GELU, dropout, a linear map H -> 2H and a GLU, as the S4D layer.
// Initialization (HiPPO-N, J blocks): each block of P/J modes takes the S4D-LegS eigenvalues and eigenvectors V of
// size 2P/J; B = V^* B0 and C = C0 V with B0, C0 LeCun-normal. S5-PTD: each block of P/J modes takes the PTD
// eigenvalues (A = -Lambda, real part negative) and V of size P/J; B = V^-1 B0, C = C0 V, no conjugate halving.
#pragma once

#include "layers/output_stage.h"
#include "layers/sequence_layer.h"

#include <string>

namespace ssm::layers {

struct S5Options {
  int64_t d_model = 128;  // H
  int64_t d_state = 64;   // P complex modes (a multiple of blocks)
  int64_t blocks = 1;     // J
  std::string init = "hippo_n";  // hippo_n (conjugate-symmetric) | ptd (S5-PTD: all modes of each block, V^-1 a true
                                 // inverse, y = Re(C x))
  int64_t ptd_iterations = 10000;
  double ptd_lambda = 3e-3;
  std::string discretization = "zoh";
  double dt_min = 1e-3, dt_max = 1e-1;
  bool bidirectional = false;
  double dropout = 0.0;
};

class S5Impl : public SequenceLayer {
 public:
  explicit S5Impl(const S5Options& o);
  at::Tensor forward(const at::Tensor& u, const SequenceContext& ctx = {}) override;  // (B, L, H) -> (B, L, H)
  std::vector<at::Tensor> ssm_parameters() const override;
  std::string kind() const override { return "s5"; }

  // Recurrent mode (unidirectional): state (B, P) complex.
  at::Tensor step_state(int64_t batch) const override;
  at::Tensor step(const at::Tensor& u_t, at::Tensor& state) override;

  // Discretized (Lambda_bar (P), B_bar (P, H)), complex64.
  std::pair<torch::Tensor, torch::Tensor> discretize() const;
  // The SSM part alone, before GELU / linear / GLU: (B, L, H) -> (B, L, H).
  torch::Tensor ssm(const torch::Tensor& u);
  const S5Options& options() const { return o_; }

 private:
  S5Options o_;
  OutputStage output{nullptr};
  double out_scale_ = 2.0;  // 2 Re(C x) with conjugate symmetry, Re(C x) for PTD
  torch::Tensor Lambda_re, Lambda_im, log_step, B, C, D;  // B, C stored as real (..., 2)
};
TORCH_MODULE(S5);

}  // namespace ssm::layers
