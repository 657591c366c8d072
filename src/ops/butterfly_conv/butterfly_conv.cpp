// ssm::butterfly_conv: schema, argument checks, the plan (radices, stages, exact DFT factors), Meta kernels,
// autograd, the C++ API and the CPU entry points. Which function runs which variant: README.md in this folder.
#include "ops/butterfly_conv/butterfly_conv.h"

#include "ssm/ops/butterfly_conv.h"
#include "ssm/ops/fft_conv.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/polar.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace ssm {

std::vector<int64_t> butterfly_radices(int64_t n) {
  TORCH_CHECK(n >= 2, "ssm::butterfly_radices: n must be >= 2, got ", n);
  std::vector<int64_t> primes;  // largest first
  int64_t rest = n;
  for (const int64_t p : {7, 5, 3, 2})
    while (rest % p == 0) {
      primes.push_back(p);
      rest /= p;
    }
  TORCH_CHECK(rest == 1, "ssm::butterfly_radices: n = ", n, " is not a product of 2, 3, 5 and 7");
  // First fit decreasing into radices of at most 16: few, large stages. Then smallest first (2048 = 8 * 16 * 16), so
  // that the radix-16 stages come last, where their columns tile for tensor cores (16 | m, or m = 1).
  std::vector<int64_t> radices;
  for (const int64_t p : primes) {
    auto it = std::find_if(radices.begin(), radices.end(), [&](int64_t r) { return r * p <= 16; });
    if (it == radices.end())
      radices.push_back(p);
    else
      *it *= p;
  }
  std::sort(radices.begin(), radices.end());
  return radices;
}

std::vector<at::Tensor> butterfly_dft_factors(int64_t n, at::ScalarType complex_dtype, int64_t channels) {
  TORCH_CHECK(complex_dtype == at::kComplexFloat || complex_dtype == at::kComplexDouble,
              "ssm::butterfly_dft_factors: dtype must be complex64 or complex128, got ", complex_dtype);
  TORCH_CHECK(channels >= 0, "ssm::butterfly_dft_factors: channels must be >= 0, got ", channels);
  std::vector<at::Tensor> out;
  for (const int64_t r : butterfly_radices(n)) {
    const auto o = at::TensorOptions().dtype(at::kLong);
    const at::Tensor ai = at::arange(r, o).unsqueeze(1) * at::arange(r, o).unsqueeze(0) % r;  // (r, r)
    const at::Tensor angle = ai.to(at::kDouble) * (-2.0 * M_PI / static_cast<double>(r));
    at::Tensor F = at::polar(at::ones_like(angle), angle).to(complex_dtype);  // (r, r)
    out.push_back(channels > 0 ? F.unsqueeze(0).expand({channels, r, r}).contiguous() : F);
  }
  return out;
}

}  // namespace ssm

