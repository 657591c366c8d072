#include "layers/chimera.h"

#include "layers/mamba.h"
#include "layers/registry.h"
#include "ssm/ops.h"

#include <torch/torch.h>

#include <cmath>
#include <stdexcept>

namespace ssm::layers {

namespace {

void check_options(const ChimeraOptions& o) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("Chimera: " + what); };
  if (o.expand < 1) bad("expand must be >= 1, got " + std::to_string(o.expand));
  if (o.d_conv < 0) bad("d_conv must be >= 0, got " + std::to_string(o.d_conv));
  if (o.d_state < 1) bad("d_state must be >= 1, got " + std::to_string(o.d_state));
  if (o.dt_rank < 0) bad("dt_rank must be >= 0 (0: ceil(d_model / 16)), got " + std::to_string(o.dt_rank));
  if (o.season_lag < 1) bad("season_lag must be >= 1, got " + std::to_string(o.season_lag));
  if (o.heads != "both" && o.heads != "trend" && o.heads != "season")
    bad("heads must be both, trend or season, got '" + o.heads + "'");
  auto range = [&](const char* name, double lo, double hi) {
    if (!(lo > 0 && hi >= lo)) bad(std::string("need 0 < ") + name + "_dt_min <= " + name + "_dt_max");
  };
  range("trend", o.trend_dt_min, o.trend_dt_max);
  range("season", o.season_dt_min, o.season_dt_max);
  range("variate", o.variate_dt_min, o.variate_dt_max);
  if (!(o.coupling >= 0)) bad("coupling must be >= 0 (0: automatic)");
}

}  // namespace

ChimeraHeadImpl::ChimeraHeadImpl(const ChimeraOptions& o, int64_t inner, int64_t rank, int64_t lag_, double dt_min,
                                 double dt_max)
    : lag(lag_) {
  const int64_t N = o.d_state;
  x_proj = register_module("x_proj", torch::nn::Linear(torch::nn::LinearOptions(inner, 2 * rank + 4 * N).bias(false)));
  dt1_proj = register_module("dt1_proj", torch::nn::Linear(rank, inner));
  dt2_proj = register_module("dt2_proj", torch::nn::Linear(rank, inner));
  torch::NoGradGuard no_grad;
  const double std = 1.0 / std::sqrt(static_cast<double>(rank));
  dt1_proj->weight.uniform_(-std, std);
  dt2_proj->weight.uniform_(-std, std);
  dt1_proj->bias.copy_(dt_bias_init(inner, dt_min, dt_max, 1e-4));
  dt2_proj->bias.copy_(dt_bias_init(inner, o.variate_dt_min, o.variate_dt_max, 1e-4));
  const double kappa =
      o.coupling > 0 ? o.coupling : std::log(1.0 / dt_min) / (dt_min + o.variate_dt_min);
  const torch::Tensor n1 = torch::arange(1, N + 1, torch::kFloat);  // n + 1
  const torch::Tensor diag = torch::log(n1), cross = torch::log(n1 * kappa);
  A_log = register_parameter("A_log", torch::stack({diag, cross, cross, diag}).unsqueeze(1).repeat({1, inner, 1}));
}

ChimeraImpl::ChimeraImpl(const ChimeraOptions& o) : o_(o) {
  const int64_t H = checked_width("Chimera", o.d_model);
  check_options(o);
  inner_ = o.expand * H;
  rank_ = o.dt_rank > 0 ? o.dt_rank : (H + 15) / 16;
  in_proj = register_module("in_proj", torch::nn::Linear(torch::nn::LinearOptions(H, 2 * inner_).bias(false)));
  out_proj = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(inner_, H).bias(false)));
  if (o.d_conv > 0)
    conv = register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(inner_, inner_, o.d_conv)
                                                         .groups(inner_)
                                                         .padding(o.d_conv - 1)));
  if (o.heads != "season")
    heads_.push_back(register_module("trend", ChimeraHead(o, inner_, rank_, 1, o.trend_dt_min, o.trend_dt_max)));
  if (o.heads != "trend")
    heads_.push_back(
        register_module("season", ChimeraHead(o, inner_, rank_, o.season_lag, o.season_dt_min, o.season_dt_max)));
  D = register_parameter("D", torch::ones({inner_}));
}

std::vector<at::Tensor> ChimeraImpl::ssm_parameters() const {
  std::vector<at::Tensor> out = {D};
  for (const auto& h : heads_) {
    out.push_back(h->A_log);
    out.push_back(h->dt1_proj->bias);
    out.push_back(h->dt2_proj->bias);
  }
  return out;
}

