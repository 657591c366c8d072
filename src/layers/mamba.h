// The Mamba block (Gu & Dao 2023): the selective-SSM mixer of a Mamba residual block, over (B, L, H).
//
//   [x, z] = in_proj(u)                       H -> 2 E H (expand E), x and the gate z of width D = E H
//   x = silu(causal depthwise conv1d(x))      width d_conv per channel, with bias
//   [dt_r, B, C] = x_proj(x)                  D -> R + 2 N (R = dt_rank), B and C: (N) per position
//   delta = dt_proj(dt_r)                     R -> D, its bias applied inside the scan: dt = softplus(delta + bias)
//   y = selective_scan(x, delta, A, B, C, D_skip, z, bias, softplus)   A = -exp(A_log) (D, N)
//   out = out_proj(y)                         D -> H
// The residual sum and the norm (RMSNorm in Mamba: model.norm = rms) are the backbone's.
// Initialization as in Mamba: A_log = log(n + 1) (S4D-Real), D_skip = 1, dt_proj's bias = softplus^-1(dt) with dt
// log-uniform in [dt_min, dt_max] (floored at dt_init_floor), dt_proj's weight uniform in +-R^-1/2 * dt_scale.
// Bidirectional: a second conv / x_proj / dt_proj / A_log / D_skip scans each sequence reversed within its valid
// length (Vision Mamba's layout); the two gated outputs are summed before out_proj.
// Recurrent mode (unidirectional): the state packs the conv window (D, d_conv - 1) and the SSM state (D, N).
#pragma once

#include "layers/sequence_layer.h"

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace ssm::layers {

struct MambaOptions {
  int64_t d_model = 128;  // H
  int64_t d_state = 16;   // N per channel
  int64_t expand = 2;     // E
  int64_t d_conv = 4;
  int64_t dt_rank = 0;    // R; 0: ceil(H / 16)
  double dt_min = 1e-3, dt_max = 1e-1, dt_init_floor = 1e-4, dt_scale = 1.0;
  bool conv_bias = true, bias = false;  // biases of the conv and of in_proj / out_proj
  bool bidirectional = false;
  double dropout = 0.0;  // unused inside the block (the backbone's dropout follows it)
};

// One scan direction's own parameters.
struct MambaDirectionImpl : torch::nn::Module {
  MambaDirectionImpl(const MambaOptions& o, int64_t inner, int64_t rank);
  torch::nn::Conv1d conv{nullptr};
  torch::nn::Linear x_proj{nullptr}, dt_proj{nullptr};
  torch::Tensor A_log, D;  // (inner, N), (inner)
};
TORCH_MODULE(MambaDirection);

class MambaImpl : public SequenceLayer {
 public:
  explicit MambaImpl(const MambaOptions& o);
  at::Tensor forward(const at::Tensor& u, const SequenceContext& ctx = {}) override;  // (B, L, H) -> (B, L, H)
  std::vector<at::Tensor> ssm_parameters() const override;  // A_log and dt_proj's bias of each direction
  std::string kind() const override { return "mamba"; }

  // Recurrent mode: state (B, inner, d_conv - 1 + N) float, the conv window then the SSM state.
  at::Tensor step_state(int64_t batch) const override;
  at::Tensor step(const at::Tensor& u_t, at::Tensor& state) override;

  const MambaOptions& options() const { return o_; }
  int64_t inner() const { return inner_; }
  int64_t dt_rank() const { return rank_; }
  const MambaDirection& direction(int i) const { return dirs_.at(i); }

 private:
  // x (B, inner, L) after in_proj, z (B, inner, L): the gated scan output (B, inner, L) of one direction. Causal, so
  // the padding of a right-padded batch (zeroed by the backbone) cannot reach valid positions.
  at::Tensor scan(MambaDirection& d, const at::Tensor& x, const at::Tensor& z);
  MambaOptions o_;
  int64_t inner_, rank_;
  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};
  std::vector<MambaDirection> dirs_;
};
TORCH_MODULE(Mamba);

// Reverses each sequence of (B, L, ...) along dim 1 within its valid length (lengths (B) int64; undefined: all L);
// the padding stays in place. Its own inverse.
at::Tensor reverse_valid(const at::Tensor& x, const at::Tensor& lengths);

// The initial bias of a dt projection (Mamba's, also Chimera's): softplus^-1(dt) with dt log-uniform in
// [dt_min, dt_max], floored at `floor`; n values, float32.
at::Tensor dt_bias_init(int64_t n, double dt_min, double dt_max, double floor);

}  // namespace ssm::layers