namespace ssm::ops {

std::vector<ButterflyStage> butterfly_stages(int64_t n) {
  std::vector<ButterflyStage> stages;
  int64_t P = 1;
  for (const int64_t r : butterfly_radices(n)) {
    stages.push_back({r, P, n / (P * r)});
    P *= r;
  }
  return stages;
}

bool check_butterfly_factors(const char* op, at::TensorList factors, const at::Tensor& u, int64_t H, int64_t n,
                             const std::vector<ButterflyStage>& stages, const std::string& sizes_note) {
  const int64_t count = static_cast<int64_t>(factors.size());
  TORCH_CHECK(count == static_cast<int64_t>(stages.size()), op, ": argument 'factors' must hold one matrix per stage ",
              "of the size-", n, " plan (", stages.size(), " stages for ", sizes_note,
              "; see ssm::butterfly_radices), got ", count);
  const auto want = u.scalar_type() == at::kDouble ? at::kComplexDouble : at::kComplexFloat;
  bool per_channel_all = false;
  for (int64_t i = 0; i < count; ++i) {
    const at::Tensor& F = factors[i];
    const int64_t r = stages[i].r;
    const std::string name = "factors[" + std::to_string(i) + "]";
    TORCH_CHECK(F.defined(), op, ": argument '", name, "' is an undefined tensor");
    TORCH_CHECK(F.scalar_type() == want, op, ": argument '", name, "' must have dtype ", want, " for ",
                u.scalar_type(), " inputs, got ", F.scalar_type());
    TORCH_CHECK(F.device() == u.device(), op, ": argument '", name, "' is on ", F.device(), " but 'u' is on ",
                u.device(), "; all tensors must be on one device");
    const bool shared = F.dim() == 2 && F.sym_size(0) == r && F.sym_size(1) == r;
    const bool per_channel = F.dim() == 3 && F.sym_size(0) == H && F.sym_size(1) == r && F.sym_size(2) == r;
    TORCH_CHECK(shared || per_channel, op, ": argument '", name, "' must have shape (", r, ", ", r, ") or (H, ", r,
                ", ", r, ") = (", H, ", ", r, ", ", r, ") for radix ", r, ", got ", shape_str(F));
    if (i == 0) per_channel_all = per_channel;
    TORCH_CHECK(per_channel == per_channel_all, op, ": argument 'factors' must be all shared (r, r) or all ",
                "per-channel (H, r, r); factors[0] is ", per_channel_all ? "per-channel" : "shared", " but ", name,
                " is not");
  }
  return per_channel_all;
}

namespace {
std::string sizes_note(int64_t L, int64_t Lk, bool has_k_rev) {
  return "L = " + std::to_string(L) + ", Lk = " + std::to_string(Lk) + (has_k_rev ? ", with k_rev" : "");
}
}  // namespace

ButterflyConvSizes check_butterfly_conv(const char* op, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                        const OptTensor& k_rev, const OptTensorList& factors) {
  ButterflyConvSizes s;
  static_cast<FftConvSizes<int64_t>&>(s) = check_fft_conv<int64_t>(op, u, k, D, k_rev);
  s.n = fft_conv_size(s.L, s.Lk, s.has_k_rev);
  s.stages = butterfly_stages(s.n);
  s.has_factors = factors.has_value();
  s.per_channel = s.has_factors &&
                  check_butterfly_factors(op, *factors, u, s.H, s.n, s.stages, sizes_note(s.L, s.Lk, s.has_k_rev));
  return s;
}

const std::vector<at::Tensor>& exact_dft_factors(int64_t n, at::ScalarType cdt, const at::Device& device) {
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int, std::string>, std::vector<at::Tensor>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[std::make_tuple(n, static_cast<int>(cdt), device.str())];
  if (slot.empty()) {
    at::AutoDispatchBelowADInplaceOrView no_autograd;
    for (const auto& F : ssm::butterfly_dft_factors(n, cdt)) slot.push_back(F.to(device));
  }
  return slot;
}


at::Tensor butterfly_conv_cpu(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                              const OptTensorList& factors) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  if (!factors.has_value())
    return butterfly_conv_fft_cpu(check_butterfly_conv("ssm::butterfly_conv", u, k, D, k_rev, factors), u, k, D, k_rev);
  return butterfly_conv_aten(u, k, D, k_rev, factors);
}

ButterflyConvGrads butterfly_conv_backward_cpu(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                               const OptTensor& D, const OptTensor& k_rev,
                                               const OptTensorList& factors, std::array<bool, 5> output_mask) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  if (!factors.has_value()) {
    auto sizes = check_butterfly_conv("ssm::butterfly_conv_backward", u, k, D, k_rev, factors);
    check_same_as("ssm::butterfly_conv_backward", "grad_y", grad_y, "u", u);
    return butterfly_conv_backward_fft_cpu(sizes, grad_y, u, k, D, k_rev, output_mask);
  }
  return butterfly_conv_backward_aten(grad_y, u, k, D, k_rev, factors, output_mask);
}


namespace {

using Fwd = at::Tensor(const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&, const OptTensorList&);
using Bwd = ButterflyConvGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&,
                               const OptTensor&, const OptTensorList&, std::array<bool, 5>);

const c10::TypedOperatorHandle<Fwd>& butterfly_conv_handle() {
  static const auto h = find_op<Fwd>("ssm::butterfly_conv");
  return h;
}

at::Tensor contiguous_like(const at::Tensor& t) { return at::empty_like(t, at::MemoryFormat::Contiguous); }

// The shapes, and with factors the plan (which depends on the lengths: they are then made concrete).
FftConvSizes<c10::SymInt> check_meta(const char* op, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                     const OptTensor& k_rev, const OptTensorList& factors) {
  auto s = check_fft_conv<c10::SymInt>(op, u, k, D, k_rev);
  if (factors.has_value()) {
    const int64_t L = s.L.guard_int(__FILE__, __LINE__), Lk = s.Lk.guard_int(__FILE__, __LINE__);
    const int64_t n = fft_conv_size(L, Lk, s.has_k_rev);
    check_butterfly_factors(op, *factors, u, s.H.guard_int(__FILE__, __LINE__), n, butterfly_stages(n),
                            sizes_note(L, Lk, s.has_k_rev));
  }
  return s;
}

