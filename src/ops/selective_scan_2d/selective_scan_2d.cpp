// ssm::selective_scan_2d: schema, argument checks, Meta kernels, autograd and the C++ API. Backends:
// selective_scan_2d_cpu.cpp (kernels in cpu/), selective_scan_2d_cuda.cpp (kernels in cuda/selective_scan_2d/).
#include "ops/selective_scan_2d/selective_scan_2d.h"
#include "ssm/ops/selective_scan_2d.h"

#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

namespace ssm::ops {

template <class I>
Scan2dSizes<I> check_selective_scan_2d(const char* op, const Scan2dInputs& in) {
  const at::Tensor& x = in.x;
  check_defined(op, "x", x);
  TORCH_CHECK(x.dim() == 4, op, ": argument 'x' must have shape (batch, V, T, dim), got ", x.dim(), "-d shape ",
              shape_str(x));
  const auto dt = x.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kBFloat16 || dt == at::kHalf, op,
              ": argument 'x' must be float32, float64, bfloat16 or float16, got ", dt);
  TORCH_CHECK(!x.is_cpu() || dt == at::kFloat || dt == at::kDouble, op,
              ": argument 'x' must be float32 or float64 on the CPU (bfloat16 and float16 run on CUDA), got ", dt);
  TORCH_CHECK(!x.is_cuda() || dt != at::kDouble, op,
              ": argument 'x' must be float32, bfloat16 or float16 on CUDA (float64 runs on the CPU), got ", dt);
  const I batch = dim_size<I>(x, 0), V = dim_size<I>(x, 1), T = dim_size<I>(x, 2), dim = dim_size<I>(x, 3);
  TORCH_CHECK(V >= 1 && T >= 1 && dim >= 1, op, ": argument 'x' must have V >= 1, T >= 1 and dim >= 1, got shape ",
              shape_str(x));
  check_same_as(op, "dt1", in.dt1, "x", x);
  check_same_as(op, "dt2", in.dt2, "x", x);
  TORCH_CHECK(in.lag >= 1, op, ": argument 'lag' must be >= 1, got ", in.lag);
  const at::ScalarType sd = dt == at::kDouble ? at::kDouble : at::kFloat;
  check_defined(op, "A1", in.A1);
  TORCH_CHECK(in.A1.dim() == 2 && dim_size<I>(in.A1, 0) == dim && dim_size<I>(in.A1, 1) >= 1, op,
              ": argument 'A1' must have shape (dim, N) with dim = ", dim, " and N >= 1, got ", shape_str(in.A1));
  const I N = dim_size<I>(in.A1, 1);
  const std::array<std::pair<const char*, const at::Tensor*>, 4> As{
      {{"A1", &in.A1}, {"A2", &in.A2}, {"A3", &in.A3}, {"A4", &in.A4}}};
  for (const auto& [name, t] : As) {
    check_defined(op, name, *t);
    TORCH_CHECK(t->dim() == 2 && dim_size<I>(*t, 0) == dim && dim_size<I>(*t, 1) == N, op, ": argument '", name,
                "' must have shape (dim, N) = (", dim, ", ", N, "), got ", shape_str(*t));
    TORCH_CHECK(t->scalar_type() == sd, op, ": argument '", name, "' must be ",
                sd == at::kDouble ? "float64" : "float32", " (the state dtype for ", dt, " inputs), got ",
                t->scalar_type());
    check_same_device(op, name, *t, "x", x);
  }
  const std::array<std::pair<const char*, const at::Tensor*>, 4> BCs{
      {{"B1", &in.B1}, {"B2", &in.B2}, {"C1", &in.C1}, {"C2", &in.C2}}};
  for (const auto& [name, t] : BCs) {
    check_defined(op, name, *t);
    TORCH_CHECK(t->dim() == 4 && dim_size<I>(*t, 0) == batch && dim_size<I>(*t, 1) == V && dim_size<I>(*t, 2) == T &&
                    dim_size<I>(*t, 3) == N,
                op, ": argument '", name, "' must have shape (batch, V, T, N) = (", batch, ", ", V, ", ", T, ", ", N,
                "), got ", shape_str(*t));
    check_same_dtype(op, name, *t, "x", x);
    check_same_device(op, name, *t, "x", x);
  }
  if (in.D.defined()) {
    TORCH_CHECK(in.D.dim() == 1 && dim_size<I>(in.D, 0) == dim, op, ": argument 'D' must have shape (dim) = (", dim,
                "), got ", shape_str(in.D));
    TORCH_CHECK(in.D.scalar_type() == sd, op, ": argument 'D' must be ", sd == at::kDouble ? "float64" : "float32",
                " (the state dtype for ", dt, " inputs), got ", in.D.scalar_type());
    check_same_device(op, "D", in.D, "x", x);
  }
  return {batch, V, T, dim, N, sd};
}

template Scan2dSizes<int64_t> check_selective_scan_2d(const char*, const Scan2dInputs&);

