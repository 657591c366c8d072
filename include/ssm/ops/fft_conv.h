// Public C++ API of ssm::fft_conv (libssm_ops): calls the op through the PyTorch dispatcher, so CPU, CUDA and autograd
// are chosen exactly as for torch.ops.ssm.fft_conv in Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace ssm {

// Causal linear (never circular) long convolution with optional anti-causal part and skip:
//   y[b,h,l] = sum_{j<=l} k[h,l-j] u[b,h,j] + sum_{j>l} k_rev[h,j-l-1] u[b,h,j] + D[h] u[b,h,l].
// u: (B, H, L); k: (H, Lk), 1 <= Lk <= L; D: (H); k_rev: (H, Lk). All of one dtype and device:
// float32 or float64 on CPU; float32, bfloat16 or float16 on CUDA (computed in float32). Returns (B, H, L).
// Differentiable in u, k, D and k_rev.
at::Tensor fft_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D = std::nullopt,
                    const std::optional<at::Tensor>& k_rev = std::nullopt);

// FFT length the convolution uses: the smallest 2^a 3^b 5^c 7^d >= L + Lk - 1 (L + Lk with k_rev).
int64_t fft_conv_size(int64_t L, int64_t Lk, bool bidirectional);

}  // namespace ssm
