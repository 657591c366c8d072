// ssm::fft_conv inside the ops library: argument checks, the backends, the op handles. ssm::butterfly_conv computes
// the same convolution and shares its checks and FFT length (ssm::fft_conv_size, include/ssm/ops/fft_conv.h).
#pragma once

#include "ops/common/checks.h"
#include "ops/common/library.h"

#include <array>
#include <tuple>

namespace ssm::ops {

using FftConvGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>;  // du, dk, dD, dk_rev

// Sizes of a checked fft_conv call; I = int64_t, or c10::SymInt in the Meta kernels.
template <class I = int64_t>
struct FftConvSizes {
  I B, H, L, Lk;
  bool has_D, has_k_rev;
};
// u: (B, H, L); k: (H, Lk), 1 <= Lk <= L; D: (H); k_rev: (H, Lk); one dtype and device, a dtype the device supports.
template <class I = int64_t>
FftConvSizes<I> check_fft_conv(const char* op, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                               const OptTensor& k_rev);
// grad_y like u.
void check_fft_conv_grad(const at::Tensor& grad_y, const at::Tensor& u);

at::Tensor fft_conv_cpu(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev);
// output_mask: which of du, dk, dD, dk_rev to compute; the others are returned undefined.
FftConvGrads fft_conv_backward_cpu(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                   const OptTensor& D, const OptTensor& k_rev, std::array<bool, 4> output_mask);
#ifdef SSM_WITH_CUDA
at::Tensor fft_conv_cuda(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev);
FftConvGrads fft_conv_backward_cuda(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                    const OptTensor& D, const OptTensor& k_rev, std::array<bool, 4> output_mask);
#endif

}  // namespace ssm::ops
