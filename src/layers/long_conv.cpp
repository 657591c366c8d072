#include "layers/long_conv.h"

#include "ssm/ops.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace ssm::layers {

LongConvImpl::LongConvImpl(const LongConvOptions& o) : o_(o) {
  output = register_module("output", OutputStage(checked_width("LongConv", o.d_model), o.dropout));
  if (o.max_length < 1) throw std::invalid_argument("LongConv: max_length must be >= 1");
  if (o.lambda < 0 || o.smooth < 0 || o.kernel_dropout < 0 || o.kernel_dropout >= 1)
    throw std::invalid_argument("LongConv: need lambda >= 0, smooth >= 0, 0 <= kernel_dropout < 1");
  const int64_t channels = o.bidirectional ? 2 : 1;
  torch::Tensor k0;
  if (o.init == "randn") {
    k0 = torch::randn({channels, o.d_model, o.max_length}) * 0.002;
  } else if (o.init == "double_exp") {
    const double H = static_cast<double>(o.d_model), L = static_cast<double>(o.max_length);
    const torch::Tensor rate = torch::pow(H / 2, torch::arange(o.d_model, torch::kDouble) / H).unsqueeze(1);  // (H, 1)
    const torch::Tensor decay = torch::exp(-(torch::arange(o.max_length, torch::kDouble) / L).unsqueeze(0) * rate);
    k0 = torch::randn({channels, o.d_model, o.max_length}) * 0.02 * decay.to(torch::kFloat);
  } else {
    throw std::invalid_argument("LongConv: init must be randn or double_exp, got '" + o.init + "'");
  }
  kernel_ = register_parameter("kernel", k0);
  D = register_parameter("D", torch::randn({o.d_model}));
  if (o.conv != "fft" && o.conv != "butterfly")
    throw std::invalid_argument("LongConv: conv must be fft or butterfly, got '" + o.conv + "'");
  if (o.learn_butterfly) {
    if (o.conv != "butterfly") throw std::invalid_argument("LongConv: learn_butterfly needs conv = butterfly");
    const int64_t n = ssm::fft_conv_size(o.max_length, o.max_length, o.bidirectional);
    const auto exact = ssm::butterfly_dft_factors(n, torch::kComplexFloat, o.butterfly_per_channel ? o.d_model : 0);
    for (size_t i = 0; i < exact.size(); ++i)
      factors_.push_back(
          register_parameter("butterfly" + std::to_string(i), torch::view_as_real(exact[i]).contiguous()));
  }
}

torch::Tensor LongConvImpl::kernel(int64_t L) {
  TORCH_CHECK(L >= 1 && L <= o_.max_length, "LongConv: sequence length ", L, " exceeds the kernel length ",
              o_.max_length, " (model.longconv.max_length)");
  torch::Tensor k = kernel_.narrow(2, 0, L);  // (channels, H, L)
  if (o_.smooth > 0) {
    const int64_t w = 2 * o_.smooth + 1;  // k_i = (2p+1)^-1 sum_{j=-p..p} k_{i+j}, zeros outside
    k = torch::avg_pool1d(k, {w}, {1}, {o_.smooth}, false, true);
  }
  k = torch::sign(k) * torch::relu(torch::abs(k) - o_.lambda);  // Squash
  if (is_training() && o_.kernel_dropout > 0) k = torch::dropout(k, o_.kernel_dropout, true);
  return k;
}

