// ssm::selective_scan: schema, argument checks, Meta kernels, autograd and the C++ API. Backends:
// selective_scan_cpu.cpp (kernels in cpu/), selective_scan_cuda.cpp (kernels in cuda/selective_scan/).
//
// Three ops: selective_scan (the public one: out, last_state), selective_scan_fwd (the same plus the chunk
// checkpoints that the backward needs; called by the autograd kernel below autograd) and selective_scan_backward.
#include "ops/selective_scan/selective_scan.h"
#include "ssm/ops/selective_scan.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <sstream>
#include <string>

namespace ssm::ops {

SelectiveScanInputs selective_scan_inputs(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                          const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                          const OptTensor& z, const OptTensor& delta_bias, bool delta_softplus,
                                          const OptTensor& h0, const OptTensor& lengths) {
  return {u,
          delta,
          A,
          B,
          C,
          D.value_or(at::Tensor()),
          z.value_or(at::Tensor()),
          delta_bias.value_or(at::Tensor()),
          delta_softplus,
          h0.value_or(at::Tensor()),
          lengths.value_or(at::Tensor())};
}

namespace {

const char* state_dtype_name(at::ScalarType t) { return t == at::kDouble ? "float64" : "float32"; }

// A state-dtype parameter: shape `shape` (written as `what`), dtype state_dtype, u's device.
template <class I>
void check_param(const char* op, const char* name, const at::Tensor& t, std::initializer_list<I> shape,
                 const char* what, at::ScalarType state_dtype, const at::Tensor& u) {
  bool ok = t.dim() == static_cast<int64_t>(shape.size());
  int64_t i = 0;
  for (const I& s : shape) ok = ok && dim_size<I>(t, i++) == s;
  if (!ok) {
    std::ostringstream want;
    i = 0;
    for (const I& s : shape) want << (i++ ? ", " : "(") << s;
    TORCH_CHECK(false, op, ": argument '", name, "' must have shape ", what, " = ", want.str(), "), got ",
                shape_str(t));
  }
  TORCH_CHECK(t.scalar_type() == state_dtype, op, ": argument '", name, "' must be ", state_dtype_name(state_dtype),
              " (the state dtype for ", u.scalar_type(), " inputs), got ", t.scalar_type());
  check_same_device(op, name, t, "u", u);
}

}  // namespace

template <class I>
SelectiveScanSizes<I> check_selective_scan(const char* op, const SelectiveScanInputs& in) {
  const at::Tensor& u = in.u;
  check_defined(op, "u", u);
  check_defined(op, "delta", in.delta);
  check_defined(op, "A", in.A);
  check_defined(op, "B", in.B);
  check_defined(op, "C", in.C);
  TORCH_CHECK(u.dim() == 3, op, ": argument 'u' must have shape (batch, dim, L), got ", u.dim(), "-d shape ",
              shape_str(u));
  const auto dt = u.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kBFloat16 || dt == at::kHalf, op,
              ": argument 'u' must be float32, float64, bfloat16 or float16, got ", dt);
  TORCH_CHECK(!u.is_cpu() || dt == at::kFloat || dt == at::kDouble, op,
              ": argument 'u' must be float32 or float64 on the CPU (bfloat16 and float16 run on CUDA), got ", dt);
  TORCH_CHECK(!u.is_cuda() || dt != at::kDouble, op,
              ": argument 'u' must be float32, bfloat16 or float16 on CUDA (float64 runs on the CPU), got ", dt);
  const I batch = dim_size<I>(u, 0), dim = dim_size<I>(u, 1), L = dim_size<I>(u, 2);
  TORCH_CHECK(dim >= 1 && L >= 1, op, ": argument 'u' must have dim >= 1 and L >= 1, got shape ", shape_str(u));
  check_same_as(op, "delta", in.delta, "u", u);
  if (in.z.defined()) check_same_as(op, "z", in.z, "u", u);
  const at::ScalarType sd = dt == at::kDouble ? at::kDouble : at::kFloat;
  TORCH_CHECK(in.A.dim() == 2 && dim_size<I>(in.A, 0) == dim, op,
              ": argument 'A' must have shape (dim, N) with dim = ", dim, ", got ", shape_str(in.A));
  const I N = dim_size<I>(in.A, 1);
  TORCH_CHECK(N >= 1, op, ": argument 'A' must have N >= 1, got shape ", shape_str(in.A));
  check_param<I>(op, "A", in.A, {dim, N}, "(dim, N)", sd, u);
  // B and C: (batch, N, L), (batch, G, N, L) or (dim, N).
  I G = 1;
  bool grouped_seen = false;
  std::array<bool, 2> fixed{};
  const std::array<std::pair<const char*, const at::Tensor*>, 2> bc{{{"B", &in.B}, {"C", &in.C}}};
  for (size_t k = 0; k < 2; ++k) {
    const char* name = bc[k].first;
    const at::Tensor& t = *bc[k].second;
    check_same_dtype(op, name, t, "u", u);
    check_same_device(op, name, t, "u", u);
    if (t.dim() == 2) {
      fixed[k] = true;
      TORCH_CHECK(dim_size<I>(t, 0) == dim && dim_size<I>(t, 1) == N, op, ": argument '", name,
                  "' must have shape (batch, N, L), (batch, G, N, L) or (dim, N) = (", dim, ", ", N, "), got ",
                  shape_str(t));
      continue;
    }
    const int64_t nd = t.dim();
    TORCH_CHECK((nd == 3 || nd == 4) && dim_size<I>(t, 0) == batch && dim_size<I>(t, nd - 2) == N &&
                    dim_size<I>(t, nd - 1) == L,
                op, ": argument '", name, "' must have shape (batch, N, L) = (", batch, ", ", N, ", ", L,
                "), (batch, G, N, L) or (dim, N), got ", shape_str(t));
    const I g = nd == 4 ? dim_size<I>(t, 1) : I(1);
    TORCH_CHECK(g >= 1 && dim % g == 0, op, ": argument '", name, "' has G = ", g,
                " groups, which must divide dim = ", dim, " (shape ", shape_str(t), ")");
    TORCH_CHECK(!grouped_seen || g == G, op, ": arguments 'B' and 'C' must have the same number of groups, got ", G,
                " and ", g);
    G = g;
    grouped_seen = true;
  }
  if (in.D.defined()) check_param<I>(op, "D", in.D, {dim}, "(dim)", sd, u);
  if (in.delta_bias.defined()) check_param<I>(op, "delta_bias", in.delta_bias, {dim}, "(dim)", sd, u);
  if (in.h0.defined()) check_param<I>(op, "h0", in.h0, {batch, dim, N}, "(batch, dim, N)", sd, u);
  if (in.lengths.defined()) {
    const at::Tensor& l = in.lengths;
    TORCH_CHECK(l.dim() == 1 && dim_size<I>(l, 0) == batch, op, ": argument 'lengths' must have shape (batch) = (",
                batch, "), got ", shape_str(l));
    TORCH_CHECK(l.scalar_type() == at::kLong, op, ": argument 'lengths' must be int64, got ", l.scalar_type());
    check_same_device(op, "lengths", l, "u", u);
  }
  const I chunks = (L + (kSelectiveScanCheckpointEvery - 1)) / kSelectiveScanCheckpointEvery;
  return {batch, dim, L, N, G, chunks, fixed[0], fixed[1], sd};
}

