// The Chimera block (Behrouz et al. 2024, in this project's definition: README "selective_scan_2d"): a Mamba-style
// block whose mixer is a pair of input-dependent 2-D SSM heads over the variates v and the time t of a multivariate
// series, on ssm::selective_scan_2d.
//
// Input: (B V, L, H) rows, V consecutive rows per sample (SequenceContext::variates; the model encodes each variate's
// series into H channels per (v, t)), seen as the grid (B, V, L, H).
//   [x, z] = in_proj(u)                         H -> 2 E H, inner width D = E H
//   x = silu(causal depthwise conv over time)   width d_conv (0: no conv, silu only)
//   per head k (trend: lag 1, dt1 in [trend_dt_min, trend_dt_max]; season: lag season_lag, dt1 in
//   [season_dt_min, season_dt_max]):
//     [r1, r2, B1, B2, C1, C2] = x_proj_k(x)    D -> 2 R + 4 N
//     dt1 = softplus(dt1_proj_k(r1)), dt2 = softplus(dt2_proj_k(r2))   R -> D, dt2's bias in [variate_dt_min, max]
//     y_k = selective_scan_2d(x, dt1, dt2, A1..A4, B1, B2, C1, C2, lag_k), the variate recurrence run from v = 0 up
//           and from v = V - 1 down and averaged (variates have no order)
//   y = (sum_k y_k + D_skip x) * silu(z);  out = out_proj(y)     D -> H
// With variates = false each variate is a grid of its own (V = 1) with B2 = C2 = 0: h2 vanishes and each head is
// Mamba's selective scan over time (lag 1) or its lag-s version, on each variate separately.
// Initialization: A1 = A4 = -(n + 1) (S4D-Real); the cross couplings A2 (h2 -> h1 over time) and A3 (h1 -> h2 over
// variates) = -(n + 1) kappa_k with kappa_k = ln(1 / dt1_min) / (dt1_min + dt2_min) of head k (or model.chimera.coupling
// when set): the smallest rate at which a2 a3 < 1 - a1 for every initial dt, so that a signal passed through the
// variate chain is not amplified by up to (L choose V) (with kappa = 1 the response at V = 7, L = 96 is ~10^6 times
// the 1-D one). dt biases as in Mamba (softplus^-1 of a log-uniform dt); D_skip = 1.
#pragma once

#include "layers/sequence_layer.h"

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

namespace ssm::layers {

struct ChimeraOptions {
  int64_t d_model = 128;  // H
  int64_t d_state = 16;   // N
  int64_t expand = 2;     // E
  int64_t d_conv = 4;     // 0: no convolution
  int64_t dt_rank = 0;    // R; 0: ceil(H / 16)
  std::string heads = "both";  // both | trend | season
  double trend_dt_min = 1e-3, trend_dt_max = 1e-2;
  int64_t season_lag = 1;
  double season_dt_min = 1e-2, season_dt_max = 1e-1;
  double variate_dt_min = 1e-3, variate_dt_max = 1e-1;
  double coupling = 0;  // kappa of the cross couplings A2, A3; 0: per head, ln(1 / dt1_min) / (dt1_min + dt2_min)
  bool variates = true;  // the variate direction (else each variate alone, h2 = 0)
  double dropout = 0.0;  // unused inside the block (the backbone's dropout follows it)
};

// One 2-D SSM head: its projections and its four state matrices.
struct ChimeraHeadImpl : torch::nn::Module {
  ChimeraHeadImpl(const ChimeraOptions& o, int64_t inner, int64_t rank, int64_t lag, double dt_min, double dt_max);
  int64_t lag;
  torch::nn::Linear x_proj{nullptr}, dt1_proj{nullptr}, dt2_proj{nullptr};
  torch::Tensor A_log;  // (4, inner, N): A_i = -exp(A_log[i - 1])
};
TORCH_MODULE(ChimeraHead);

class ChimeraImpl : public SequenceLayer {
 public:
  explicit ChimeraImpl(const ChimeraOptions& o);
  // u: (B V, L, H) with ctx.variates = V -> (B V, L, H).
  at::Tensor forward(const at::Tensor& u, const SequenceContext& ctx = {}) override;
  std::vector<at::Tensor> ssm_parameters() const override;  // A_log and the dt biases of each head, D_skip
  std::string kind() const override { return "chimera"; }

  const ChimeraOptions& options() const { return o_; }
  int64_t inner() const { return inner_; }
  int64_t dt_rank() const { return rank_; }
  // The parts, for tests that rebuild the block from them.
  std::vector<ChimeraHead>& heads() { return heads_; }
  torch::nn::Linear& input_projection() { return in_proj; }
  torch::nn::Conv1d& convolution() { return conv; }  // null when d_conv = 0
  torch::nn::Linear& output_projection() { return out_proj; }
  const at::Tensor& skip() const { return D; }

 private:
  ChimeraOptions o_;
  int64_t inner_, rank_;
  torch::nn::Linear in_proj{nullptr}, out_proj{nullptr};
  torch::nn::Conv1d conv{nullptr};
  std::vector<ChimeraHead> heads_;
  at::Tensor D;
};
TORCH_MODULE(Chimera);

}  // namespace ssm::layers
