// CUDA entry points of ssm::selective_scan. There is no CUDA kernel yet: the op runs its CPU kernels on copies of the
// inputs (bfloat16 and float16 widened to float32, the state dtype) and returns the results on the inputs' device
// in their dtypes, with a one-time warning. Correct, and slow: for the interface, the tests and the layers on CUDA
// tensors until the kernels land (README, "The ops").
#include "ops/selective_scan/selective_scan.h"

#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/Exception.h>

namespace ssm::ops {
namespace {

at::Tensor to_cpu(const at::Tensor& t) {
  if (!t.defined()) return t;
  const bool narrow = t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
  return narrow ? t.to(at::kCPU, at::kFloat) : t.cpu();
}
at::Tensor back(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t.to(like.device(), like.scalar_type()) : t;
}

SelectiveScanInputs cpu_inputs(const SelectiveScanInputs& in) {
  return {to_cpu(in.u), to_cpu(in.delta), to_cpu(in.A),          to_cpu(in.B),  to_cpu(in.C),
          to_cpu(in.D), to_cpu(in.z),     to_cpu(in.delta_bias), in.delta_softplus, to_cpu(in.h0),
          to_cpu(in.lengths)};
}

void warn_fallback() {
  TORCH_WARN_ONCE("ssm::selective_scan: this build has no CUDA kernel for the selective scan yet; CUDA tensors are "
                  "computed by the CPU kernels on copies (correct, slow)");
}

}  // namespace

SelectiveScanFwd selective_scan_fwd_cuda(const SelectiveScanInputs& in, bool want_checkpoints) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan("ssm::selective_scan", in);
  const c10::cuda::CUDAGuard guard(in.u.device());
  warn_fallback();
  auto [out, last, checkpoints] = selective_scan_fwd_cpu(cpu_inputs(in), want_checkpoints);
  const at::Tensor state_like = at::empty({0}, in.u.options().dtype(s.state_dtype));
  return {back(out, in.u), back(last, state_like), back(checkpoints, state_like)};
}

SelectiveScanGrads selective_scan_bwd_cuda(const at::Tensor& grad_out, const at::Tensor& grad_last,
                                           const SelectiveScanInputs& in, const at::Tensor& checkpoints) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  check_selective_scan("ssm::selective_scan_backward", in);
  const c10::cuda::CUDAGuard guard(in.u.device());
  warn_fallback();
  auto [du, ddelta, dA, dB, dC, dD, dz, dbias, dh0] =
      selective_scan_bwd_cpu(to_cpu(grad_out), to_cpu(grad_last), cpu_inputs(in), to_cpu(checkpoints));
  return {back(du, in.u), back(ddelta, in.delta), back(dA, in.A),          back(dB, in.B), back(dC, in.C),
          back(dD, in.D), back(dz, in.z),         back(dbias, in.delta_bias), back(dh0, in.h0)};
}

}  // namespace ssm::ops

SSM_LIBRARY_IMPL(CUDA, m) {
  using namespace ssm::ops;
  m.impl("selective_scan", &selective_scan_entry<&selective_scan_fwd_cuda>);
  m.impl("selective_scan_fwd", &selective_scan_fwd_entry<&selective_scan_fwd_cuda>);
  m.impl("selective_scan_backward", &selective_scan_backward_entry<&selective_scan_bwd_cuda>);
}
