// ssm::diag_scan: schema, argument checks, Meta kernels, autograd and the C++ API. Backends: diag_scan_cpu.cpp,
// diag_scan_cuda.cpp (kernels in cuda/diag_scan/).
#include "ops/diag_scan/diag_scan.h"

#include "ssm/ops/diag_scan.h"

#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

namespace ssm::ops {

template <class I>
DiagScanSizes<I> check_diag_scan(const char* op, const at::Tensor& a, const at::Tensor& b, const OptTensor& h0) {
  check_defined(op, "a", a);
  check_defined(op, "b", b);
  TORCH_CHECK(b.dim() == 3, op, ": argument 'b' must have shape (B, L, P), got ", b.dim(), "-d shape ", shape_str(b));
  const auto dt = b.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kComplexFloat || dt == at::kComplexDouble, op,
              ": argument 'b' must be float32, float64, complex64 or complex128, got ", dt);
  check_same_dtype(op, "a", a, "b", b);
  check_same_device(op, "a", a, "b", b);
  const I B = dim_size<I>(b, 0), L = dim_size<I>(b, 1), P = dim_size<I>(b, 2);
  TORCH_CHECK(L >= 1 && P >= 1, op, ": argument 'b' must have L >= 1 and P >= 1, got shape ", shape_str(b));
  const bool varying = a.dim() == 3;
  TORCH_CHECK((a.dim() == 1 && dim_size<I>(a, 0) == P) || (varying && a.sym_sizes() == b.sym_sizes()), op,
              ": argument 'a' must have shape (P) = (", P, ") or the shape of 'b' ", shape_str(b), ", got ",
              shape_str(a));
  const bool has_h0 = h0.has_value() && h0->defined();
  if (has_h0) {
    TORCH_CHECK(h0->dim() == 2 && dim_size<I>(*h0, 0) == B && dim_size<I>(*h0, 1) == P, op,
                ": argument 'h0' must have shape (B, P) = (", B, ", ", P, "), got ", shape_str(*h0));
    check_same_dtype(op, "h0", *h0, "b", b);
    check_same_device(op, "h0", *h0, "b", b);
  }
  return {B, L, P, varying, has_h0};
}

template DiagScanSizes<int64_t> check_diag_scan(const char*, const at::Tensor&, const at::Tensor&, const OptTensor&);

namespace {

using Fwd = at::Tensor(const at::Tensor&, const at::Tensor&, bool, const OptTensor&);
using Bwd = DiagScanGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&, bool, const OptTensor&,
                          std::array<bool, 3>);

const c10::TypedOperatorHandle<Fwd>& diag_scan_handle() {
  static const auto h = find_op<Fwd>("ssm::diag_scan");
  return h;
}

at::Tensor contiguous_like(const at::Tensor& t) { return at::empty_like(t, at::MemoryFormat::Contiguous); }

at::Tensor diag_scan_meta(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0) {
  check_diag_scan<c10::SymInt>("ssm::diag_scan", a, b, h0);
  return contiguous_like(b);
}

DiagScanGrads diag_scan_backward_meta(const at::Tensor& g, const at::Tensor& a, const at::Tensor& x, bool reverse,
                                      const OptTensor& h0, std::array<bool, 3> mask) {
  const auto s = check_diag_scan<c10::SymInt>("ssm::diag_scan_backward", a, x, h0);
  check_same_as("ssm::diag_scan_backward", "grad_x", g, "x", x);
  return {mask[0] ? contiguous_like(a) : at::Tensor(), mask[1] ? contiguous_like(x) : at::Tensor(),
          mask[2] && s.has_h0 ? contiguous_like(*h0) : at::Tensor()};
}

class DiagScanFunction : public torch::autograd::Function<DiagScanFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a, const at::Tensor& b,
                            bool reverse, const OptTensor& h0) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor x = diag_scan_handle().call(a, b, reverse, h0);
    ctx->saved_data["reverse"] = reverse;
    ctx->save_for_backward({a, x, h0.value_or(at::Tensor())});
    return x;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    static const auto bwd = find_op<Bwd>("ssm::diag_scan_backward");
    const auto saved = ctx->get_saved_variables();
    const bool has_h0 = saved[2].defined();
    // needs_input_grad counts the tensor inputs given: a, b, then h0 when present.
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0), ctx->needs_input_grad(1),
                                      has_h0 && ctx->needs_input_grad(2)};
    auto [da, db, dh0] = bwd.call(grads[0].contiguous(), saved[0], saved[1], ctx->saved_data["reverse"].toBool(),
                                  has_h0 ? OptTensor(saved[2]) : std::nullopt, mask);
    return {da, db, at::Tensor(), dh0};
  }
};

at::Tensor diag_scan_autograd(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0) {
  return DiagScanFunction::apply(a, b, reverse, h0);
}

}  // namespace
}  // namespace ssm::ops

namespace ssm {
at::Tensor diag_scan(const at::Tensor& a, const at::Tensor& b, bool reverse, const std::optional<at::Tensor>& h0) {
  return ops::diag_scan_handle().call(a, b, reverse, h0);
}
}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  m.def("diag_scan(Tensor a, Tensor b, bool reverse=False, Tensor? h0=None) -> Tensor");
  m.def(
      "diag_scan_backward(Tensor grad_x, Tensor a, Tensor x, bool reverse, Tensor? h0, bool[3] output_mask) -> "
      "(Tensor, Tensor, Tensor)");
}
SSM_LIBRARY_IMPL(CPU, m) {
  m.impl("diag_scan", &ssm::ops::diag_scan_cpu);
  m.impl("diag_scan_backward", &ssm::ops::diag_scan_backward_cpu);
}
#ifdef SSM_WITH_CUDA
SSM_LIBRARY_IMPL(CUDA, m) {
  m.impl("diag_scan", &ssm::ops::diag_scan_cuda);
  m.impl("diag_scan_backward", &ssm::ops::diag_scan_backward_cuda);
}
#endif
SSM_LIBRARY_IMPL(Meta, m) {
  m.impl("diag_scan", &ssm::ops::diag_scan_meta);
  m.impl("diag_scan_backward", &ssm::ops::diag_scan_backward_meta);
}
SSM_LIBRARY_IMPL(Autograd, m) {
  m.impl("diag_scan", &ssm::ops::diag_scan_autograd);
  m.impl("diag_scan_backward", torch::CppFunction::makeFromBoxedFunction<&ssm::ops::no_second_derivative>());
}
