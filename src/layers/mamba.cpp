#include "layers/mamba.h"

#include "layers/registry.h"
#include "ssm/ops.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace ssm::layers {

namespace {

void check_options(const MambaOptions& o) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("Mamba: " + what); };
  if (o.expand < 1) bad("expand must be >= 1, got " + std::to_string(o.expand));
  if (o.d_conv < 1) bad("d_conv must be >= 1, got " + std::to_string(o.d_conv));
  if (o.d_state < 1) bad("d_state must be >= 1, got " + std::to_string(o.d_state));
  if (o.dt_rank < 0) bad("dt_rank must be >= 0 (0: ceil(d_model / 16)), got " + std::to_string(o.dt_rank));
  if (!(o.dt_min > 0 && o.dt_max >= o.dt_min)) bad("need 0 < dt_min <= dt_max");
  if (!(o.dt_init_floor >= 0) || !(o.dt_scale > 0)) bad("need dt_init_floor >= 0 and dt_scale > 0");
}

}  // namespace

at::Tensor dt_bias_init(int64_t n, double dt_min, double dt_max, double floor) {
  const torch::Tensor dt =
      torch::exp(torch::rand({n}) * (std::log(dt_max) - std::log(dt_min)) + std::log(dt_min)).clamp_min(floor);
  return dt + torch::log(-torch::expm1(-dt));  // softplus^-1(dt)
}

MambaDirectionImpl::MambaDirectionImpl(const MambaOptions& o, int64_t inner, int64_t rank) {
  const int64_t N = o.d_state;
  conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(inner, inner, o.d_conv)
                                                       .groups(inner)
                                                       .bias(o.conv_bias)
                                                       .padding(o.d_conv - 1)));
  x_proj = register_module("x_proj", torch::nn::Linear(torch::nn::LinearOptions(inner, rank + 2 * N).bias(false)));
  dt_proj = register_module("dt_proj", torch::nn::Linear(rank, inner));
  torch::NoGradGuard no_grad;
  const double std = o.dt_scale / std::sqrt(static_cast<double>(rank));
  dt_proj->weight.uniform_(-std, std);
  dt_proj->bias.copy_(dt_bias_init(inner, o.dt_min, o.dt_max, o.dt_init_floor));
  A_log = register_parameter("A_log", torch::log(torch::arange(1, N + 1, torch::kFloat)).repeat({inner, 1}));
  D = register_parameter("D", torch::ones({inner}));
}

MambaImpl::MambaImpl(const MambaOptions& o) : o_(o) {
  const int64_t H = checked_width("Mamba", o.d_model);
  check_options(o);
  inner_ = o.expand * H;
  rank_ = o.dt_rank > 0 ? o.dt_rank : (H + 15) / 16;
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(H, 2 * inner_).bias(o.bias)));
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(inner_, H).bias(o.bias)));
  for (int i = 0; i < (o.bidirectional ? 2 : 1); ++i)
    dirs_.push_back(register_module(i == 0 ? "forward" : "backward", MambaDirection(o, inner_, rank_)));
}

std::vector<at::Tensor> MambaImpl::ssm_parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& d : dirs_) {
    out.push_back(d->A_log);
    out.push_back(d->D);
    out.push_back(d->dt_proj->bias);
  }
  return out;
}

at::Tensor reverse_valid(const at::Tensor& x, const at::Tensor& lengths) {
  const int64_t B = x.size(0), L = x.size(1);
  if (!lengths.defined()) return x.flip({1});
  const at::Tensor t = torch::arange(L, lengths.options()).unsqueeze(0).expand({B, L});
  const at::Tensor len = lengths.view({B, 1});
  at::Tensor idx = torch::where(t < len, len - 1 - t, t);  // (B, L)
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = B;
  shape[1] = L;
  return x.gather(1, idx.view(shape).expand(x.sizes()));
}

at::Tensor MambaImpl::scan(MambaDirection& d, const at::Tensor& x, const at::Tensor& z) {
  const int64_t L = x.size(2), N = o_.d_state;
  const at::Tensor xc = torch::silu(d->conv(x).narrow(2, 0, L));             // (B, inner, L)
  const at::Tensor dbl = d->x_proj(xc.transpose(1, 2));                       // (B, L, R + 2N)
  const at::Tensor delta = torch::matmul(dbl.narrow(2, 0, rank_), d->dt_proj->weight.t()).transpose(1, 2);
  const at::Tensor Bm = dbl.narrow(2, rank_, N).transpose(1, 2);              // (B, N, L)
  const at::Tensor Cm = dbl.narrow(2, rank_ + N, N).transpose(1, 2);
  const at::Tensor A = -torch::exp(d->A_log);
  return std::get<0>(ssm::selective_scan(xc, delta, A, Bm, Cm, d->D, z, d->dt_proj->bias, /*delta_softplus=*/true));
}

