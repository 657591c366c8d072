// Backend implementations of the ssm ops, registered with the dispatcher in registration.cpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>
#include <vector>

namespace ssm::ops {

using OptTensor = std::optional<at::Tensor>;
using FftConvGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;  // du, dk, dD, dk_rev
using DiagScanGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor>;              // da, db, dh0
using OptTensorList = std::optional<at::TensorList>;
// du, dk, dD, dk_rev, d factors (empty when not requested)
using ButterflyConvGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, std::vector<at::Tensor>>;

at::Tensor vandermonde_cpu(const at::Tensor& v, const at::Tensor& x, int64_t L);
std::tuple<at::Tensor, at::Tensor> vandermonde_backward_cpu(const at::Tensor& grad_out, const at::Tensor& v,
                                                            const at::Tensor& x);
at::Tensor fft_conv_cpu(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev);
// output_mask: which of du, dk, dD, dk_rev to compute; the others are returned undefined.
FftConvGrads fft_conv_backward_cpu(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                   const OptTensor& D, const OptTensor& k_rev, std::array<bool, 4> output_mask);

at::Tensor diag_scan_cpu(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0);
// output_mask: which of da, db, dh0 to return (the others undefined).
DiagScanGrads diag_scan_backward_cpu(const at::Tensor& grad_x, const at::Tensor& a, const at::Tensor& x, bool reverse,
                                     const OptTensor& h0, std::array<bool, 3> output_mask);

at::Tensor butterfly_conv_cpu(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                              const OptTensorList& factors);
// output_mask: du, dk, dD, dk_rev, factors.
ButterflyConvGrads butterfly_conv_backward_cpu(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                               const OptTensor& D, const OptTensor& k_rev,
                                               const OptTensorList& factors, std::array<bool, 5> output_mask);

#ifdef SSM_WITH_CUDA
at::Tensor butterfly_conv_cuda(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors);
ButterflyConvGrads butterfly_conv_backward_cuda(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> output_mask);
at::Tensor diag_scan_cuda(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0);
DiagScanGrads diag_scan_backward_cuda(const at::Tensor& grad_x, const at::Tensor& a, const at::Tensor& x,
                                      bool reverse, const OptTensor& h0, std::array<bool, 3> output_mask);
at::Tensor vandermonde_cuda(const at::Tensor& v, const at::Tensor& x, int64_t L);
std::tuple<at::Tensor, at::Tensor> vandermonde_backward_cuda(const at::Tensor& grad_out, const at::Tensor& v,
                                                             const at::Tensor& x);
at::Tensor fft_conv_cuda(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev);
FftConvGrads fft_conv_backward_cuda(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                    const OptTensor& D, const OptTensor& k_rev, std::array<bool, 4> output_mask);
#endif

// Autograd-key kernels (autograd.cpp).
at::Tensor vandermonde_autograd(const at::Tensor& v, const at::Tensor& x, int64_t L);
at::Tensor fft_conv_autograd(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev);
at::Tensor diag_scan_autograd(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0);
at::Tensor butterfly_conv_autograd(const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                   const OptTensor& k_rev, const OptTensorList& factors);

}  // namespace ssm::ops
