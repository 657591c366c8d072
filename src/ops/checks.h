// Argument checks shared by every backend of an op (CPU, CUDA, Meta): one place says what each op accepts.
// Each failure is a c10::Error naming the op, the argument, what it got and what was expected.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

namespace ssm::ops {

std::string shape_str(const at::Tensor& t);

// Sizes of a checked vandermonde call.
struct VandermondeSizes {
  int64_t B, N, L;
};
// v, x: complex64/complex128, (B, N), one dtype and device; N >= 1; L >= 1.
VandermondeSizes check_vandermonde(const at::Tensor& v, const at::Tensor& x, int64_t L);
// grad_out: (B, L) of the real dtype matching v, on v's device.
VandermondeSizes check_vandermonde_backward(const at::Tensor& grad_out, const at::Tensor& v, const at::Tensor& x);

// Sizes of a checked fft_conv call.
struct FftConvSizes {
  int64_t B, H, L, Lk;
  bool has_D, has_k_rev;
};
// u: (B, H, L); k: (H, Lk), 1 <= Lk <= L; D: (H); k_rev: (H, Lk); one dtype and device, a dtype the device supports.
FftConvSizes check_fft_conv(const char* op, const at::Tensor& u, const at::Tensor& k,
                            const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& k_rev);
// grad_y like u.
void check_fft_conv_grad(const at::Tensor& grad_y, const at::Tensor& u);

// Sizes of a checked diag_scan call.
struct DiagScanSizes {
  int64_t B, L, P;
  bool a_varying, has_h0;
};
// b: (B, L, P); a: (P) or (B, L, P); h0: (B, P); one dtype (float32, float64, complex64, complex128) and device.
DiagScanSizes check_diag_scan(const char* op, const at::Tensor& a, const at::Tensor& b,
                              const std::optional<at::Tensor>& h0);
// `t` (named `name`) must match `ref` (named `ref_name`) in shape, dtype and device.
void check_same_as(const char* op, const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref);

}  // namespace ssm::ops