at::Tensor butterfly_conv_meta(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors) {
  check_meta("ssm::butterfly_conv", u, k, D, k_rev, factors);
  return contiguous_like(u);
}

ButterflyConvGrads butterfly_conv_backward_meta(const at::Tensor& g, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> mask) {
  const auto s = check_meta("ssm::butterfly_conv_backward", u, k, D, k_rev, factors);
  check_same_as("ssm::butterfly_conv_backward", "grad_y", g, "u", u);
  std::vector<at::Tensor> dF;
  if (mask[4] && factors.has_value())
    for (const auto& F : *factors) dF.push_back(contiguous_like(F));
  return {mask[0] ? contiguous_like(u) : at::Tensor(), mask[1] ? contiguous_like(k) : at::Tensor(),
          mask[2] && s.has_D ? contiguous_like(*D) : at::Tensor(),
          mask[3] && s.has_k_rev ? contiguous_like(*k_rev) : at::Tensor(), dF};
}

OptTensor opt_tensor(const at::Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }

// The factors travel as a plain tensor list (empty when absent) so that autograd sees each one as an input.
class ButterflyConvFunction : public torch::autograd::Function<ButterflyConvFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& u, const at::Tensor& k,
                            const OptTensor& D, const OptTensor& k_rev, at::TensorList factors, bool has_factors) {
    at::AutoDispatchBelowADInplaceOrView guard;
    std::vector<at::Tensor> save = {u, k, D.value_or(at::Tensor()), k_rev.value_or(at::Tensor())};
    save.insert(save.end(), factors.begin(), factors.end());
    ctx->save_for_backward(save);
    ctx->saved_data["has_factors"] = has_factors;
    return butterfly_conv_handle().call(u, k, D, k_rev, has_factors ? OptTensorList(factors) : std::nullopt);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    static const auto bwd = find_op<Bwd>("ssm::butterfly_conv_backward");
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
        bwd.call(grads[0].contiguous(), saved[0], saved[1], opt_tensor(saved[2]), opt_tensor(saved[3]),
                 has_factors ? OptTensorList(factors) : std::nullopt, mask);
    torch::autograd::variable_list out = {du, dk, dD, dk_rev};
    for (size_t i = 0; i < factors.size(); ++i) out.push_back(need_F ? dF.at(i) : at::Tensor());
    out.emplace_back();  // has_factors
    return out;
  }
};

at::Tensor butterfly_conv_autograd(const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                   const OptTensor& k_rev, const OptTensorList& factors) {
  return ButterflyConvFunction::apply(u, k, D, k_rev, factors.value_or(at::TensorList()), factors.has_value());
}

}  // namespace
}  // namespace ssm::ops

namespace ssm {
at::Tensor butterfly_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                          const std::optional<at::Tensor>& k_rev, const std::optional<at::TensorList>& factors) {
  return ops::butterfly_conv_handle().call(u, k, D, k_rev, factors);
}
}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  m.def("butterfly_conv(Tensor u, Tensor k, Tensor? D=None, Tensor? k_rev=None, Tensor[]? factors=None) -> Tensor");
  m.def(
      "butterfly_conv_backward(Tensor grad_y, Tensor u, Tensor k, Tensor? D, Tensor? k_rev, Tensor[]? factors, "
      "bool[5] output_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor[])");
  // The butterfly plan, for callers that build learned factors (no tensor inputs: one kernel for every backend).
  m.def("butterfly_radices(int n) -> int[]", &ssm::butterfly_radices);
  m.def("butterfly_dft_factors(int n, ScalarType dtype, int channels=0) -> Tensor[]", &ssm::butterfly_dft_factors);
}
SSM_LIBRARY_IMPL(CPU, m) {
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_cpu);
  m.impl("butterfly_conv_backward", &ssm::ops::butterfly_conv_backward_cpu);
}
#ifdef SSM_WITH_CUDA
SSM_LIBRARY_IMPL(CUDA, m) {
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_cuda);
  m.impl("butterfly_conv_backward", &ssm::ops::butterfly_conv_backward_cuda);
}
#endif
SSM_LIBRARY_IMPL(Meta, m) {
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_meta);
  m.impl("butterfly_conv_backward", &ssm::ops::butterfly_conv_backward_meta);
}
SSM_LIBRARY_IMPL(Autograd, m) {
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_autograd);
  m.impl("butterfly_conv_backward", torch::CppFunction::makeFromBoxedFunction<&ssm::ops::no_second_derivative>());
}
