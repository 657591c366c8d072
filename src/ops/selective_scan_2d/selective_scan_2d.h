// ssm::selective_scan_2d inside the ops library: argument checks, the backends.
#pragma once

#include "ops/common/checks.h"
#include "ops/common/library.h"

#include <array>
#include <tuple>

namespace ssm::ops {

// The op's tensor arguments in schema order (D undefined when absent).
struct Scan2dInputs {
  at::Tensor x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D;
  int64_t lag = 1;
  bool reverse_variates = false;
};

template <class I = int64_t>
struct Scan2dSizes {
  I batch, V, T, dim, N;
  at::ScalarType state_dtype;  // of A1..A4 and D: float64 for float64 inputs, else float32
};
template <class I = int64_t>
Scan2dSizes<I> check_selective_scan_2d(const char* op, const Scan2dInputs& in);
// The inputs, and grad_y like x.
template <class I = int64_t>
Scan2dSizes<I> check_selective_scan_2d_backward(const char* op, const at::Tensor& grad_y, const Scan2dInputs& in);

// dx, ddt1, ddt2, dA1, dA2, dA3, dA4, dB1, dB2, dC1, dC2, dD (undefined without D).
using Scan2dGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                               at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;

at::Tensor selective_scan_2d_cpu_impl(const Scan2dInputs& in);
Scan2dGrads selective_scan_2d_backward_cpu_impl(const at::Tensor& grad_y, const Scan2dInputs& in);
#ifdef SSM_WITH_CUDA
at::Tensor selective_scan_2d_cuda_impl(const Scan2dInputs& in);
Scan2dGrads selective_scan_2d_backward_cuda_impl(const at::Tensor& grad_y, const Scan2dInputs& in);
#endif

// The dispatcher's signatures around a backend's pair.
#define SSM_SCAN2D_PARAMS                                                                                           \
  const at::Tensor &x, const at::Tensor &dt1, const at::Tensor &dt2, const at::Tensor &A1, const at::Tensor &A2,    \
      const at::Tensor &A3, const at::Tensor &A4, const at::Tensor &B1, const at::Tensor &B2, const at::Tensor &C1, \
      const at::Tensor &C2, const OptTensor &D, int64_t lag, bool reverse_variates
#define SSM_SCAN2D_INPUTS \
  Scan2dInputs { x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D.value_or(at::Tensor()), lag, reverse_variates }

template <at::Tensor (*Fwd)(const Scan2dInputs&)>
at::Tensor scan2d_entry(SSM_SCAN2D_PARAMS) {
  return Fwd(SSM_SCAN2D_INPUTS);
}
template <Scan2dGrads (*Bwd)(const at::Tensor&, const Scan2dInputs&)>
Scan2dGrads scan2d_backward_entry(const at::Tensor& grad_y, SSM_SCAN2D_PARAMS) {
  return Bwd(grad_y, SSM_SCAN2D_INPUTS);
}

}  // namespace ssm::ops
