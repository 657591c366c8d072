#include "layers/s5.h"

#include "layers/hippo.h"
#include "layers/ptd.h"
#include "ssm/ops.h"

#include <torch/nn/functional/activation.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace ssm::layers {

S5Impl::S5Impl(const S5Options& o) : o_(o) {
  output = register_module("output", OutputStage(checked_width("S5", o.d_model), o.dropout));
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

at::Tensor S5Impl::forward(const at::Tensor& u, const SequenceContext&) { return output(ssm(u)); }

at::Tensor S5Impl::step_state(int64_t batch) const {
  return torch::zeros({batch, o_.d_state}, torch::TensorOptions().dtype(torch::kComplexFloat).device(B.device()));
}

at::Tensor S5Impl::step(const at::Tensor& u_t, at::Tensor& state) {
  TORCH_CHECK(!o_.bidirectional, "S5: step mode needs a unidirectional layer (bidirectional = false)");
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == o_.d_model, "S5: step input must have shape (B, ", o_.d_model, "), got ",
              u_t.sizes());
  auto [lbar, bbar] = discretize();
  state = lbar * state + torch::matmul(u_t.to(torch::kComplexFloat), bbar.transpose(0, 1));
  const torch::Tensor y =
      out_scale_ * torch::real(torch::matmul(state, torch::view_as_complex(C)[0].transpose(0, 1))) + D * u_t;
  return output(y.unsqueeze(1)).squeeze(1);
}

}  // namespace ssm::layers

#include "layers/registry.h"

namespace ssm::layers {

LayerSpec s5_spec() {
  using config::Type;
  constexpr double inf = 1e300;
  LayerSpec s;
  s.name = "s5";
  s.doc = "S5: one multi-input multi-output diagonal SSM over all channels (ssm::diag_scan)";
  s.keys = {
      {"model.s5.blocks", Type::kInt, "1", "S5: J blocks of the HiPPO-N initialization (d_state / J modes each)", 1,
       4096},
      {"model.s5.init", Type::kEnum, "hippo_n", "S5: HiPPO-N blocks (conjugate-symmetric) or S5-PTD blocks", -inf,
       inf, false, {"hippo_n", "ptd"}},
      {"model.s5.discretization", Type::kEnum, "zoh", "S5: zero-order hold or bilinear", -inf, inf, false,
       {"zoh", "bilinear"}},
      {"model.s5.dt_min", Type::kFloat, "0.001", "S5: smallest initial step dt (one per state)", 0, 10, true},
      {"model.s5.dt_max", Type::kFloat, "0.1", "S5: largest initial step dt", 0, 10, true},
  };
  s.check = [](const config::Config& c, const LayerCommon& m) {
    const int64_t blocks = c.get_int("model.s5.blocks");
    if (m.d_state % blocks)
      c.fail("model.d_state", "must be a multiple of model.s5.blocks (" + std::to_string(blocks) + "), got " +
                                  std::to_string(m.d_state));
    if (c.get_float("model.s5.dt_min") > c.get_float("model.s5.dt_max"))
      c.fail("model.s5.dt_min", "must be <= model.s5.dt_max");
  };
  s.make = [](const config::Config& c, const LayerCommon& m) -> std::shared_ptr<SequenceLayer> {
    S5Options o;
    apply_state_common(m, o);
    o.blocks = c.get_int("model.s5.blocks");
    o.init = c.get_string("model.s5.init");
    o.discretization = c.get_string("model.s5.discretization");
    o.dt_min = c.get_float("model.s5.dt_min");
    o.dt_max = c.get_float("model.s5.dt_max");
    return std::make_shared<S5Impl>(o);
  };
  return s;
}

}  // namespace ssm::layers
