// What the case tables of the two convolution ops (fft_conv, butterfly_conv: same arguments and semantics) share.
#pragma once

#include "ops/common/cases.h"

#include <ATen/ATen.h>

#include <optional>
#include <string>

namespace ssm::cases {

// A case (B, H, L, Lk) with D and k_rev present or not.
Case conv_case(int64_t B, int64_t H, int64_t L, int64_t Lk, bool D, bool k_rev, unsigned uses);
// u (B, H, L) normal; k and k_rev (H, Lk) normal times a decay like an SSM kernel's (so that sums stay O(1) at long
// L); D (H) normal: {u, k, D, k_rev}, D and k_rev undefined when the case has none.
std::vector<at::Tensor> conv_inputs(const Case& c, at::ScalarType dtype, at::Device device);
// The direct O(L Lk) convolution in float64, loop by loop.
at::Tensor conv_reference(const Case& c, const std::vector<at::Tensor>& in);
// Bytes and flops of the real-FFT algorithm at the case's FFT length (for both ops, so that their rates compare).
Counts conv_counts(const Case& c, at::ScalarType dtype);
// s4's FFTConv chain, the LibTorch code a user would otherwise write: rfft of u and k at 2L, multiply, irfft, crop,
// add D u (k_rev folded into the kernel as s4 does).
at::Tensor fft_conv_chain(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                          const std::optional<at::Tensor>& k_rev);
// The JSON arguments of the conv ops (u, k, D, k_rev as tensors or null), then `extra`.
std::string conv_python_args(const Case& c, const std::string& extra = "");
inline std::optional<at::Tensor> opt(const at::Tensor& t) {
  return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt;
}

}  // namespace ssm::cases
