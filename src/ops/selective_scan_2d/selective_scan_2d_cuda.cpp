// CUDA glue of ssm::selective_scan_2d: the forward and backward kernels of cuda/selective_scan_2d/ (N <= 128). Past
// that N both run the CPU kernels on copies of the inputs (bfloat16 and float16 widened to float32) and return the
// results on the inputs' device in their dtypes, with a one-time warning: correct, slow (README, "The ops").
#include "ops/common/tensors.h"
#include "ops/selective_scan_2d/selective_scan_2d.h"
#include "selective_scan_2d/selective_scan_2d.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
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

// The inputs made contiguous (the kernels index them densely), kept alive beside the params that point into them.
struct KernelInputs {
  at::Tensor x, dt1, dt2, B1, B2, C1, C2, A1, A2, A3, A4, D;
};

KernelInputs kernel_inputs(const Scan2dInputs& in) {
  auto c = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  return {c(in.x),  c(in.dt1), c(in.dt2), c(in.B1), c(in.B2), c(in.C1),
          c(in.C2), c(in.A1),  c(in.A2),  c(in.A3), c(in.A4), c(in.D)};
}

cuda::Scan2dParams kernel_params(const KernelInputs& k, const Scan2dInputs& in, const Scan2dSizes<>& s) {
  cuda::Scan2dParams p{};
  p.x = k.x.const_data_ptr();
  p.dt1 = k.dt1.const_data_ptr();
  p.dt2 = k.dt2.const_data_ptr();
  p.B1 = k.B1.const_data_ptr();
  p.B2 = k.B2.const_data_ptr();
  p.C1 = k.C1.const_data_ptr();
  p.C2 = k.C2.const_data_ptr();
  p.A1 = k.A1.const_data_ptr<float>();
  p.A2 = k.A2.const_data_ptr<float>();
  p.A3 = k.A3.const_data_ptr<float>();
  p.A4 = k.A4.const_data_ptr<float>();
  p.D = k.D.defined() ? k.D.const_data_ptr<float>() : nullptr;
  p.batch = s.batch;
  p.V = s.V;
  p.T = s.T;
  p.dim = s.dim;
  p.N = s.N;
  p.lag = in.lag;
  p.slots = std::min(in.lag + 1, s.T);
  p.reverse = in.reverse_variates;
  return p;
}

at::Tensor fwd_kernel(const Scan2dInputs& in, const Scan2dSizes<>& s) {
  const KernelInputs k = kernel_inputs(in);
  at::Tensor y = at::empty({s.batch, s.V, s.T, s.dim}, k.x.options());
  cuda::Scan2dParams p = kernel_params(k, in, s);
  at::Tensor ws = at::empty({cuda::scan2d_workspace_floats(s.batch, s.dim, s.V, s.N, p.slots)},
                            k.x.options().dtype(at::kFloat));
  p.y = y.mutable_data_ptr();
  p.workspace = ws.mutable_data_ptr<float>();
  const cudaError_t err = cuda::scan2d_fwd(p, storage_of(k.x.scalar_type()), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan_2d: CUDA kernel failed: ", cudaGetErrorString(err));
  return y;
}

// The backward's workspace is per channel (checkpoints, the recomputed chunk, the adjoint ring: see
// cuda/selective_scan_2d/selective_scan_2d_body.h); the channels run in launches whose workspace stays within this.
constexpr int64_t kBwdWorkspaceFloats = int64_t{1} << 28;  // 1 GiB

Scan2dGrads bwd_kernel(const at::Tensor& grad_y, const Scan2dInputs& in, const Scan2dSizes<>& s) {
  const KernelInputs k = kernel_inputs(in);
  const at::Tensor g = grad_y.contiguous();
  const auto ao = k.x.options(), fo = ao.dtype(at::kFloat);
  at::Tensor dx = at::empty({s.batch, s.V, s.T, s.dim}, ao), ddt1 = at::empty_like(dx), ddt2 = at::empty_like(dx);
  at::Tensor dB1 = at::zeros({s.batch, s.V, s.T, s.N}, fo), dB2 = at::zeros_like(dB1), dC1 = at::zeros_like(dB1),
             dC2 = at::zeros_like(dB1);  // float32 sums over the channels
  at::Tensor dA1 = at::zeros({s.dim, s.N}, fo), dA2 = at::zeros_like(dA1), dA3 = at::zeros_like(dA1),
             dA4 = at::zeros_like(dA1);
  at::Tensor dD = k.D.defined() ? at::zeros({s.dim}, fo) : at::Tensor();
  const cuda::Scan2dParams p = kernel_params(k, in, s);
  cuda::Scan2dBwdParams q{};
  q.grad_y = g.const_data_ptr();
  q.dx = dx.mutable_data_ptr();
  q.ddt1 = ddt1.mutable_data_ptr();
  q.ddt2 = ddt2.mutable_data_ptr();
  q.dB1 = dB1.mutable_data_ptr<float>();
  q.dB2 = dB2.mutable_data_ptr<float>();
  q.dC1 = dC1.mutable_data_ptr<float>();
  q.dC2 = dC2.mutable_data_ptr<float>();
  q.dA1 = dA1.mutable_data_ptr<float>();
  q.dA2 = dA2.mutable_data_ptr<float>();
  q.dA3 = dA3.mutable_data_ptr<float>();
  q.dA4 = dA4.mutable_data_ptr<float>();
  q.dD = dD.defined() ? dD.mutable_data_ptr<float>() : nullptr;
  q.hist = cuda::scan2d_bwd_hist(in.lag, s.T);
  q.chunk = cuda::scan2d_bwd_chunk(q.hist, s.T);
  const int64_t per_channel = cuda::scan2d_bwd_channel_floats(s.V, s.T, s.N, q.hist, q.chunk);
  const int64_t channels = s.batch * s.dim;
  const int64_t per_launch = std::max<int64_t>(1, std::min(channels, kBwdWorkspaceFloats / per_channel));
  at::Tensor ws = at::empty({per_launch * per_channel}, fo);
  q.workspace = ws.mutable_data_ptr<float>();
  const auto stream = at::cuda::getCurrentCUDAStream();
  for (int64_t ch0 = 0; ch0 < channels; ch0 += per_launch) {  // launches in stream order reuse the workspace
    q.ch0 = ch0;
    q.channels = std::min(per_launch, channels - ch0);
    const cudaError_t err = cuda::scan2d_bwd(p, q, storage_of(k.x.scalar_type()), stream);
    TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan_2d_backward: CUDA kernel failed: ", cudaGetErrorString(err));
  }
  auto like = [](const at::Tensor& t, const at::Tensor& ref) { return t.to(ref.scalar_type()); };
  return {dx,  ddt1, ddt2, dA1, dA2, dA3, dA4, like(dB1, in.B1), like(dB2, in.B2), like(dC1, in.C1),
          like(dC2, in.C2), dD};
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
  const auto s = check_selective_scan_2d_backward("ssm::selective_scan_2d_backward", grad_y, in);
  const c10::cuda::CUDAGuard guard(in.x.device());
  if (cuda::scan2d_bwd_supported(s.N)) return bwd_kernel(grad_y, in, s);
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