template SelectiveScanSizes<int64_t> check_selective_scan(const char*, const SelectiveScanInputs&);

template <class I>
SelectiveScanSizes<I> check_selective_scan_backward(const char* op, const at::Tensor& grad_out,
                                                    const at::Tensor& grad_last, const SelectiveScanInputs& in,
                                                    const at::Tensor& checkpoints) {
  const auto s = check_selective_scan<I>(op, in);
  if (grad_out.defined()) check_same_as(op, "grad_out", grad_out, "u", in.u);
  if (grad_last.defined())
    check_param<I>(op, "grad_last_state", grad_last, {s.batch, s.dim, s.N}, "(batch, dim, N)", s.state_dtype, in.u);
  check_defined(op, "checkpoints", checkpoints);
  check_param<I>(op, "checkpoints", checkpoints, {s.batch, s.dim, s.chunks, s.N}, "(batch, dim, chunks, N)",
                 s.state_dtype, in.u);
  return s;
}

template SelectiveScanSizes<int64_t> check_selective_scan_backward(const char*, const at::Tensor&, const at::Tensor&,
                                                                   const SelectiveScanInputs&, const at::Tensor&);

void check_lengths_values(const char* op, const at::Tensor& lengths, int64_t L) {
  if (!lengths.defined() || lengths.numel() == 0) return;
  const at::Tensor l = lengths.cpu();
  const int64_t* p = l.contiguous().const_data_ptr<int64_t>();
  for (int64_t b = 0; b < l.numel(); ++b)
    TORCH_CHECK(p[b] >= 1 && p[b] <= L, op, ": argument 'lengths' must hold values in [1, L] = [1, ", L, "], got ",
                p[b], " at index ", b);
}

namespace {

using PublicSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                     const at::Tensor&, const at::Tensor&, const OptTensor&,
                                                     const OptTensor&, const OptTensor&, bool, const OptTensor&,
                                                     const OptTensor&);
using FwdSig = SelectiveScanFwd(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                const at::Tensor&, const OptTensor&, const OptTensor&, const OptTensor&, bool,
                                const OptTensor&, const OptTensor&);
using BwdSig = SelectiveScanGrads(const OptTensor&, const OptTensor&, const at::Tensor&, const at::Tensor&,
                                  const at::Tensor&, const at::Tensor&, const at::Tensor&, const OptTensor&,
                                  const OptTensor&, const OptTensor&, bool, const OptTensor&, const OptTensor&,
                                  const at::Tensor&);

const c10::TypedOperatorHandle<PublicSig>& public_handle() {
  static const auto h = find_op<PublicSig>("ssm::selective_scan");
  return h;
}

OptTensor opt(const at::Tensor& t) { return t.defined() ? OptTensor(t) : std::nullopt; }
at::Tensor like(const at::Tensor& t) {
  return t.defined() ? at::empty_like(t, at::MemoryFormat::Contiguous) : at::Tensor();
}

