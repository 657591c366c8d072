// ssm::diag_scan inside the ops library: argument checks, the backends, the op handles.
#pragma once

#include "ops/common/checks.h"
#include "ops/common/library.h"

#include <array>
#include <tuple>

namespace ssm::ops {

using DiagScanGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor>;  // da, db, dh0

// Sizes of a checked diag_scan call; I = int64_t, or c10::SymInt in the Meta kernels.
template <class I = int64_t>
struct DiagScanSizes {
  I B, L, P;
  bool a_varying, has_h0;
};
// b: (B, L, P); a: (P) or (B, L, P); h0: (B, P); one dtype (float32, float64, complex64, complex128) and device.
template <class I = int64_t>
DiagScanSizes<I> check_diag_scan(const char* op, const at::Tensor& a, const at::Tensor& b, const OptTensor& h0);

at::Tensor diag_scan_cpu(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0);
// output_mask: which of da, db, dh0 to return (the others undefined).
DiagScanGrads diag_scan_backward_cpu(const at::Tensor& grad_x, const at::Tensor& a, const at::Tensor& x, bool reverse,
                                     const OptTensor& h0, std::array<bool, 3> output_mask);
#ifdef SSM_WITH_CUDA
at::Tensor diag_scan_cuda(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0);
DiagScanGrads diag_scan_backward_cuda(const at::Tensor& grad_x, const at::Tensor& a, const at::Tensor& x,
                                      bool reverse, const OptTensor& h0, std::array<bool, 3> output_mask);
#endif

}  // namespace ssm::ops
