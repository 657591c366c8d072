// ssm::vandermonde: schema, argument checks, Meta kernels, autograd and the C++ API. Backends: vandermonde_cpu.cpp
// (kernels in cpu/), vandermonde_cuda.cpp (kernels in cuda/vandermonde/).
#include "ops/vandermonde/vandermonde.h"

#include "ssm/ops/vandermonde.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

namespace ssm::ops {

template <class I>
VandermondeSizes<I> check_vandermonde(const at::Tensor& v, const at::Tensor& x, const I& L) {
  constexpr const char* op = "ssm::vandermonde";
  check_defined(op, "v", v);
  check_defined(op, "x", x);
  TORCH_CHECK(v.dim() == 2, op, ": argument 'v' must have shape (B, N), got ", v.dim(), "-d shape ", shape_str(v));
  TORCH_CHECK(x.dim() == 2, op, ": argument 'x' must have shape (B, N), got ", x.dim(), "-d shape ", shape_str(x));
  TORCH_CHECK(v.scalar_type() == at::kComplexFloat || v.scalar_type() == at::kComplexDouble, op,
              ": argument 'v' must be complex64 or complex128, got ", v.scalar_type());
  check_same_dtype(op, "x", x, "v", v);
  check_same_device(op, "x", x, "v", v);
  TORCH_CHECK(x.sym_sizes() == v.sym_sizes(), op, ": argument 'x' must have the shape of 'v' ", shape_str(v),
              ", got ", shape_str(x));
  TORCH_CHECK(dim_size<I>(v, 1) >= 1, op, ": argument 'v' must have N >= 1 states, got shape ", shape_str(v));
  TORCH_CHECK(L >= 1, op, ": argument 'L' must be >= 1, got ", L);
  return {dim_size<I>(v, 0), dim_size<I>(v, 1), L};
}

template <class I>
VandermondeSizes<I> check_vandermonde_backward(const at::Tensor& grad_out, const at::Tensor& v, const at::Tensor& x) {
  constexpr const char* op = "ssm::vandermonde_backward";
  check_defined(op, "grad_out", grad_out);
  TORCH_CHECK(grad_out.dim() == 2, op, ": argument 'grad_out' must have shape (B, L), got ", shape_str(grad_out));
  auto s = check_vandermonde<I>(v, x, dim_size<I>(grad_out, 1));
  TORCH_CHECK(dim_size<I>(grad_out, 0) == s.B, op, ": argument 'grad_out' must have B = ", s.B,
              " rows, got shape ", shape_str(grad_out));
  const auto real = c10::toRealValueType(v.scalar_type());
  TORCH_CHECK(grad_out.scalar_type() == real, op, ": argument 'grad_out' must have dtype ", real, ", got ",
              grad_out.scalar_type());
  check_same_device(op, "grad_out", grad_out, "v", v);
  return s;
}

template VandermondeSizes<int64_t> check_vandermonde(const at::Tensor&, const at::Tensor&, const int64_t&);
template VandermondeSizes<int64_t> check_vandermonde_backward(const at::Tensor&, const at::Tensor&, const at::Tensor&);

namespace {

using Fwd = at::Tensor(const at::Tensor&, const at::Tensor&, c10::SymInt);
using Bwd = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&);

const c10::TypedOperatorHandle<Fwd>& vandermonde_handle() {
  static const auto h = find_op<Fwd>("ssm::vandermonde");
  return h;
}

at::Tensor vandermonde_meta(const at::Tensor& v, const at::Tensor& x, c10::SymInt L) {
  const auto s = check_vandermonde<c10::SymInt>(v, x, L);
  return at::empty_symint({s.B, s.L}, v.options().dtype(c10::toRealValueType(v.scalar_type())));
}

std::tuple<at::Tensor, at::Tensor> vandermonde_backward_meta(const at::Tensor& g, const at::Tensor& v,
                                                             const at::Tensor& x) {
  check_vandermonde_backward<c10::SymInt>(g, v, x);
  return {at::empty_like(v, at::MemoryFormat::Contiguous), at::empty_like(x, at::MemoryFormat::Contiguous)};
}

class VandermondeFunction : public torch::autograd::Function<VandermondeFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& v, const at::Tensor& x,
                            c10::SymInt L) {
    at::AutoDispatchBelowADInplaceOrView guard;
    ctx->save_for_backward({v, x});
    return vandermonde_handle().call(v, x, std::move(L));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    static const auto bwd = find_op<Bwd>("ssm::vandermonde_backward");
    const auto saved = ctx->get_saved_variables();
    auto [dv, dx] = bwd.call(grads[0].contiguous(), saved[0], saved[1]);
    return {dv, dx, at::Tensor()};
  }
};

at::Tensor vandermonde_autograd(const at::Tensor& v, const at::Tensor& x, c10::SymInt L) {
  return VandermondeFunction::apply(v, x, std::move(L));
}

}  // namespace
}  // namespace ssm::ops

namespace ssm {
at::Tensor vandermonde(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  return ops::vandermonde_handle().call(v, x, c10::SymInt(L));
}
}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  m.def("vandermonde(Tensor v, Tensor x, SymInt L) -> Tensor");
  m.def("vandermonde_backward(Tensor grad_out, Tensor v, Tensor x) -> (Tensor, Tensor)");
}
SSM_LIBRARY_IMPL(CPU, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_cpu);
  m.impl("vandermonde_backward", &ssm::ops::vandermonde_backward_cpu);
}
#ifdef SSM_WITH_CUDA
SSM_LIBRARY_IMPL(CUDA, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_cuda);
  m.impl("vandermonde_backward", &ssm::ops::vandermonde_backward_cuda);
}
#endif
SSM_LIBRARY_IMPL(Meta, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_meta);
  m.impl("vandermonde_backward", &ssm::ops::vandermonde_backward_meta);
}
SSM_LIBRARY_IMPL(Autograd, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_autograd);
  m.impl("vandermonde_backward", torch::CppFunction::makeFromBoxedFunction<&ssm::ops::no_second_derivative>());
}
