#include "layers/s4d.h"

#include "layers/hippo.h"
#include "layers/ptd.h"
#include "ssm/ops.h"

#include <torch/nn/functional/activation.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace ssm::layers {

S4DImpl::S4DImpl(const S4DOptions& o) : o_(o) {
  output = register_module("output", OutputStage(checked_width("S4D", o.d_model), o.dropout));
  if (o.d_state < 2 || o.d_state % 2)
    throw std::invalid_argument("S4D: d_state must be an even number >= 2, got " + std::to_string(o.d_state));
  if (!(o.dt_min > 0 && o.dt_max >= o.dt_min))
    throw std::invalid_argument("S4D: need 0 < dt_min <= dt_max");
  if (o.discretization != "zoh" && o.discretization != "bilinear")
    throw std::invalid_argument("S4D: discretization must be zoh or bilinear, got '" + o.discretization + "'");
  const int64_t H = o.d_model, N2 = o.init == "ptd" ? o.d_state : o.d_state / 2, channels = o.bidirectional ? 2 : 1;
  torch::NoGradGuard no_grad;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat);
  log_dt = register_parameter(
      "log_dt", torch::rand({H}, f32) * (std::log(o.dt_max) - std::log(o.dt_min)) + std::log(o.dt_min));
  const torch::Tensor n = torch::arange(N2, f32).unsqueeze(0).expand({H, N2});  // (H, N/2)
  torch::Tensor re = torch::full({H, N2}, 0.5, f32), im;
  DiagonalInit diag;  // legs, legt, fout
  torch::Tensor ptd_b, ptd_v;
  if (o.init == "lin") {
    im = M_PI * n;
  } else if (o.init == "inv") {
    im = (o.d_state / M_PI) * (o.d_state / (2 * n + 1) - 1);
  } else if (o.init == "real") {
    re = n + 1;
    im = torch::zeros({H, N2}, f32);
  } else if (o.init == "ptd") {
    // S4-PTD: A = -(eigenvalues of A_H + E), real part forced negative; B = V^-1 B_H folded into C = (C0 V) * B.
    PtdOptions po;
    po.n = o.d_state;
    po.iterations = o.ptd_iterations;
    po.lambda = o.ptd_lambda;
    const PtdResult r = ptd(po, default_cache_dir());
    const torch::Tensor A = ptd_state_matrix(r);
    re = (-torch::real(A)).to(torch::kFloat).unsqueeze(0).expand({H, N2});
    im = torch::imag(A).to(torch::kFloat).unsqueeze(0).expand({H, N2});
    ptd_b = torch::matmul(r.V_inv, hippo_legs(o.d_state).second.to(torch::kComplexDouble));  // (N)
    ptd_v = r.V;
    mode_scale_ = 0.5;
  } else if (o.init == "legs" || o.init == "legt" || o.init == "fout") {
    // The normal part of the HiPPO matrix, diagonalized: LegS A = -1/2 + i w; LegT and FouT have no real part, which
    // is clamped to -1e-4 as s4 does.
    diag = s4d_diagonal(o.init, o.d_state);
    re = torch::clamp_min(-torch::real(diag.A), 1e-4).to(torch::kFloat).unsqueeze(0).expand({H, N2}).contiguous();
    im = torch::imag(diag.A).to(torch::kFloat).unsqueeze(0).expand({H, N2});
  } else {
    throw std::invalid_argument("S4D: init must be lin, inv, real, legs, legt, fout or ptd, got '" + o.init + "'");
  }
  A_log_re = register_parameter("A_log_re", torch::log(re).contiguous());  // -Re A = exp(A_log_re)
  A_im = register_parameter("A_im", im.contiguous());
  // C ~ complex normal with variance 1 (1/2 per part). The diagonalized HiPPO inits fold their B = V^* B_HiPPO
  // (imaginary part clipped to [-2, 2], as s4 does) into C, since this layer keeps B = 1.
  torch::Tensor c0 = torch::randn({channels, H, N2, 2}, f32) * std::sqrt(0.5);
  if (o.init == "legs" || o.init == "legt" || o.init == "fout") {
    const torch::Tensor b = torch::complex(torch::real(diag.B), torch::clamp(torch::imag(diag.B), -2, 2));
    c0 = torch::view_as_real(torch::view_as_complex(c0) * b.to(torch::kComplexFloat)).contiguous();
  } else if (o.init == "ptd") {
    const torch::Tensor cv = torch::matmul(torch::view_as_complex(c0).to(torch::kComplexDouble), ptd_v) * ptd_b;
    c0 = torch::view_as_real(cv.to(torch::kComplexFloat)).contiguous();
  }
  C = register_parameter("C", c0);
  D = register_parameter("D", torch::randn({H}, f32));
}

std::vector<torch::Tensor> S4DImpl::ssm_parameters() const { return {log_dt, A_log_re, A_im}; }

