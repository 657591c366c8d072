// CUDA glue of ssm::selective_scan_2d: the forward kernel of cuda/selective_scan_2d/ (N <= 128). The backward has no
// CUDA kernel yet: it runs the CPU kernels on copies of the inputs (bfloat16 and float16 widened to float32) and
// returns the gradients on the inputs' device in their dtypes, with a one-time warning: correct, slow (README,
// "The ops").
#include "ops/common/tensors.h"
#include "ops/selective_scan_2d/selective_scan_2d.h"
#include "selective_scan_2d/selective_scan_2d.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/Exception.h>

#include <algorithm>

namespace ssm::ops {
namespace {

at::Tensor to_cpu(const at::Tensor& t) { return cpu_copy(t); }
at::Tensor back(const at::Tensor& t, const at::Tensor& like) { return like_device_and_dtype(t, like); }

Scan2dInputs cpu_inputs(const Scan2dInputs& in) {
  return {to_cpu(in.x),  to_cpu(in.dt1), to_cpu(in.dt2), to_cpu(in.A1),      to_cpu(in.A2),
          to_cpu(in.A3), to_cpu(in.A4),  to_cpu(in.B1),  to_cpu(in.B2),      to_cpu(in.C1),
          to_cpu(in.C2), to_cpu(in.D),   in.lag,         in.reverse_variates};
}

void warn_fallback(const char* what) {
  TORCH_WARN_ONCE("ssm::selective_scan_2d: this build has no CUDA kernel for ", what,
                  " yet; it is computed by the CPU kernels on copies of the CUDA tensors (correct, slow)");
}

cuda::Scan2dStorage storage_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return cuda::Scan2dStorage::kFloat32;
    case at::kBFloat16:
      return cuda::Scan2dStorage::kBFloat16;
    case at::kHalf:
      return cuda::Scan2dStorage::kFloat16;
    default:
      break;
  }
  TORCH_CHECK(false, "ssm::selective_scan_2d: no CUDA kernel for dtype ", t);
}

at::Tensor fwd_kernel(const Scan2dInputs& in, const Scan2dSizes<>& s) {
  auto c = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  const at::Tensor x = c(in.x), dt1 = c(in.dt1), dt2 = c(in.dt2), B1 = c(in.B1), B2 = c(in.B2), C1 = c(in.C1),
                   C2 = c(in.C2), A1 = c(in.A1), A2 = c(in.A2), A3 = c(in.A3), A4 = c(in.A4), D = c(in.D);
  at::Tensor y = at::empty({s.batch, s.V, s.T, s.dim}, x.options());
  const int64_t slots = std::min(in.lag + 1, s.T);
  at::Tensor ws =
      at::empty({cuda::scan2d_workspace_floats(s.batch, s.dim, s.V, s.N, slots)}, x.options().dtype(at::kFloat));
  cuda::Scan2dParams p{};
  p.x = x.const_data_ptr();
  p.dt1 = dt1.const_data_ptr();
  p.dt2 = dt2.const_data_ptr();
  p.B1 = B1.const_data_ptr();
  p.B2 = B2.const_data_ptr();
  p.C1 = C1.const_data_ptr();
  p.C2 = C2.const_data_ptr();
  p.y = y.mutable_data_ptr();
  p.A1 = A1.const_data_ptr<float>();
  p.A2 = A2.const_data_ptr<float>();
  p.A3 = A3.const_data_ptr<float>();
  p.A4 = A4.const_data_ptr<float>();
  p.D = D.defined() ? D.const_data_ptr<float>() : nullptr;
  p.workspace = ws.mutable_data_ptr<float>();
  p.batch = s.batch;
  p.V = s.V;
  p.T = s.T;
  p.dim = s.dim;
  p.N = s.N;
  p.lag = in.lag;
  p.slots = slots;
  p.reverse = in.reverse_variates;
  const cudaError_t err = cuda::scan2d_fwd(p, storage_of(x.scalar_type()), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan_2d: CUDA kernel failed: ", cudaGetErrorString(err));
  return y;
}

}  // namespace

at::Tensor selective_scan_2d_cuda_impl(const Scan2dInputs& in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan_2d("ssm::selective_scan_2d", in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  if (cuda::scan2d_fwd_supported(s.N)) return fwd_kernel(in, s);
  warn_fallback("N > 128");
  return back(selective_scan_2d_cpu_impl(cpu_inputs(in)), in.x);
}

Scan2dGrads selective_scan_2d_backward_cuda_impl(const at::Tensor& grad_y, const Scan2dInputs& in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  check_selective_scan_2d_backward("ssm::selective_scan_2d_backward", grad_y, in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  warn_fallback("the backward");
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