at::Tensor MambaImpl::forward(const at::Tensor& u, const SequenceContext& ctx) {
  TORCH_CHECK(u.dim() == 3 && u.size(2) == o_.d_model, "Mamba: input must have shape (B, L, ", o_.d_model, "), got ",
              u.sizes());
  const at::Tensor xz = in_proj(u);  // (B, L, 2 inner)
  auto split = [&](const at::Tensor& t) {
    return std::make_pair(t.narrow(2, 0, inner_).transpose(1, 2), t.narrow(2, inner_, inner_).transpose(1, 2));
  };
  auto [x, z] = split(xz);
  at::Tensor y = scan(dirs_[0], x, z).transpose(1, 2);  // (B, L, inner)
  if (o_.bidirectional) {
    auto [xr, zr] = split(reverse_valid(xz, ctx.lengths));
    y = y + reverse_valid(scan(dirs_[1], xr, zr).transpose(1, 2), ctx.lengths);
  }
  return out_proj(y);
}

at::Tensor MambaImpl::step_state(int64_t batch) const {
  return torch::zeros({batch, inner_, o_.d_conv - 1 + o_.d_state}, in_proj->weight.options());
}

at::Tensor MambaImpl::step(const at::Tensor& u_t, at::Tensor& state) {
  TORCH_CHECK(!o_.bidirectional, "Mamba: step mode needs a unidirectional layer (bidirectional = false)");
  TORCH_CHECK(u_t.dim() == 2 && u_t.size(1) == o_.d_model, "Mamba: step input must have shape (B, ", o_.d_model,
              "), got ", u_t.sizes());
  const int64_t K = o_.d_conv, N = o_.d_state;
  TORCH_CHECK(state.dim() == 3 && state.size(0) == u_t.size(0) && state.size(1) == inner_ && state.size(2) == K - 1 + N,
              "Mamba: step state must have shape (B, ", inner_, ", ", K - 1 + N, ") (step_state), got ", state.sizes());
  MambaDirection& d = dirs_[0];
  const at::Tensor xz = in_proj(u_t);
  const at::Tensor x = xz.narrow(1, 0, inner_), z = xz.narrow(1, inner_, inner_);
  const at::Tensor window = torch::cat({state.narrow(2, 0, K - 1), x.unsqueeze(2)}, 2);  // (B, inner, K)
  at::Tensor xc = (window * d->conv->weight.squeeze(1)).sum(2);
  if (o_.conv_bias) xc = xc + d->conv->bias;
  xc = torch::silu(xc);
  const at::Tensor dbl = d->x_proj(xc);  // (B, R + 2N)
  const at::Tensor dt = torch::softplus(d->dt_proj(dbl.narrow(1, 0, rank_)));  // (B, inner)
  const at::Tensor Bm = dbl.narrow(1, rank_, N), Cm = dbl.narrow(1, rank_ + N, N);
  const at::Tensor A = -torch::exp(d->A_log);
  at::Tensor h = state.narrow(2, K - 1, N);
  h = torch::exp(dt.unsqueeze(2) * A) * h + (dt * xc).unsqueeze(2) * Bm.unsqueeze(1);
  const at::Tensor y = ((h * Cm.unsqueeze(1)).sum(2) + d->D * xc) * torch::silu(z);
  state = torch::cat({window.narrow(2, 1, K - 1), h}, 2);
  return out_proj(y);
}

LayerSpec mamba_spec() {
  using config::Type;
  LayerSpec s;
  s.name = "mamba";
  s.doc = "Mamba: the selective-SSM block (ssm::selective_scan), N = model.d_state per channel";
  s.keys = {
      {"model.mamba.expand", Type::kInt, "2", "Mamba: expansion E of the inner width E * d_model", 1, 64},
      {"model.mamba.d_conv", Type::kInt, "4", "Mamba: width of the causal depthwise convolution", 1, 64},
      {"model.mamba.dt_rank", Type::kInt, "0", "Mamba: rank R of the dt projection (0: ceil(d_model / 16))", 0,
       65536},
      {"model.mamba.dt_min", Type::kFloat, "0.001", "Mamba: smallest initial dt (softplus of dt_proj's bias)", 0, 10,
       true},
      {"model.mamba.dt_max", Type::kFloat, "0.1", "Mamba: largest initial dt", 0, 10, true},
      {"model.mamba.dt_init_floor", Type::kFloat, "0.0001", "Mamba: floor of the initial dt", 0, 10},
      {"model.mamba.conv_bias", Type::kBool, "true", "Mamba: bias in the convolution"},
      {"model.mamba.bias", Type::kBool, "false", "Mamba: biases in the in- and out-projections"},
  };
  s.check = [](const config::Config& c, const LayerCommon&) {
    if (c.get_float("model.mamba.dt_min") > c.get_float("model.mamba.dt_max"))
      c.fail("model.mamba.dt_min", "must be <= model.mamba.dt_max");
  };
  s.make = [](const config::Config& c, const LayerCommon& m) -> std::shared_ptr<SequenceLayer> {
    MambaOptions o;
    apply_common(m, o);
    o.d_state = m.d_state;
    o.expand = c.get_int("model.mamba.expand");
    o.d_conv = c.get_int("model.mamba.d_conv");
    o.dt_rank = c.get_int("model.mamba.dt_rank");
    o.dt_min = c.get_float("model.mamba.dt_min");
    o.dt_max = c.get_float("model.mamba.dt_max");
    o.dt_init_floor = c.get_float("model.mamba.dt_init_floor");
    o.conv_bias = c.get_bool("model.mamba.conv_bias");
    o.bias = c.get_bool("model.mamba.bias");
    return std::make_shared<MambaImpl>(o);
  };
  return s;
}

}  // namespace ssm::layers
