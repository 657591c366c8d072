// CUDA glue of ssm::diag_scan: checks, buffers, params; kernels in cuda/diag_scan/diag_scan.cu. The backward runs the same
// scan over the upstream gradient against the forward direction, with a shifted by one step and conjugated.
#include "diag_scan/diag_scan.h"
#include "ops/diag_scan/diag_scan.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/cuda/CUDAGuard.h>

namespace ssm::ops {
namespace {

cuda::ScanDtype scan_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return cuda::ScanDtype::kFloat32;
    case at::kDouble: return cuda::ScanDtype::kFloat64;
    case at::kComplexFloat: return cuda::ScanDtype::kComplex64;
    case at::kComplexDouble: return cuda::ScanDtype::kComplex128;
    default: break;
  }
  TORCH_CHECK(false, "ssm::diag_scan: unsupported dtype ", t);
}

void check_cuda(cudaError_t err, const char* what) {
  TORCH_CHECK(err == cudaSuccess, "ssm::diag_scan: ", what, " failed: ", cudaGetErrorString(err));
}

// x = scan(a, b) with the given direction and coefficient shift; returns x (B, L, P).
at::Tensor run_scan(const at::Tensor& a, const at::Tensor& b, const at::Tensor& h0, bool a_varying, bool reverse,
                    int a_shift, bool conj_a) {
  const int64_t B = b.size(0), L = b.size(1), P = b.size(2);
  at::Tensor x = at::empty_like(b, at::MemoryFormat::Contiguous);
  const int sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t chunk = cuda::diag_scan_chunk(B, L, P, sms);
  const int64_t chunks = (L + chunk - 1) / chunk;
  at::Tensor ws = at::empty({2 * B * chunks * P}, b.options());  // chunk aggregates, then carries
  const cuda::DiagScanParams p{a.const_data_ptr(),
                               b.const_data_ptr(),
                               h0.defined() ? h0.const_data_ptr() : nullptr,
                               x.mutable_data_ptr(),
                               ws.mutable_data_ptr(),
                               B, L, P, a_varying, reverse, a_shift, conj_a, chunk, chunks};
  check_cuda(cuda::diag_scan(p, scan_dtype(b.scalar_type()), at::cuda::getCurrentCUDAStream()), "scan");
  return x;
}

}  // namespace

at::Tensor diag_scan_cuda(const at::Tensor& a_in, const at::Tensor& b_in, bool reverse, const OptTensor& h0_in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_diag_scan("ssm::diag_scan", a_in, b_in, h0_in);
  const c10::cuda::CUDAGuard guard(b_in.device());
  const at::Tensor h0 = s.has_h0 ? h0_in->contiguous() : at::Tensor();
  return run_scan(a_in.contiguous(), b_in.contiguous(), h0, s.a_varying, reverse, 0, false);
}

DiagScanGrads diag_scan_backward_cuda(const at::Tensor& g_in, const at::Tensor& a_in, const at::Tensor& x_in,
                                      bool reverse, const OptTensor& h0_in, std::array<bool, 3> mask) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_diag_scan("ssm::diag_scan_backward", a_in, x_in, h0_in);
  check_same_as("ssm::diag_scan_backward", "grad_x", g_in, "x", x_in);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor a = a_in.contiguous(), x = x_in.contiguous(), g = g_in.contiguous();
  const at::Tensor h0 = s.has_h0 ? h0_in->contiguous() : at::Tensor();
  const cuda::ScanDtype dt = scan_dtype(x.scalar_type());
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  // q_l = g_l + conj(a_{l+dir}) q_{l+dir}: a scan against the forward direction.
  const at::Tensor q = run_scan(a, g, at::Tensor(), s.a_varying, !reverse, reverse ? -1 : 1, true);  // = db
  at::Tensor da, dh0;
  if (mask[0]) {
    da = s.a_varying ? at::empty_like(x) : at::empty({s.P}, x.options());
    const cuda::DiagScanGradAParams p{q.const_data_ptr(), x.const_data_ptr(),
                                      s.has_h0 ? h0.const_data_ptr() : nullptr, da.mutable_data_ptr(),
                                      s.B, s.L, s.P, s.a_varying, reverse};
    check_cuda(cuda::diag_scan_grad_a(p, dt, stream), "gradient of a");
  }
  if (mask[2] && s.has_h0) {
    dh0 = at::empty_like(h0);
    check_cuda(cuda::diag_scan_grad_h0(a.const_data_ptr(), q.const_data_ptr(), dh0.mutable_data_ptr(), s.B, s.L, s.P,
                                       s.a_varying, reverse, dt, stream),
               "gradient of h0");
  }
  return {da, mask[1] ? q : at::Tensor(), dh0};
}

}  // namespace ssm::ops
