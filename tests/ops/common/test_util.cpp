#include "ops/common/test_util.h"

#include "ops/fft_conv/conv_cases.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>

#include <algorithm>

namespace ssm::test {

bool cuda_available() { return torch::cuda::is_available(); }

double rel_error(const at::Tensor& a, const at::Tensor& ref) {
  const at::Tensor a64 = a.detach().cpu().to(a.is_complex() ? at::kComplexDouble : at::kDouble);
  const at::Tensor r64 = ref.detach().cpu().to(ref.is_complex() ? at::kComplexDouble : at::kDouble);
  const double scale = r64.abs().max().item<double>();
  const double err = (a64 - r64).abs().max().item<double>();
  return err / (scale > 0 ? scale : 1.0);
}

std::string name(const ConvShape& s) {
  return "B" + std::to_string(s.B) + "_H" + std::to_string(s.H) + "_L" + std::to_string(s.L) + "_Lk" +
         std::to_string(s.Lk);
}

ConvInputs make_conv_inputs(const ConvShape& s, at::ScalarType dtype, at::Device device) {
  const auto o = at::TensorOptions().dtype(dtype).device(device);
  const at::Tensor decay = at::exp(-at::arange(s.Lk, o) / std::max<int64_t>(1, s.Lk / 4));
  return {at::randn({s.B, s.H, s.L}, o), at::randn({s.H, s.Lk}, o) * decay, at::randn({s.H}, o),
          at::randn({s.H, s.Lk}, o) * decay};
}

at::Tensor vandermonde_reference(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  cases::Case c;
  c.size["L"] = L;
  return cases::table("vandermonde").reference(c, {v, x});
}

at::Tensor fft_conv_reference(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                              const std::optional<at::Tensor>& k_rev) {
  return cases::conv_reference(cases::Case{}, {u, k, D.value_or(at::Tensor()), k_rev.value_or(at::Tensor())});
}

void expect_gradients_match(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
                            std::vector<at::Tensor> inputs, double eps, double tol) {
  const at::Tensor out0 = f(inputs);
  // A real loss: sum(out * w), or Re sum(out * w) with complex w for complex outputs.
  const at::Tensor w = out0.is_complex()
                           ? at::complex(at::randn(out0.sizes(), at::kDouble), at::randn(out0.sizes(), at::kDouble))
                                 .to(out0.scalar_type())
                                 .to(out0.device())
                           : at::randn(out0.sizes(), out0.options().requires_grad(false));
  const auto loss = [&w](const at::Tensor& out) { return out.is_complex() ? at::real((out * w).sum()) : (out * w).sum(); };
  std::vector<at::Tensor> wrt;
  for (const auto& t : inputs)
    if (t.requires_grad()) wrt.push_back(t);
  ASSERT_FALSE(wrt.empty());
  const auto grads = torch::autograd::grad({loss(out0)}, wrt, {}, false, false, true);
  at::AutoDispatchBelowADInplaceOrView no_grad;
  size_t gi = 0;
  for (size_t ii = 0; ii < inputs.size(); ++ii) {
    if (!inputs[ii].requires_grad()) continue;
    const at::Tensor analytic = grads[gi++];
    ASSERT_TRUE(analytic.defined()) << "no gradient for input " << ii;
    at::Tensor x = inputs[ii];
    at::Tensor flat = x.is_complex() ? at::view_as_real(x).view({-1}) : x.view({-1});  // shares x's storage
    at::Tensor numeric = at::zeros({flat.numel()}, flat.options());
    for (int64_t e = 0; e < flat.numel(); ++e) {
      const double orig = flat[e].item<double>();
      flat[e] = orig + eps;
      const double fp = loss(f(inputs)).item<double>();
      flat[e] = orig - eps;
      const double fm = loss(f(inputs)).item<double>();
      flat[e] = orig;
      numeric[e] = (fp - fm) / (2 * eps);
    }
    const at::Tensor a = x.is_complex() ? at::view_as_real(analytic.contiguous()).reshape({-1}) : analytic.reshape({-1});
    // Relative to the gradient's scale, floored at 1: a gradient that is exactly 0 (an input that cannot reach the
    // output, e.g. k_rev at L = 1) meets finite-difference noise of ~1e-10 there.
    const double err = (a.to(at::kDouble) - numeric).abs().max().item<double>() /
                       std::max(1.0, numeric.abs().max().item<double>());
    EXPECT_LT(err, tol) << "gradient of input " << ii << " differs from finite differences (relative error " << err
                        << ")";
  }
}


}  // namespace ssm::test