template <class I>
Scan2dSizes<I> check_selective_scan_2d_backward(const char* op, const at::Tensor& grad_y, const Scan2dInputs& in) {
  const auto s = check_selective_scan_2d<I>(op, in);
  check_same_as(op, "grad_y", grad_y, "x", in.x);
  return s;
}

template Scan2dSizes<int64_t> check_selective_scan_2d_backward(const char*, const at::Tensor&, const Scan2dInputs&);

namespace {

using FwdSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                          const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                          const at::Tensor&, const OptTensor&, int64_t, bool);
using BwdSig = Scan2dGrads(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                           const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&,
                           int64_t, bool);

const c10::TypedOperatorHandle<FwdSig>& handle() {
  static const auto h = find_op<FwdSig>("ssm::selective_scan_2d");
  return h;
}

at::Tensor like(const at::Tensor& t) {
  return t.defined() ? at::empty_like(t, at::MemoryFormat::Contiguous) : at::Tensor();
}

at::Tensor fwd_meta(const Scan2dInputs& in) {
  check_selective_scan_2d<c10::SymInt>("ssm::selective_scan_2d", in);
  return like(in.x);
}

Scan2dGrads bwd_meta(const at::Tensor& grad_y, const Scan2dInputs& in) {
  check_selective_scan_2d_backward<c10::SymInt>("ssm::selective_scan_2d_backward", grad_y, in);
  return {like(in.x),  like(in.dt1), like(in.dt2), like(in.A1), like(in.A2), like(in.A3),
          like(in.A4), like(in.B1),  like(in.B2),  like(in.C1), like(in.C2), like(in.D)};
}

class Scan2dFunction : public torch::autograd::Function<Scan2dFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& dt1,
                            const at::Tensor& dt2, const at::Tensor& A1, const at::Tensor& A2, const at::Tensor& A3,
                            const at::Tensor& A4, const at::Tensor& B1, const at::Tensor& B2, const at::Tensor& C1,
                            const at::Tensor& C2, const OptTensor& D, int64_t lag, bool reverse_variates) {
    at::AutoDispatchBelowADInplaceOrView guard;
    at::Tensor y = handle().call(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates);
    ctx->saved_data["lag"] = lag;
    ctx->saved_data["reverse_variates"] = reverse_variates;
    ctx->save_for_backward({x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D.value_or(at::Tensor())});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    static const auto bwd = find_op<BwdSig>("ssm::selective_scan_2d_backward");
    const auto s = ctx->get_saved_variables();
    auto [dx, ddt1, ddt2, dA1, dA2, dA3, dA4, dB1, dB2, dC1, dC2, dD] =
        bwd.call(grads[0].contiguous(), s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10],
                 s[11].defined() ? OptTensor(s[11]) : std::nullopt, ctx->saved_data["lag"].toInt(),
                 ctx->saved_data["reverse_variates"].toBool());
    return {dx, ddt1, ddt2, dA1, dA2, dA3, dA4, dB1, dB2, dC1, dC2, dD, at::Tensor(), at::Tensor()};
  }
};

at::Tensor scan2d_autograd(SSM_SCAN2D_PARAMS) {
  return Scan2dFunction::apply(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates);
}

}  // namespace
}  // namespace ssm::ops

namespace ssm {
at::Tensor selective_scan_2d(const at::Tensor& x, const at::Tensor& dt1, const at::Tensor& dt2, const at::Tensor& A1,
                             const at::Tensor& A2, const at::Tensor& A3, const at::Tensor& A4, const at::Tensor& B1,
                             const at::Tensor& B2, const at::Tensor& C1, const at::Tensor& C2,
                             const std::optional<at::Tensor>& D, int64_t lag, bool reverse_variates) {
  return ops::handle().call(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates);
}
}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  m.def(
      "selective_scan_2d(Tensor x, Tensor dt1, Tensor dt2, Tensor A1, Tensor A2, Tensor A3, Tensor A4, Tensor B1, "
      "Tensor B2, Tensor C1, Tensor C2, Tensor? D=None, int lag=1, bool reverse_variates=False) -> Tensor");
  m.def(
      "selective_scan_2d_backward(Tensor grad_y, Tensor x, Tensor dt1, Tensor dt2, Tensor A1, Tensor A2, Tensor A3, "
      "Tensor A4, Tensor B1, Tensor B2, Tensor C1, Tensor C2, Tensor? D, int lag, bool reverse_variates) -> "
      "(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
}
SSM_LIBRARY_IMPL(Meta, m) {
  m.impl("selective_scan_2d", &ssm::ops::scan2d_entry<&ssm::ops::fwd_meta>);
  m.impl("selective_scan_2d_backward", &ssm::ops::scan2d_backward_entry<&ssm::ops::bwd_meta>);
}
SSM_LIBRARY_IMPL(Autograd, m) {
  m.impl("selective_scan_2d", &ssm::ops::scan2d_autograd);
  m.impl("selective_scan_2d_backward", torch::CppFunction::makeFromBoxedFunction<&ssm::ops::no_second_derivative>());
}
