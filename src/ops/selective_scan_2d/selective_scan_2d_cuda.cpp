// CUDA glue of ssm::selective_scan_2d: the forward and backward kernels of cuda/selective_scan_2d/ (N <= 128). Past
// that N both run the CPU kernels on copies of the inputs (bfloat16 and float16 widened to float32) and return the
// results on the inputs' device in their dtypes, with a one-time warning: correct, slow (README, "The ops").
#include "ops/common/tensors.h"
#include "ops/selective_scan_2d/kernel_params.h"
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

at::Tensor fwd_kernel(const Scan2dInputs& in) {
  const Scan2dKernelInputs k = scan2d_kernel_inputs(in);
  at::Tensor y = at::empty_like(k.x);
  cuda::Scan2dParams p = scan2d_params(k);
  at::Tensor ws =
      at::empty({cuda::scan2d_workspace_floats(p.batch, p.dim, p.V, p.N, p.slots)}, k.x.options().dtype(at::kFloat));
  p.y = y.mutable_data_ptr();
  p.workspace = ws.mutable_data_ptr<float>();
  const cudaError_t err = cuda::scan2d_fwd(p, storage_of(k.x.scalar_type()), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan_2d: CUDA kernel failed: ", cudaGetErrorString(err));
  return y;
}

// The backward's workspace is per channel (checkpoints, the recomputed chunk, the adjoint ring: see
// cuda/selective_scan_2d/selective_scan_2d_body.h); the channels run in launches whose workspace stays within this.
constexpr int64_t kBwdWorkspaceFloats = int64_t{1} << 28;  // 1 GiB

Scan2dGrads bwd_kernel(const at::Tensor& grad_y, const Scan2dInputs& in) {
  const Scan2dKernelInputs k = scan2d_kernel_inputs(in);
  const at::Tensor gy = grad_y.contiguous();
  const cuda::Scan2dParams p = scan2d_params(k);
  Scan2dKernelGrads g;
  cuda::Scan2dBwdParams q = scan2d_bwd_params(k, gy, g);
  const int64_t per_channel = cuda::scan2d_bwd_channel_floats(p.V, p.T, p.N, q.hist, q.chunk);
  const int64_t channels = p.batch * p.dim;
  const int64_t per_launch = std::max<int64_t>(1, std::min(channels, kBwdWorkspaceFloats / per_channel));
  at::Tensor ws = at::empty({per_launch * per_channel}, k.x.options().dtype(at::kFloat));
  q.workspace = ws.mutable_data_ptr<float>();
  const auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t ch0 = 0; ch0 < channels; ch0 += per_launch) {  // launches in stream order reuse the workspace
    q.ch0 = ch0;
    q.channels = std::min(per_launch, channels - ch0);
    const cudaError_t err = cuda::scan2d_bwd(p, q, storage_of(k.x.scalar_type()), stream);
    TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan_2d_backward: CUDA kernel failed: ", cudaGetErrorString(err));
  }
  auto like = [](const at::Tensor& t, const at::Tensor& ref) { return t.to(ref.scalar_type()); };
  return {g.dx,  g.ddt1, g.ddt2, g.dA1, g.dA2, g.dA3, g.dA4, like(g.dB1, in.B1), like(g.dB2, in.B2), like(g.dC1, in.C1),
          like(g.dC2, in.C2), g.dD};
}

}  // namespace

at::Tensor selective_scan_2d_cuda_impl(const Scan2dInputs& in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan_2d("ssm::selective_scan_2d", in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  if (cuda::scan2d_fwd_supported(s.N)) return fwd_kernel(in);
  warn_fallback("N > 128");
  return back(selective_scan_2d_cpu_impl(cpu_inputs(in)), in.x);
}

Scan2dGrads selective_scan_2d_backward_cuda_impl(const at::Tensor& grad_y, const Scan2dInputs& in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan_2d_backward("ssm::selective_scan_2d_backward", grad_y, in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  if (cuda::scan2d_bwd_supported(s.N)) return bwd_kernel(grad_y, in);
  warn_fallback("the backward at N > 128");
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
