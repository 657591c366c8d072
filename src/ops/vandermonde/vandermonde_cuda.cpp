// CUDA glue of ssm::vandermonde: checks, allocation, params, stream; kernels in cuda/vandermonde/vandermonde.cu.
#include "ops/vandermonde/vandermonde.h"
#include "vandermonde/vandermonde.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>

namespace ssm::ops {

namespace {
void check_launch(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, what, ": CUDA launch failed: ", cudaGetErrorString(err));
}
}  // namespace

at::Tensor vandermonde_cuda(const at::Tensor& v_in, const at::Tensor& x_in, int64_t L) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_vandermonde(v_in, x_in, L);
  const c10::cuda::CUDAGuard guard(v_in.device());
  const at::Tensor v = v_in.contiguous(), x = x_in.contiguous();
  at::Tensor out = at::empty({s.B, L}, v.options().dtype(c10::toRealValueType(v.scalar_type())));  // (B, L)
  const cuda::VandermondeFwdParams p{v.const_data_ptr(), x.const_data_ptr(), out.mutable_data_ptr(), s.B, s.N, L};
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  check_launch(v.scalar_type() == at::kComplexFloat ? cuda::vandermonde_fwd<float>(p, stream)
                                                    : cuda::vandermonde_fwd<double>(p, stream),
               "ssm::vandermonde");
  return out;
}

std::tuple<at::Tensor, at::Tensor> vandermonde_backward_cuda(const at::Tensor& grad_in, const at::Tensor& v_in,
                                                             const at::Tensor& x_in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_vandermonde_backward(grad_in, v_in, x_in);
  const c10::cuda::CUDAGuard guard(v_in.device());
  const at::Tensor grad = grad_in.contiguous(), v = v_in.contiguous(), x = x_in.contiguous();
  at::Tensor dv = at::empty_like(v, at::MemoryFormat::Contiguous);  // (B, N)
  at::Tensor dx = at::empty_like(x, at::MemoryFormat::Contiguous);  // (B, N)
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const auto plan = cuda::plan_vandermonde_bwd(s.B, s.N, s.L, sms);
  at::Tensor ws = at::empty({plan.workspace_elems}, grad.options());  // (B, chunks, N, 4) partial sums
  const cuda::VandermondeBwdParams p{grad.const_data_ptr(),  v.const_data_ptr(), x.const_data_ptr(),
                                     dv.mutable_data_ptr(),  dx.mutable_data_ptr(), ws.mutable_data_ptr(),
                                     s.B, s.N, s.L, plan};
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  check_launch(v.scalar_type() == at::kComplexFloat ? cuda::vandermonde_bwd<float>(p, stream)
                                                    : cuda::vandermonde_bwd<double>(p, stream),
               "ssm::vandermonde_backward");
  return {dv, dx};
}

}  // namespace ssm::ops