at::Tensor ChimeraImpl::forward(const at::Tensor& u, const SequenceContext& ctx) {
  TORCH_CHECK(u.dim() == 3 && u.size(2) == o_.d_model, "Chimera: input must have shape (B V, L, ", o_.d_model,
              "), got ", u.sizes());
  const int64_t V = ctx.variates, L = u.size(1), N = o_.d_state, R = rank_;
  TORCH_CHECK(V >= 1 && u.size(0) % V == 0, "Chimera: the batch's ", u.size(0),
              " rows must be whole groups of variates = ", V, " (SequenceContext::variates)");
  const at::Tensor xz = in_proj(u);  // (B V, L, 2 inner)
  at::Tensor x = xz.narrow(2, 0, inner_);
  const at::Tensor z = xz.narrow(2, inner_, inner_);
  if (o_.d_conv > 0) x = conv(x.transpose(1, 2)).narrow(2, 0, L).transpose(1, 2);
  x = torch::silu(x).contiguous();
  const bool mix = o_.variates && V > 1;
  const at::Tensor grid = mix ? x.view({u.size(0) / V, V, L, inner_}) : x.view({u.size(0), 1, L, inner_});
  at::Tensor y = D * grid;
  for (auto& h : heads_) {
    const at::Tensor dbl = h->x_proj(grid);  // (B', V', L, 2R + 4N)
    auto part = [&](int64_t at, int64_t n) { return dbl.narrow(3, at, n).contiguous(); };
    const at::Tensor dt1 = torch::softplus(h->dt1_proj(dbl.narrow(3, 0, R)));
    const at::Tensor B1 = part(2 * R, N), C1 = part(2 * R + 2 * N, N);
    at::Tensor dt2 = dt1, B2, C2;
    if (o_.variates) {
      dt2 = torch::softplus(h->dt2_proj(dbl.narrow(3, R, R)));
      B2 = part(2 * R + N, N);
      C2 = part(2 * R + 3 * N, N);
    } else {  // h2 = 0: each variate alone, Mamba's scan over time
      B2 = torch::zeros_like(B1);
      C2 = B2;
    }
    const at::Tensor A = -torch::exp(h->A_log);
    auto run = [&](bool reverse) {
      return ssm::selective_scan_2d(grid, dt1, dt2, A[0], A[1], A[2], A[3], B1, B2, C1, C2, std::nullopt, h->lag,
                                    reverse);
    };
    y = y + (mix ? 0.5 * (run(false) + run(true)) : run(false));
  }
  return out_proj(y.view({u.size(0), L, inner_}) * torch::silu(z));
}

LayerSpec chimera_spec() {
  using config::Type;
  constexpr double inf = 1e300;
  LayerSpec s;
  s.name = "chimera";
  s.doc = "Chimera: two input-dependent 2-D SSM heads over time and variates (ssm::selective_scan_2d), N = "
          "model.d_state";
  s.grid = true;
  s.keys = {
      {"model.chimera.expand", Type::kInt, "2", "Chimera: expansion E of the inner width E * d_model", 1, 64},
      {"model.chimera.d_conv", Type::kInt, "4", "Chimera: width of the causal depthwise convolution over time (0: none)",
       0, 64},
      {"model.chimera.dt_rank", Type::kInt, "0", "Chimera: rank R of the dt projections (0: ceil(d_model / 16))", 0,
       65536},
      {"model.chimera.heads", Type::kEnum, "both", "Chimera: the trend head, the seasonal head or both", -inf, inf,
       false, {"both", "trend", "season"}},
      {"model.chimera.trend_dt_min", Type::kFloat, "0.001", "Chimera: smallest initial time step dt1 of the trend head",
       0, 10, true},
      {"model.chimera.trend_dt_max", Type::kFloat, "0.01", "Chimera: largest initial dt1 of the trend head", 0, 10,
       true},
      {"model.chimera.season_lag", Type::kInt, "1",
       "Chimera: lag s of the seasonal head's time recurrence (e.g. 24 for hourly data)", 1, 1e9},
      {"model.chimera.season_dt_min", Type::kFloat, "0.01", "Chimera: smallest initial dt1 of the seasonal head", 0,
       10, true},
      {"model.chimera.season_dt_max", Type::kFloat, "0.1", "Chimera: largest initial dt1 of the seasonal head", 0, 10,
       true},
      {"model.chimera.variate_dt_min", Type::kFloat, "0.001",
       "Chimera: smallest initial step dt2 of the variate direction", 0, 10, true},
      {"model.chimera.variate_dt_max", Type::kFloat, "0.1", "Chimera: largest initial dt2", 0, 10, true},
      {"model.chimera.coupling", Type::kFloat, "0",
       "Chimera: initial rate kappa of the cross couplings A2, A3 = -(n + 1) kappa (0: ln(1 / dt1_min) / (dt1_min + "
       "dt2_min) per head)",
       0, 1e12},
      {"model.chimera.variates", Type::kBool, "true",
       "Chimera: the variate direction, run both ways (false: each variate alone)"},
  };
  s.check = [](const config::Config& c, const LayerCommon& m) {
    if (m.bidirectional)
      c.fail("model.bidirectional", "the Chimera block is causal in time and runs its variate direction both ways "
                                    "already: set it to false");
    for (const char* r : {"trend", "season", "variate"}) {
      const std::string lo = std::string("model.chimera.") + r + "_dt_min", hi = std::string("model.chimera.") + r + "_dt_max";
      if (c.get_float(lo) > c.get_float(hi)) c.fail(lo, "must be <= " + hi);
    }
  };
  s.make = [](const config::Config& c, const LayerCommon& m) -> std::shared_ptr<SequenceLayer> {
    ChimeraOptions o;
    o.d_model = m.d_model;
    o.dropout = m.dropout;
    o.d_state = m.d_state;
    o.expand = c.get_int("model.chimera.expand");
    o.d_conv = c.get_int("model.chimera.d_conv");
    o.dt_rank = c.get_int("model.chimera.dt_rank");
    o.heads = c.get_string("model.chimera.heads");
    o.trend_dt_min = c.get_float("model.chimera.trend_dt_min");
    o.trend_dt_max = c.get_float("model.chimera.trend_dt_max");
    o.season_lag = c.get_int("model.chimera.season_lag");
    o.season_dt_min = c.get_float("model.chimera.season_dt_min");
    o.season_dt_max = c.get_float("model.chimera.season_dt_max");
    o.variate_dt_min = c.get_float("model.chimera.variate_dt_min");
    o.variate_dt_max = c.get_float("model.chimera.variate_dt_max");
    o.coupling = c.get_float("model.chimera.coupling");
    o.variates = c.get_bool("model.chimera.variates");
    return std::make_shared<ChimeraImpl>(o);
  };
  return s;
}

}  // namespace ssm::layers