at::Tensor LongConvImpl::forward(const at::Tensor& u, const SequenceContext&) {
  TORCH_CHECK(u.dim() == 3 && u.size(2) == o_.d_model, "LongConv: input must have shape (B, L, ", o_.d_model,
              "), got ", u.sizes());
  const int64_t L = u.size(1);
  // Learned factors fit the plan of max_length: pad the input to it (zeros after the end change no output < L).
  // An input longer than max_length reaches kernel(), which rejects it.
  const int64_t Lc = factors_.empty() ? L : std::max(L, o_.max_length);
  const torch::Tensor k = kernel(Lc).to(u.scalar_type());
  const std::optional<torch::Tensor> k_rev = o_.bidirectional ? std::optional<torch::Tensor>(k[1]) : std::nullopt;
  torch::Tensor x = u.transpose(1, 2);  // (B, H, L)
  if (Lc > L) x = torch::constant_pad_nd(x, {0, Lc - L});
  torch::Tensor y;
  if (o_.conv == "fft") {
    y = ssm::fft_conv(x, k[0], D.to(u.scalar_type()), k_rev);
  } else {
    std::vector<torch::Tensor> F;
    for (const auto& f : factors_) F.push_back(torch::view_as_complex(f));
    y = ssm::butterfly_conv(x, k[0], D.to(u.scalar_type()), k_rev,
                            F.empty() ? std::nullopt : std::optional<at::TensorList>(F));
  }
  if (Lc > L) y = y.narrow(2, 0, L);
  return output(y.transpose(1, 2));
}

}  // namespace ssm::layers

#include "layers/registry.h"

namespace ssm::layers {

LayerSpec long_conv_spec() {
  using config::Type;
  constexpr double inf = 1e300;
  LayerSpec s;
  s.name = "longconv";
  s.doc = "a learned long convolution: an explicit kernel per channel (ssm::fft_conv or ssm::butterfly_conv)";
  s.keys = {
      {"model.longconv.max_length", Type::kInt, "2048", "long conv: kernel length (the longest input)", 1, 1e9},
      {"model.longconv.lambda", Type::kFloat, "0.002", "long conv: Squash soft threshold of the kernel", 0, 1e6},
      {"model.longconv.smooth", Type::kInt, "0", "long conv: Smooth half-window p, moving average over 2p+1 (0: off)",
       0, 1e6},
      {"model.longconv.kernel_dropout", Type::kFloat, "0.0", "long conv: dropout on the kernel while training", 0,
       0.99},
      {"model.longconv.init", Type::kEnum, "randn",
       "long conv: kernel initialization, randn * 0.002 or double_exp (randn * 0.02, each channel decaying at its own "
       "rate)", -inf, inf, false, {"randn", "double_exp"}},
      {"model.longconv.conv", Type::kEnum, "fft",
       "long conv: compute the convolution with ssm::fft_conv or ssm::butterfly_conv (same result)", -inf, inf, false,
       {"fft", "butterfly"}},
      {"model.longconv.learn_butterfly", Type::kBool, "false",
       "long conv, conv butterfly: learn the DFT factors (initialized exact; optimizer.butterfly_lr)"},
      {"model.longconv.butterfly_per_channel", Type::kBool, "true",
       "long conv, learned butterfly: one set of factors per channel (else one shared set)"},
  };
  s.check = [](const config::Config& c, const LayerCommon&) {
    if (c.get_bool("model.longconv.learn_butterfly") && c.get_string("model.longconv.conv") != "butterfly")
      c.fail("model.longconv.learn_butterfly",
             "needs model.longconv.conv: butterfly, got " + c.get_string("model.longconv.conv"));
  };
  s.make = [](const config::Config& c, const LayerCommon& m) -> std::shared_ptr<SequenceLayer> {
    LongConvOptions o;
    apply_common(m, o);
    o.max_length = c.get_int("model.longconv.max_length");
    o.lambda = c.get_float("model.longconv.lambda");
    o.smooth = c.get_int("model.longconv.smooth");
    o.kernel_dropout = c.get_float("model.longconv.kernel_dropout");
    o.init = c.get_string("model.longconv.init");
    o.conv = c.get_string("model.longconv.conv");
    o.learn_butterfly = c.get_bool("model.longconv.learn_butterfly");
    o.butterfly_per_channel = c.get_bool("model.longconv.butterfly_per_channel");
    return std::make_shared<LongConvImpl>(o);
  };
  return s;
}

}  // namespace ssm::layers
