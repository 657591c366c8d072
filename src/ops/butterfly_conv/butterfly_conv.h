// ssm::butterfly_conv internals shared by the CPU (LibTorch matrix products) and CUDA (fused kernels) backends.
//
// The DFT of size n = r_0 r_1 ... r_{s-1} in natural input order is computed in s stages. Stage k views the data as
// (P_k, r_k, m_k) with P_k = r_0 ... r_{k-1} and m_k = n / (P_k r_k), multiplies by the r_k x r_k DFT matrix along
// the middle axis and then by the twiddles exp(-2 pi i a j / (r_k m_k)) (a: the new digit, j: the position in m_k).
// The result is the DFT in digit-reversed order: element [a_0][a_1]...[a_{s-1}] holds frequency
// a_0 + r_0 (a_1 + r_1 (a_2 + ...)). Spectra are only ever multiplied pointwise, and the inverse is the conjugate
// transpose of the stages applied in reverse order (divided by n), so no permutation is ever materialized.
#pragma once

#include "ops/fft_conv/fft_conv.h"

#include <ATen/core/Tensor.h>

#include <string>
#include <tuple>
#include <vector>

namespace ssm::ops {

struct ButterflyStage {
  int64_t r, P, m;  // radix, product of the earlier radices, n / (P r)
};

std::vector<ButterflyStage> butterfly_stages(int64_t n);

// Sizes of a checked butterfly_conv call: the fft_conv sizes plus the plan and the factors' kind.
struct ButterflyConvSizes : FftConvSizes<int64_t> {
  int64_t n;
  std::vector<ButterflyStage> stages;
  bool has_factors, per_channel;
};
ButterflyConvSizes check_butterfly_conv(const char* op, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                        const OptTensor& k_rev, const OptTensorList& factors);
// The factors against the plan of n (one per stage, (r, r) or (H, r, r), complex dtype `want`, u's device); returns
// whether they are per channel.
bool check_butterfly_factors(const char* op, at::TensorList factors, const at::Tensor& u, int64_t H, int64_t n,
                             const std::vector<ButterflyStage>& stages, const std::string& sizes_note);

// du, dk, dD, dk_rev, d factors (empty when not requested)
using ButterflyConvGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, std::vector<at::Tensor>>;

// The exact DFT matrices of every stage of n (shared (r, r)) in complex dtype cdt on a device, cached: what both
// backends use when no factors are given.
const std::vector<at::Tensor>& exact_dft_factors(int64_t n, at::ScalarType cdt, const at::Device& device);

// The implementation through LibTorch operators (batched complex matrix products): the CPU backend, and the CUDA
// backward whenever factor gradients are requested.
at::Tensor butterfly_conv_aten(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors);
ButterflyConvGrads butterfly_conv_backward_aten(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> output_mask);

#ifdef SSM_WITH_CUDA
at::Tensor butterfly_conv_cuda(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors);
ButterflyConvGrads butterfly_conv_backward_cuda(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> output_mask);
#endif

// Without factors on the CPU: the exact-DFT pipeline shared with the CUDA kernels
// (cuda/butterfly_conv/butterfly_fft.h), on checked sizes; float32 or float64.
at::Tensor butterfly_conv_fft_cpu(const ButterflyConvSizes& sizes, const at::Tensor& u, const at::Tensor& k,
                                  const OptTensor& D, const OptTensor& k_rev);
ButterflyConvGrads butterfly_conv_backward_fft_cpu(const ButterflyConvSizes& sizes, const at::Tensor& grad_y,
                                                   const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                                                   const OptTensor& k_rev, std::array<bool, 5> output_mask);

}  // namespace ssm::ops
