// CUDA glue of ssm::selective_scan: the kernels of cuda/selective_scan/ (forward N <= 256, backward N <= 32; inputs
// whose time dimension is contiguous are read in place through their strides). Beyond those N the op runs its CPU
// kernels on copies of the inputs (bfloat16 and float16 widened to float32, the state dtype) and returns the results
// on the inputs' device in their dtypes, with a one-time warning: correct, slow (README, "The ops").
#include "ops/common/tensors.h"
#include "ops/selective_scan/selective_scan.h"
#include "selective_scan/selective_scan.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/Exception.h>

#include <array>

namespace ssm::ops {
namespace {

at::Tensor to_cpu(const at::Tensor& t) { return cpu_copy(t); }
at::Tensor back(const at::Tensor& t, const at::Tensor& like) { return like_device_and_dtype(t, like); }

SelectiveScanInputs cpu_inputs(const SelectiveScanInputs& in) {
  return {to_cpu(in.u), to_cpu(in.delta),      to_cpu(in.A),      to_cpu(in.B),  to_cpu(in.C),      to_cpu(in.D),
          to_cpu(in.z), to_cpu(in.delta_bias), in.delta_softplus, to_cpu(in.h0), to_cpu(in.lengths)};
}

void warn_fallback(const char* what) {
  TORCH_WARN_ONCE("ssm::selective_scan: this build has no CUDA kernel for ", what,
                  " yet; it is computed by the CPU kernels on copies of the CUDA tensors (correct, slow)");
}

at::Tensor time_contiguous(const at::Tensor& t) { return !t.defined() || t.stride(-1) == 1 ? t : t.contiguous(); }

cuda::ScanStorage storage_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return cuda::ScanStorage::kFloat32;
    case at::kBFloat16:
      return cuda::ScanStorage::kBFloat16;
    case at::kHalf:
      return cuda::ScanStorage::kFloat16;
    default:
      break;
  }
  TORCH_CHECK(false, "ssm::selective_scan: no CUDA kernel for dtype ", t);
}

template <typename P>
const P* cptr(const at::Tensor& t) {
  return t.defined() ? static_cast<const P*>(t.const_data_ptr()) : nullptr;
}

// The kernels' view of the inputs: time-contiguous activations (views kept), contiguous parameters.
struct KernelInputs {
  at::Tensor u, delta, z, B, C, A, D, bias, h0, lengths;
};
KernelInputs kernel_inputs(const SelectiveScanInputs& in, const SelectiveScanSizes<>& s) {
  auto contig = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  return {time_contiguous(in.u),
          time_contiguous(in.delta),
          time_contiguous(in.z),
          s.b_fixed ? in.B.contiguous() : time_contiguous(in.B),
          s.c_fixed ? in.C.contiguous() : time_contiguous(in.C),
          contig(in.A),
          contig(in.D),
          contig(in.delta_bias),
          contig(in.h0),
          contig(in.lengths)};
}

