// ssm::fft_conv: schema, argument checks, Meta kernels, autograd, the C++ API and the FFT length. Backends:
// fft_conv_cpu.cpp (LibTorch's FFT), fft_conv_cuda.cpp (cuFFT and the kernels of cuda/fft_conv/).
#include "ops/fft_conv/fft_conv.h"

#include "ssm/ops/fft_conv.h"

#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

namespace ssm::ops {

template <class I>
FftConvSizes<I> check_fft_conv(const char* op, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                               const OptTensor& k_rev) {
  check_defined(op, "u", u);
  check_defined(op, "k", k);
  TORCH_CHECK(u.dim() == 3, op, ": argument 'u' must have shape (B, H, L), got ", u.dim(), "-d shape ",
              shape_str(u));
  TORCH_CHECK(k.dim() == 2, op, ": argument 'k' must have shape (H, Lk), got ", k.dim(), "-d shape ", shape_str(k));
  const auto dt = u.scalar_type();
  if (u.is_cuda()) {
    TORCH_CHECK(dt == at::kFloat || dt == at::kBFloat16 || dt == at::kHalf, op,
                ": argument 'u' must be float32, bfloat16 or float16 on CUDA, got ", dt);
  } else {
    TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, op, ": argument 'u' must be float32 or float64 on ",
                u.device(), ", got ", dt);
  }
  check_same_dtype(op, "k", k, "u", u);
  check_same_device(op, "k", k, "u", u);
  const I B = dim_size<I>(u, 0), H = dim_size<I>(u, 1), L = dim_size<I>(u, 2), Lk = dim_size<I>(k, 1);
  TORCH_CHECK(dim_size<I>(k, 0) == H, op, ": argument 'k' must have H = ", H, " rows like u ", shape_str(u),
              ", got k ", shape_str(k));
  TORCH_CHECK(L >= 1, op, ": argument 'u' must have length L >= 1, got shape ", shape_str(u));
  TORCH_CHECK(Lk >= 1 && Lk <= L, op, ": argument 'k' must have length 1 <= Lk <= L = ", L, ", got k ", shape_str(k));
  const bool has_D = D.has_value() && D->defined();
  const bool has_k_rev = k_rev.has_value() && k_rev->defined();
  if (has_D) {
    TORCH_CHECK(D->dim() == 1 && dim_size<I>(*D, 0) == H, op, ": argument 'D' must have shape (H) = (", H,
                "), got ", shape_str(*D));
    check_same_dtype(op, "D", *D, "u", u);
    check_same_device(op, "D", *D, "u", u);
  }
  if (has_k_rev) {
    TORCH_CHECK(k_rev->sym_sizes() == k.sym_sizes(), op, ": argument 'k_rev' must have the shape of 'k' ",
                shape_str(k), ", got ", shape_str(*k_rev));
    check_same_dtype(op, "k_rev", *k_rev, "u", u);
    check_same_device(op, "k_rev", *k_rev, "u", u);
  }
  return {B, H, L, Lk, has_D, has_k_rev};
}

template FftConvSizes<int64_t> check_fft_conv(const char*, const at::Tensor&, const at::Tensor&, const OptTensor&,
                                              const OptTensor&);
template FftConvSizes<c10::SymInt> check_fft_conv(const char*, const at::Tensor&, const at::Tensor&, const OptTensor&,
                                                  const OptTensor&);

void check_fft_conv_grad(const at::Tensor& grad_y, const at::Tensor& u) {
  check_same_as("ssm::fft_conv_backward", "grad_y", grad_y, "u", u);
}

namespace {

using Fwd = at::Tensor(const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&);
using Bwd = FftConvGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&, const OptTensor&,
                         std::array<bool, 4>);

const c10::TypedOperatorHandle<Fwd>& fft_conv_handle() {
  static const auto h = find_op<Fwd>("ssm::fft_conv");
  return h;
}

at::Tensor fft_conv_meta(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev) {
  check_fft_conv<c10::SymInt>("ssm::fft_conv", u, k, D, k_rev);
  return at::empty_like(u, at::MemoryFormat::Contiguous);
}

FftConvGrads fft_conv_backward_meta(const at::Tensor& g, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                    const OptTensor& k_rev, std::array<bool, 4> mask) {
  const auto s = check_fft_conv<c10::SymInt>("ssm::fft_conv_backward", u, k, D, k_rev);
  check_fft_conv_grad(g, u);
  const auto like = [](const at::Tensor& t) { return at::empty_like(t, at::MemoryFormat::Contiguous); };
  return {mask[0] ? like(u) : at::Tensor(), mask[1] ? like(k) : at::Tensor(),
          mask[2] && s.has_D ? like(*D) : at::Tensor(), mask[3] && s.has_k_rev ? like(*k_rev) : at::Tensor()};
}