std::pair<torch::Tensor, torch::Tensor> S4DImpl::discretize() {
  const int64_t H = o_.d_model, N2 = A_im.size(1);
  const torch::Tensor A = torch::complex(-torch::exp(A_log_re), A_im);  // (H, N/2)
  const torch::Tensor dt = torch::exp(log_dt).unsqueeze(-1);             // (H, 1)
  const torch::Tensor dtA = A * dt;                                        // (H, N/2)
  torch::Tensor x, dB;
  if (o_.discretization == "zoh") {
    x = dtA;
    dB = (torch::exp(dtA) - 1) / A;
  } else {
    const torch::Tensor den = 1 - dtA / 2;
    x = torch::log((1 + dtA / 2) / den);
    dB = dt / den;
  }
  const torch::Tensor Cc = torch::view_as_complex(C);  // (channels, H, N/2)
  const int64_t channels = Cc.size(0);
  const torch::Tensor v = (Cc * dB * mode_scale_).reshape({channels * H, N2});
  return {x.repeat({channels, 1}), v};
}

torch::Tensor S4DImpl::kernel(int64_t L) {
  auto [x, v] = discretize();
  const int64_t channels = o_.bidirectional ? 2 : 1;
  return ssm::vandermonde(v.contiguous(), x.contiguous(), L).view({channels, o_.d_model, L});
}

at::Tensor S4DImpl::forward(const at::Tensor& u, const SequenceContext&) {
  TORCH_CHECK(u.dim() == 3 && u.size(2) == o_.d_model, "S4D: input must have shape (B, L, ", o_.d_model, "), got ",
              u.sizes());
  const int64_t L = u.size(1);
  const torch::Tensor k = kernel(L).to(u.scalar_type());  // (channels, H, L)
  const torch::Tensor D_ = D.to(u.scalar_type());
  const std::optional<torch::Tensor> k_rev =
      o_.bidirectional ? std::optional<torch::Tensor>(k[1]) : std::nullopt;
  const torch::Tensor y = ssm::fft_conv(u.transpose(1, 2), k[0], D_, k_rev);  // (B, H, L)
  return output(y.transpose(1, 2));
}

at::Tensor S4DImpl::step_state(int64_t batch) const {
  return torch::zeros({batch, o_.d_model, A_im.size(1)},
                      torch::TensorOptions().dtype(torch::kComplexFloat).device(log_dt.device()));
}

at::Tensor S4DImpl::step(const at::Tensor& u_t, at::Tensor& state) {
  TORCH_CHECK(!o_.bidirectional, "S4D: step mode needs a unidirectional layer (bidirectional = false)");
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == o_.d_model, "S4D: step input must have shape (B, ", o_.d_model,
              "), got ", u_t.sizes());
  auto [x, v] = discretize();  // x = log dA, v = C dB: (H, N/2)
  // state_k = dA state_{k-1} + u_k (dB folded into v);  y_k = 2 Re sum_n v state_k + D u_k
  state = torch::exp(x) * state + u_t.unsqueeze(-1).to(state.scalar_type());
  const torch::Tensor y = 2 * torch::real((v * state).sum(-1)) + D * u_t;  // (B, H)
  return output(y.unsqueeze(1)).squeeze(1);
}

}  // namespace ssm::layers

#include "layers/registry.h"

namespace ssm::layers {

LayerSpec s4d_spec() {
  using config::Type;
  constexpr double inf = 1e300;
  LayerSpec s;
  s.name = "s4d";
  s.doc = "S4D: a diagonal state-space convolution (its kernel by ssm::vandermonde, applied by ssm::fft_conv)";
  s.keys = {
      {"model.s4d.init", Type::kEnum, "lin",
       "initialization of A: S4D-Lin, S4D-Inv, S4D-Real, the diagonalized HiPPO-LegS, -LegT or -FouT (How to Train "
       "Your HiPPO), or S4-PTD (all N eigenvalues of the PTD matrix)",
       -inf, inf, false, {"lin", "inv", "real", "legs", "legt", "fout", "ptd"}},
      {"model.s4d.discretization", Type::kEnum, "zoh", "zero-order hold or bilinear", -inf, inf, false,
       {"zoh", "bilinear"}},
      {"model.s4d.dt_min", Type::kFloat, "0.001", "smallest initial step dt", 0, 10, true},
      {"model.s4d.dt_max", Type::kFloat, "0.1", "largest initial step dt", 0, 10, true},
  };
  s.check = [](const config::Config& c, const LayerCommon& m) {
    if (m.d_state % 2) c.fail("model.d_state", "S4D needs an even state size, got " + std::to_string(m.d_state));
    if (c.get_float("model.s4d.dt_min") > c.get_float("model.s4d.dt_max"))
      c.fail("model.s4d.dt_min", "must be <= model.s4d.dt_max");
  };
  s.make = [](const config::Config& c, const LayerCommon& m) -> std::shared_ptr<SequenceLayer> {
    S4DOptions o;
    apply_state_common(m, o);
    o.init = c.get_string("model.s4d.init");
    o.discretization = c.get_string("model.s4d.discretization");
    o.dt_min = c.get_float("model.s4d.dt_min");
    o.dt_max = c.get_float("model.s4d.dt_max");
    return std::make_shared<S4DImpl>(o);
  };
  return s;
}

}  // namespace ssm::layers