cuda::SelectiveScanParams kernel_params(const KernelInputs& k, const at::Tensor& out, const at::Tensor& last,
                                        const at::Tensor& checkpoints, const SelectiveScanSizes<>& s, bool softplus) {
  const at::Tensor &u = k.u, &delta = k.delta, &z = k.z, &B = k.B, &C = k.C;
  // B, C strides as (batch, group, state); a 3-d (batch, N, L) tensor is one group.
  auto bc_strides = [](const at::Tensor& t, bool fixed) -> std::array<int64_t, 3> {
    if (fixed) return {0, 0, 0};
    if (t.dim() == 3) return {t.stride(0), 0, t.stride(1)};
    return {t.stride(0), t.stride(1), t.stride(2)};
  };
  const auto bs = bc_strides(B, s.b_fixed), cs = bc_strides(C, s.c_fixed);
  cuda::SelectiveScanParams p{};
  p.u = u.const_data_ptr();
  p.delta = delta.const_data_ptr();
  p.z = z.defined() ? z.const_data_ptr() : nullptr;
  p.B = B.const_data_ptr();
  p.C = C.const_data_ptr();
  p.out = out.defined() ? out.mutable_data_ptr() : nullptr;
  p.u_sb = u.stride(0);
  p.u_sd = u.stride(1);
  p.delta_sb = delta.stride(0);
  p.delta_sd = delta.stride(1);
  p.z_sb = z.defined() ? z.stride(0) : 0;
  p.z_sd = z.defined() ? z.stride(1) : 0;
  p.out_sb = out.defined() ? out.stride(0) : 0;
  p.out_sd = out.defined() ? out.stride(1) : 0;
  p.B_sb = bs[0];
  p.B_sg = bs[1];
  p.B_sn = bs[2];
  p.C_sb = cs[0];
  p.C_sg = cs[1];
  p.C_sn = cs[2];
  p.b_fixed = s.b_fixed;
  p.c_fixed = s.c_fixed;
  p.softplus = softplus;
  p.A = cptr<float>(k.A);
  p.D = cptr<float>(k.D);
  p.bias = cptr<float>(k.bias);
  p.h0 = cptr<float>(k.h0);
  p.lengths = cptr<int64_t>(k.lengths);
  p.last = last.defined() ? last.mutable_data_ptr<float>() : nullptr;
  p.checkpoints = checkpoints.defined() ? checkpoints.mutable_data_ptr<float>() : nullptr;
  p.batch = s.batch;
  p.dim = s.dim;
  p.L = s.L;
  p.N = s.N;
  p.G = s.G;
  p.chunks = s.chunks;
  return p;
}

SelectiveScanFwd fwd_kernel(const SelectiveScanInputs& in, const SelectiveScanSizes<>& s, bool want_checkpoints) {
  const KernelInputs k = kernel_inputs(in, s);
  const auto fo = in.u.options().dtype(at::kFloat);
  at::Tensor out = at::empty({s.batch, s.dim, s.L}, in.u.options());
  at::Tensor last = at::empty({s.batch, s.dim, s.N}, fo);
  at::Tensor checkpoints = want_checkpoints ? at::empty({s.batch, s.dim, s.chunks, s.N}, fo) : at::Tensor();
  const auto p = kernel_params(k, out, last, checkpoints, s, in.delta_softplus);
  const cudaError_t err = cuda::selective_scan_fwd(p, storage_of(in.u.scalar_type()), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan: CUDA kernel failed: ", cudaGetErrorString(err));
  return {out, last, checkpoints};
}

SelectiveScanGrads bwd_kernel(const at::Tensor& grad_out, const at::Tensor& grad_last, const SelectiveScanInputs& in,
                              const SelectiveScanSizes<>& s, const at::Tensor& checkpoints) {
  const KernelInputs k = kernel_inputs(in, s);
  const auto ao = in.u.options(), fo = ao.dtype(at::kFloat);
  const at::Tensor g_out = grad_out.defined() ? grad_out.contiguous() : grad_out;
  const at::Tensor g_last = grad_last.defined() ? grad_last.contiguous() : grad_last;
  at::Tensor du = at::zeros({s.batch, s.dim, s.L}, ao), ddelta = at::zeros({s.batch, s.dim, s.L}, ao);
  at::Tensor dz = in.z.defined() ? at::zeros({s.batch, s.dim, s.L}, ao) : at::Tensor();
  at::Tensor dA = at::zeros({s.dim, s.N}, fo);
  at::Tensor dB = at::zeros(in.B.sizes(), fo), dC = at::zeros(in.C.sizes(), fo);  // contiguous, float32 sums
  at::Tensor dD = in.D.defined() ? at::zeros({s.dim}, fo) : at::Tensor();
  at::Tensor dbias = in.delta_bias.defined() ? at::zeros({s.dim}, fo) : at::Tensor();
  at::Tensor dh0 = in.h0.defined() ? at::empty({s.batch, s.dim, s.N}, fo) : at::Tensor();
  const auto p = kernel_params(k, at::Tensor(), at::Tensor(), at::Tensor(), s, in.delta_softplus);
  const at::Tensor ck = checkpoints.contiguous();
  cuda::SelectiveScanBwdParams q{};
  q.grad_out = g_out.defined() ? g_out.const_data_ptr() : nullptr;
  q.grad_last = cptr<float>(g_last);
  q.checkpoints = ck.const_data_ptr<float>();
  q.du = du.mutable_data_ptr();
  q.ddelta = ddelta.mutable_data_ptr();
  q.dz = dz.defined() ? dz.mutable_data_ptr() : nullptr;
  q.dA = dA.mutable_data_ptr<float>();
  q.dD = dD.defined() ? dD.mutable_data_ptr<float>() : nullptr;
  q.dbias = dbias.defined() ? dbias.mutable_data_ptr<float>() : nullptr;
  q.dB = dB.mutable_data_ptr<float>();
  q.dC = dC.mutable_data_ptr<float>();
  q.dh0 = dh0.defined() ? dh0.mutable_data_ptr<float>() : nullptr;
  const cudaError_t err =
      cuda::selective_scan_bwd(p, q, storage_of(in.u.scalar_type()), at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(err == cudaSuccess, "ssm::selective_scan_backward: CUDA kernel failed: ", cudaGetErrorString(err));
  return {du, ddelta, dA, dB.to(in.B.scalar_type()), dC.to(in.C.scalar_type()), dD, dz, dbias, dh0};
}

}  // namespace

SelectiveScanFwd selective_scan_fwd_cuda(const SelectiveScanInputs& in, bool want_checkpoints) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan("ssm::selective_scan", in);
  const c10::cuda::CUDAGuard guard(in.u.device());
  check_lengths_values("ssm::selective_scan", in.lengths, s.L);
  if (cuda::selective_scan_fwd_supported(s.N)) return fwd_kernel(in, s, want_checkpoints);
  warn_fallback("N > 256");
  auto [out, last, checkpoints] = selective_scan_fwd_cpu(cpu_inputs(in), want_checkpoints);
  const at::Tensor state_like = at::empty({0}, in.u.options().dtype(s.state_dtype));
  return {back(out, in.u), back(last, state_like), back(checkpoints, state_like)};
}