SelectiveScanFwd fwd_meta(const SelectiveScanInputs& in, bool want_checkpoints) {
  const auto s = check_selective_scan<c10::SymInt>("ssm::selective_scan", in);
  const auto so = in.u.options().dtype(s.state_dtype);
  return {like(in.u), at::empty_symint({s.batch, s.dim, s.N}, so),
          want_checkpoints ? at::empty_symint({s.batch, s.dim, s.chunks, s.N}, so) : at::Tensor()};
}

SelectiveScanGrads bwd_meta(const at::Tensor& grad_out, const at::Tensor& grad_last, const SelectiveScanInputs& in,
                            const at::Tensor& checkpoints) {
  check_selective_scan_backward<c10::SymInt>("ssm::selective_scan_backward", grad_out, grad_last, in, checkpoints);
  return {like(in.u), like(in.delta), like(in.A),          like(in.B), like(in.C),
          like(in.D), like(in.z),     like(in.delta_bias), like(in.h0)};
}

class SelectiveScanFunction : public torch::autograd::Function<SelectiveScanFunction> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const at::Tensor& u,
                                                const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B,
                                                const at::Tensor& C, const OptTensor& D, const OptTensor& z,
                                                const OptTensor& delta_bias, bool delta_softplus, const OptTensor& h0,
                                                const OptTensor& lengths) {
    static const auto fwd = find_op<FwdSig>("ssm::selective_scan_fwd");
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, last, checkpoints] = fwd.call(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths);
    ctx->saved_data["delta_softplus"] = delta_softplus;
    ctx->save_for_backward({u, delta, A, B, C, D.value_or(at::Tensor()), z.value_or(at::Tensor()),
                            delta_bias.value_or(at::Tensor()), h0.value_or(at::Tensor()),
                            lengths.value_or(at::Tensor()), checkpoints});
    return {out, last};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    static const auto bwd = find_op<BwdSig>("ssm::selective_scan_backward");
    const auto s = ctx->get_saved_variables();
    auto [du, ddelta, dA, dB, dC, dD, dz, dbias, dh0] =
        bwd.call(opt(grads[0]), opt(grads[1]), s[0], s[1], s[2], s[3], s[4], opt(s[5]), opt(s[6]), opt(s[7]),
                 ctx->saved_data["delta_softplus"].toBool(), opt(s[8]), opt(s[9]), s[10]);
    return {du, ddelta, dA, dB, dC, dD, dz, dbias, at::Tensor(), dh0, at::Tensor()};
  }
};

std::tuple<at::Tensor, at::Tensor> selective_scan_autograd(const at::Tensor& u, const at::Tensor& delta,
                                                           const at::Tensor& A, const at::Tensor& B,
                                                           const at::Tensor& C, const OptTensor& D, const OptTensor& z,
                                                           const OptTensor& delta_bias, bool delta_softplus,
                                                           const OptTensor& h0, const OptTensor& lengths) {
  auto r = SelectiveScanFunction::apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths);
  return {r[0], r[1]};
}

}  // namespace
}  // namespace ssm::ops

namespace ssm {
std::tuple<at::Tensor, at::Tensor> selective_scan(
    const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
    const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& z, const std::optional<at::Tensor>& delta_bias,
    bool delta_softplus, const std::optional<at::Tensor>& h0, const std::optional<at::Tensor>& lengths) {
  return ops::public_handle().call(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths);
}
}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  m.def(
      "selective_scan(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D=None, Tensor? z=None, "
      "Tensor? delta_bias=None, bool delta_softplus=False, Tensor? h0=None, Tensor? lengths=None) -> "
      "(Tensor out, Tensor last_state)");
  m.def(
      "selective_scan_fwd(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? z, "
      "Tensor? delta_bias, bool delta_softplus, Tensor? h0, Tensor? lengths) -> "
      "(Tensor out, Tensor last_state, Tensor checkpoints)");
  m.def(
      "selective_scan_backward(Tensor? grad_out, Tensor? grad_last_state, Tensor u, Tensor delta, Tensor A, "
      "Tensor B, Tensor C, Tensor? D, Tensor? z, Tensor? delta_bias, bool delta_softplus, Tensor? h0, "
      "Tensor? lengths, Tensor checkpoints) -> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, "
      "Tensor)");
}
SSM_LIBRARY_IMPL(Meta, m) {
  m.impl("selective_scan", &ssm::ops::selective_scan_entry<&ssm::ops::fwd_meta>);
  m.impl("selective_scan_fwd", &ssm::ops::selective_scan_fwd_entry<&ssm::ops::fwd_meta>);
  m.impl("selective_scan_backward", &ssm::ops::selective_scan_backward_entry<&ssm::ops::bwd_meta>);
}
SSM_LIBRARY_IMPL(Autograd, m) {
  m.impl("selective_scan", &ssm::ops::selective_scan_autograd);
  m.impl("selective_scan_backward", torch::CppFunction::makeFromBoxedFunction<&ssm::ops::no_second_derivative>());
}