OptTensor opt(const at::Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }

class FftConvFunction : public torch::autograd::Function<FftConvFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& u, const at::Tensor& k,
                            const OptTensor& D, const OptTensor& k_rev) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({u, k, D.value_or(at::Tensor()), k_rev.value_or(at::Tensor())});
    return fft_conv_handle().call(u, k, D, k_rev);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    static const auto bwd = find_op<Bwd>("ssm::fft_conv_backward");
    const auto saved = ctx->get_saved_variables();
    // needs_input_grad counts only the tensor inputs that were given: u, k, then D and k_rev when present.
    const bool has_D = saved[2].defined(), has_k_rev = saved[3].defined();
    const std::array<bool, 4> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      has_D && ctx->needs_input_grad(2),
                                      has_k_rev && ctx->needs_input_grad(has_D ? 3 : 2)};
    auto [du, dk, dD, dk_rev] =
        bwd.call(grads[0].contiguous(), saved[0], saved[1], opt(saved[2]), opt(saved[3]), mask);
    return {du, dk, dD, dk_rev};
  }
};

at::Tensor fft_conv_autograd(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev) {
  return FftConvFunction::apply(u, k, D, k_rev);
}

}  // namespace
}  // namespace ssm::ops

namespace ssm {

at::Tensor fft_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                    const std::optional<at::Tensor>& k_rev) {
  return ops::fft_conv_handle().call(u, k, D, k_rev);
}

int64_t fft_conv_size(int64_t L, int64_t Lk, bool bidirectional) {
  TORCH_CHECK(L >= 1 && Lk >= 1, "ssm::fft_conv_size: L and Lk must be >= 1, got L = ", L, ", Lk = ", Lk);
  // Every candidate the search below forms stays under 7 times the result, itself at most twice the target: a target
  // of at most 2^59 keeps them all within int64.
  constexpr int64_t kMaxLength = int64_t{1} << 59;
  TORCH_CHECK(L <= kMaxLength, "ssm::fft_conv_size: argument 'L' = ", L, " is too large (at most 2^59 = ", kMaxLength,
              ")");
  TORCH_CHECK(Lk <= kMaxLength - L, "ssm::fft_conv_size: argument 'Lk' = ", Lk, " is too large: L + Lk must be at most ",
              "2^59 = ", kMaxLength, ", got L = ", L);
  // At least 2: cuFFT plans no transform of length 1.
  const int64_t target = std::max<int64_t>(2, L + Lk - (bidirectional ? 0 : 1));
  int64_t best = 1;
  while (best < target) best *= 2;  // a power of two always qualifies
  for (int64_t p7 = 1; p7 < best; p7 *= 7)
    for (int64_t p5 = p7; p5 < best; p5 *= 5)
      for (int64_t p3 = p5; p3 < best; p3 *= 3) {
        int64_t m = p3;
        while (m < target) m *= 2;
        best = std::min(best, m);
      }
  return best;
}

}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  m.def("fft_conv(Tensor u, Tensor k, Tensor? D=None, Tensor? k_rev=None) -> Tensor");
  m.def(
      "fft_conv_backward(Tensor grad_y, Tensor u, Tensor k, Tensor? D, Tensor? k_rev, bool[4] output_mask) -> "
      "(Tensor, Tensor, Tensor, Tensor)");
  // The FFT length (no tensor inputs: one kernel for every backend).
  m.def("fft_conv_size(int L, int Lk, bool bidirectional=False) -> int", &ssm::fft_conv_size);
}
SSM_LIBRARY_IMPL(CPU, m) {
  m.impl("fft_conv", &ssm::ops::fft_conv_cpu);
  m.impl("fft_conv_backward", &ssm::ops::fft_conv_backward_cpu);
}
#ifdef SSM_WITH_CUDA
SSM_LIBRARY_IMPL(CUDA, m) {
  m.impl("fft_conv", &ssm::ops::fft_conv_cuda);
  m.impl("fft_conv_backward", &ssm::ops::fft_conv_backward_cuda);
}
#endif
SSM_LIBRARY_IMPL(Meta, m) {
  m.impl("fft_conv", &ssm::ops::fft_conv_meta);
  m.impl("fft_conv_backward", &ssm::ops::fft_conv_backward_meta);
}
SSM_LIBRARY_IMPL(Autograd, m) {
  m.impl("fft_conv", &ssm::ops::fft_conv_autograd);
  m.impl("fft_conv_backward", torch::CppFunction::makeFromBoxedFunction<&ssm::ops::no_second_derivative>());
}
