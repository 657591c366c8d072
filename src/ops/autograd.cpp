// Autograd-key kernels: forward through the backend below autograd, backward through the *_backward ops, so that
// CPU and CUDA share one autograd definition. The backward ops are not themselves differentiable (no double backward).
#include "ops/impl.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/custom_function.h>

namespace ssm::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

at::Tensor call_vandermonde(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::vandermonde", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>();
  return op.call(v, x, L);
}

std::tuple<at::Tensor, at::Tensor> call_vandermonde_backward(const at::Tensor& g, const at::Tensor& v,
                                                             const at::Tensor& x) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("ssm::vandermonde_backward", "")
          .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
  return op.call(g, v, x);
}

at::Tensor call_fft_conv(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev) {
  static auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("ssm::fft_conv", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&)>();
  return op.call(u, k, D, k_rev);
}

FftConvGrads call_fft_conv_backward(const at::Tensor& g, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                    const OptTensor& k_rev, std::array<bool, 4> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::fft_conv_backward", "")
                       .typed<FftConvGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&,
                                           const OptTensor&, std::array<bool, 4>)>();
  return op.call(g, u, k, D, k_rev, mask);
}

at::Tensor call_diag_scan(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::diag_scan", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, bool, const OptTensor&)>();
  return op.call(a, b, reverse, h0);
}

DiagScanGrads call_diag_scan_backward(const at::Tensor& g, const at::Tensor& a, const at::Tensor& x, bool reverse,
                                      const OptTensor& h0, std::array<bool, 3> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::diag_scan_backward", "")
                       .typed<DiagScanGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool,
                                            const OptTensor&, std::array<bool, 3>)>();
  return op.call(g, a, x, reverse, h0, mask);
}

class VandermondeFunction : public torch::autograd::Function<VandermondeFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& v, const at::Tensor& x, int64_t L) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({v, x});
    return call_vandermonde(v, x, L);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    auto [dv, dx] = call_vandermonde_backward(grads[0].contiguous(), saved[0], saved[1]);
    return {dv, dx, at::Tensor()};
  }
};

class FftConvFunction : public torch::autograd::Function<FftConvFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                            const OptTensor& k_rev) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({u, k, D.value_or(at::Tensor()), k_rev.value_or(at::Tensor())});
    return call_fft_conv(u, k, D, k_rev);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    // needs_input_grad counts only the tensor inputs that were given: u, k, then D and k_rev when present.
    const bool has_D = saved[2].defined(), has_k_rev = saved[3].defined();
    const std::array<bool, 4> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      has_D && ctx->needs_input_grad(2),
                                      has_k_rev && ctx->needs_input_grad(has_D ? 3 : 2)};
    auto [du, dk, dD, dk_rev] =
        call_fft_conv_backward(grads[0].contiguous(), saved[0], saved[1], opt(saved[2]), opt(saved[3]), mask);
    return {du, dk, dD, dk_rev};
  }

 private:
  static OptTensor opt(const at::Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }
};

at::Tensor call_butterfly_conv(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::butterfly_conv", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&,
                                         const OptTensorList&)>();
  return op.call(u, k, D, k_rev, factors);
}

ButterflyConvGrads call_butterfly_conv_backward(const at::Tensor& g, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> mask) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::butterfly_conv_backward", "")
                       .typed<ButterflyConvGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                 const OptTensor&, const OptTensor&, const OptTensorList&,
                                                 std::array<bool, 5>)>();
  return op.call(g, u, k, D, k_rev, factors, mask);
}

OptTensor opt_tensor(const at::Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }

// The factors travel as a plain tensor list (empty when absent) so that autograd sees each one as an input.
class ButterflyConvFunction : public torch::autograd::Function<ButterflyConvFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                            const OptTensor& k_rev, at::TensorList factors, bool has_factors) {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::vector<at::Tensor> save = {u, k, D.value_or(at::Tensor()), k_rev.value_or(at::Tensor())};
    save.insert(save.end(), factors.begin(), factors.end());
    ctx->save_for_backward(save);
    ctx->saved_data["has_factors"] = has_factors;
    return call_butterfly_conv(u, k, D, k_rev, has_factors ? OptTensorList(factors) : std::nullopt);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool has_D = saved[2].defined(), has_k_rev = saved[3].defined();
    const bool has_factors = ctx->saved_data["has_factors"].toBool();
    const std::vector<at::Tensor> factors(saved.begin() + 4, saved.end());
    // needs_input_grad counts the tensor inputs given: u, k, then D and k_rev when present, then each factor.
    size_t next = 2;
    const bool need_D = has_D && ctx->needs_input_grad(next++);
    const bool need_k_rev = has_k_rev && ctx->needs_input_grad(next++);
    bool need_F = false;
    for (size_t i = 0; i < factors.size(); ++i) need_F = need_F || ctx->needs_input_grad(next + i);
    const std::array<bool, 5> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1), need_D, need_k_rev, need_F};
    auto [du, dk, dD, dk_rev, dF] =
        call_butterfly_conv_backward(grads[0].contiguous(), saved[0], saved[1], opt_tensor(saved[2]),
                                     opt_tensor(saved[3]), has_factors ? OptTensorList(factors) : std::nullopt, mask);
    variable_list out = {du, dk, dD, dk_rev};
    for (size_t i = 0; i < factors.size(); ++i) out.push_back(need_F ? dF.at(i) : at::Tensor());
    out.emplace_back();  // has_factors
    return out;
  }
};

class DiagScanFunction : public torch::autograd::Function<DiagScanFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b, bool reverse,
                            const OptTensor& h0) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor x = call_diag_scan(a, b, reverse, h0);
    ctx->saved_data["reverse"] = reverse;
    ctx->save_for_backward({a, x, h0.value_or(at::Tensor())});
    return x;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const bool has_h0 = saved[2].defined();
    // needs_input_grad counts the tensor inputs given: a, b, then h0 when present.
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      has_h0 && ctx->needs_input_grad(2)};
    auto [da, db, dh0] = call_diag_scan_backward(grads[0].contiguous(), saved[0], saved[1],
                                                 ctx->saved_data["reverse"].toBool(),
                                                 has_h0 ? OptTensor(saved[2]) : std::nullopt, mask);
    return {da, db, at::Tensor(), dh0};
  }
};

}  // namespace

at::Tensor diag_scan_autograd(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0) {
  return DiagScanFunction::apply(a, b, reverse, h0);
}

at::Tensor butterfly_conv_autograd(const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                   const OptTensor& k_rev, const OptTensorList& factors) {
  return ButterflyConvFunction::apply(u, k, D, k_rev, factors.value_or(at::TensorList()), factors.has_value());
}

at::Tensor vandermonde_autograd(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  return VandermondeFunction::apply(v, x, L);
}

at::Tensor fft_conv_autograd(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev) {
  return FftConvFunction::apply(u, k, D, k_rev);
}

}  // namespace ssm::ops