SelectiveScanGrads selective_scan_bwd_cuda(const at::Tensor& grad_out, const at::Tensor& grad_last,
                                           const SelectiveScanInputs& in, const at::Tensor& checkpoints) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const char* op = "ssm::selective_scan_backward";
  const auto s = check_selective_scan_backward(op, grad_out, grad_last, in, checkpoints);
  const c10::cuda::CUDAGuard guard(in.u.device());
  check_lengths_values(op, in.lengths, s.L);
  if (cuda::selective_scan_bwd_supported(s.N)) return bwd_kernel(grad_out, grad_last, in, s, checkpoints);
  warn_fallback("the backward at N > 32");
  auto [du, ddelta, dA, dB, dC, dD, dz, dbias, dh0] =
      selective_scan_bwd_cpu(to_cpu(grad_out), to_cpu(grad_last), cpu_inputs(in), to_cpu(checkpoints));
  return {back(du, in.u), back(ddelta, in.delta),     back(dA, in.A),  back(dB, in.B), back(dC, in.C), back(dD, in.D),
          back(dz, in.z), back(dbias, in.delta_bias), back(dh0, in.h0)};
}

}  // namespace ssm::ops

SSM_LIBRARY_IMPL(CUDA, m) {
  using namespace ssm::ops;
  m.impl("selective_scan", &selective_scan_entry<&selective_scan_fwd_cuda>);
  m.impl("selective_scan_fwd", &selective_scan_fwd_entry<&selective_scan_fwd_cuda>);
  m.impl("selective_scan_backward", &selective_scan_backward_entry<&selective_scan_bwd_cuda>);
}
