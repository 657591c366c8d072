#include "layers/long_conv.h"

#include "ssm/ops.h"

#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace ssm::layers {

LongConvImpl::LongConvImpl(const LongConvOptions& o) : SequenceLayer(checked_width("LongConv", o.d_model), o.dropout), o_(o) {
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

torch::Tensor LongConvImpl::forward(const torch::Tensor& u) {
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
  return output_stage(y.transpose(1, 2));
}

}  // namespace ssm::layers
