// CUDA entry points of ssm::selective_scan_2d. There is no CUDA kernel yet: the op runs its CPU kernels on copies of
// the inputs (bfloat16 and float16 widened to float32) and returns the results on the inputs' device in their
// dtypes, with a one-time warning. Correct, and slow (README, "The ops").
#include "ops/selective_scan_2d/selective_scan_2d.h"

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

Scan2dInputs cpu_inputs(const Scan2dInputs& in) {
  return {to_cpu(in.x),  to_cpu(in.dt1), to_cpu(in.dt2), to_cpu(in.A1), to_cpu(in.A2), to_cpu(in.A3), to_cpu(in.A4),
          to_cpu(in.B1), to_cpu(in.B2),  to_cpu(in.C1),  to_cpu(in.C2), to_cpu(in.D),  in.lag,        in.reverse_variates};
}

void warn_fallback() {
  TORCH_WARN_ONCE("ssm::selective_scan_2d: this build has no CUDA kernel for the 2-D selective scan yet; CUDA "
                  "tensors are computed by the CPU kernels on copies (correct, slow)");
}

}  // namespace

at::Tensor selective_scan_2d_cuda_impl(const Scan2dInputs& in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  check_selective_scan_2d("ssm::selective_scan_2d", in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  warn_fallback();
  return back(selective_scan_2d_cpu_impl(cpu_inputs(in)), in.x);
}

Scan2dGrads selective_scan_2d_backward_cuda_impl(const at::Tensor& grad_y, const Scan2dInputs& in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  check_selective_scan_2d("ssm::selective_scan_2d_backward", in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  warn_fallback();
  auto [dx, ddt1, ddt2, dA1, dA2, dA3, dA4, dB1, dB2, dC1, dC2, dD] =
      selective_scan_2d_backward_cpu_impl(to_cpu(grad_y), cpu_inputs(in));
  return {back(dx, in.x),   back(ddt1, in.dt1), back(ddt2, in.dt2), back(dA1, in.A1),
          back(dA2, in.A2), back(dA3, in.A3),   back(dA4, in.A4),   back(dB1, in.B1),
          back(dB2, in.B2), back(dC1, in.C1),   back(dC2, in.C2),   back(dD, in.D)};
}

}  // namespace ssm::ops

SSM_LIBRARY_IMPL(CUDA, m) {
  using namespace ssm::ops;
  m.impl("selective_scan_2d", &scan2d_entry<&selective_scan_2d_cuda_impl>);
  m.impl("selective_scan_2d_backward", &scan2d_backward_entry<&selective_scan_2d_backward_cuda_impl>);
}
