// Links the installed ssm ops and checks one against a direct sum, with its gradient flowing.
#include <ssm/ops.h>

#include <torch/torch.h>

#include <cstdio>

int main() {
  torch::manual_seed(0);
  const torch::Tensor u = torch::randn({2, 3, 20}, torch::kDouble).requires_grad_();
  const torch::Tensor k = torch::randn({3, 20}, torch::kDouble);
  const torch::Tensor y = ssm::fft_conv(u, k);
  torch::Tensor ref = torch::zeros_like(y);
  for (int64_t l = 0; l < 20; ++l)
    for (int64_t j = 0; j <= l; ++j) ref.select(2, l) += k.select(1, l - j) * u.detach().select(2, j);
  const double err = (y.detach() - ref).abs().max().item<double>();
  y.sum().backward();
  const bool grad_ok = u.grad().defined() && u.grad().abs().sum().item<double>() > 0;
  std::printf("ssm %s: fft_conv error %.3g, gradient %s\n", ssm::version(), err, grad_ok ? "ok" : "missing");
  return err < 1e-10 && grad_ok ? 0 : 1;
}
