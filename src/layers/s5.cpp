#include "layers/s5.h"

#include "layers/hippo.h"
#include "layers/ptd.h"
#include "ssm/ops.h"

#include <torch/nn/functional/activation.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace ssm::layers {

S5Impl::S5Impl(const S5Options& o) : SequenceLayer(checked_width("S5", o.d_model), o.dropout), o_(o) {
  if (o.d_model < 1) throw std::invalid_argument("S5: d_model must be >= 1");
  if (o.blocks < 1 || o.d_state < 1 || o.d_state % o.blocks)
    throw std::invalid_argument("S5: d_state (" + std::to_string(o.d_state) + ") must be a positive multiple of blocks (" +
                                std::to_string(o.blocks) + ")");
  if (o.discretization != "zoh" && o.discretization != "bilinear")
    throw std::invalid_argument("S5: discretization must be zoh or bilinear, got '" + o.discretization + "'");
  if (!(o.dt_min > 0 && o.dt_max >= o.dt_min)) throw std::invalid_argument("S5: need 0 < dt_min <= dt_max");
  torch::NoGradGuard no_grad;
  const int64_t H = o.d_model, P = o.d_state, J = o.blocks, Pb = P / J, channels = o.bidirectional ? 2 : 1;
  torch::Tensor block_lambda, V, Vinv;  // one block: (m), (n, m), (m, n) with n = 2 Pb (HiPPO-N) or Pb (PTD)
  if (o.init == "ptd") {
    PtdOptions po;
    po.n = Pb;
    po.iterations = o.ptd_iterations;
    po.lambda = o.ptd_lambda;
    const PtdResult r = ptd(po, default_cache_dir());
    block_lambda = ptd_state_matrix(r);
    V = r.V;
    Vinv = r.V_inv;
    out_scale_ = 1.0;
  } else if (o.init == "hippo_n") {
    const DiagonalInit blk = s4d_legs(2 * Pb);
    block_lambda = blk.A;
    V = blk.V;
    Vinv = blk.V.conj().transpose(0, 1);  // V is unitary
  } else {
    throw std::invalid_argument("S5: init must be hippo_n or ptd, got '" + o.init + "'");
  }
  const int64_t n = V.size(0);
  const torch::Tensor lambda = block_lambda.repeat({J});  // (P)
  // Block-diagonal V^-1 B0 and C0 V with LeCun-normal B0 (J, n, H) and C0 (channels, H, J, n).
  const torch::Tensor B0 = (torch::randn({J, n, H}, torch::kDouble) / std::sqrt(static_cast<double>(H))).to(torch::kComplexDouble);
  const torch::Tensor C0 = (torch::randn({channels, H, J, n}, torch::kDouble) / std::sqrt(static_cast<double>(J * n))).to(torch::kComplexDouble);
  const torch::Tensor Bt = torch::matmul(Vinv, B0).reshape({P, H});            // (P, H)
  const torch::Tensor Ct = torch::matmul(C0, V).reshape({channels, H, P});     // (channels, H, P)
  Lambda_re = register_parameter("Lambda_re", torch::real(lambda).to(torch::kFloat).contiguous());
  Lambda_im = register_parameter("Lambda_im", torch::imag(lambda).to(torch::kFloat).contiguous());
  log_step = register_parameter(
      "log_step", torch::rand({P}) * (std::log(o.dt_max) - std::log(o.dt_min)) + std::log(o.dt_min));
  B = register_parameter("B", torch::view_as_real(Bt.to(torch::kComplexFloat)).contiguous());
  C = register_parameter("C", torch::view_as_real(Ct.to(torch::kComplexFloat)).contiguous());
  D = register_parameter("D", torch::randn({H}));
}

std::vector<torch::Tensor> S5Impl::ssm_parameters() const { return {Lambda_re, Lambda_im, log_step, B}; }

std::pair<torch::Tensor, torch::Tensor> S5Impl::discretize() const {
  const torch::Tensor lambda = torch::complex(Lambda_re, Lambda_im);  // (P)
  const torch::Tensor dt = torch::exp(log_step);                      // (P)
  const torch::Tensor Bc = torch::view_as_complex(B);                 // (P, H)
  torch::Tensor lbar, scale;
  if (o_.discretization == "zoh") {
    lbar = torch::exp(lambda * dt);
    scale = (lbar - 1) / lambda;
  } else {
    const torch::Tensor den = 1 - dt * lambda / 2;
    lbar = (1 + dt * lambda / 2) / den;
    scale = dt / den;
  }
  return {lbar, scale.unsqueeze(-1) * Bc};
}

torch::Tensor S5Impl::ssm(const torch::Tensor& u) {
  TORCH_CHECK(u.dim() == 3 && u.size(2) == o_.d_model, "S5: input must have shape (B, L, ", o_.d_model, "), got ",
              u.sizes());
  auto [lbar, bbar] = discretize();
  const torch::Tensor Cc = torch::view_as_complex(C);                                  // (channels, H, P)
  const torch::Tensor bu = torch::matmul(u.to(torch::kComplexFloat), bbar.transpose(0, 1)).contiguous();  // (B, L, P)
  const torch::Tensor x = ssm::diag_scan(lbar, bu);                                     // (B, L, P)
  torch::Tensor y = out_scale_ * torch::real(torch::matmul(x, Cc[0].transpose(0, 1)));  // (B, L, H)
  if (o_.bidirectional)
    y = y + out_scale_ * torch::real(torch::matmul(ssm::diag_scan(lbar, bu, true), Cc[1].transpose(0, 1)));
  return y + D * u;
}

torch::Tensor S5Impl::forward(const torch::Tensor& u) { return output_stage(ssm(u)); }

torch::Tensor S5Impl::step_state(int64_t batch) const {
  return torch::zeros({batch, o_.d_state}, torch::TensorOptions().dtype(torch::kComplexFloat).device(B.device()));
}

torch::Tensor S5Impl::step(const torch::Tensor& u_t, torch::Tensor& state) {
  TORCH_CHECK(!o_.bidirectional, "S5: step mode needs a unidirectional layer (bidirectional = false)");
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == o_.d_model, "S5: step input must have shape (B, ", o_.d_model, "), got ",
              u_t.sizes());
  auto [lbar, bbar] = discretize();
  state = lbar * state + torch::matmul(u_t.to(torch::kComplexFloat), bbar.transpose(0, 1));
  const torch::Tensor y =
      out_scale_ * torch::real(torch::matmul(state, torch::view_as_complex(C)[0].transpose(0, 1))) + D * u_t;
  return output_stage(y.unsqueeze(1)).squeeze(1);
}

}  // namespace ssm::layers
