// Public C++ API of ssm::vandermonde (libssm_ops): calls the op through the PyTorch dispatcher, so CPU, CUDA and autograd
// are chosen exactly as for torch.ops.ssm.vandermonde in Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace ssm {

// Log-Vandermonde product (the S4D convolution kernel):
//   out[b, l] = 2 Re sum_n v[b, n] * exp(x[b, n] * l),   l = 0 .. L-1.
// v, x: complex64 or complex128, shape (B, N), same dtype and device. Returns the matching real dtype, (B, L).
// Differentiable in v and x. Never materializes a (B, N, L) tensor.
at::Tensor vandermonde(const at::Tensor& v, const at::Tensor& x, int64_t L);

}  // namespace ssm
