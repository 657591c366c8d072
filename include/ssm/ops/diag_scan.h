// Public C++ API of ssm::diag_scan (libssm_ops): calls the op through the PyTorch dispatcher, so CPU, CUDA and autograd
// are chosen exactly as for torch.ops.ssm.diag_scan in Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace ssm {

// Diagonal linear recurrence (the scan of S5), elementwise over the state:
//   x[b, k, p] = a[k, p] * x[b, k-1, p] + b[b, k, p],   x[b, -1, p] = h0[b, p] (or 0)
// reverse: the same from the end, x[b, k] = a[k] x[b, k+1] + b[b, k], x[b, L] = h0.
// b: (B, L, P); a: (P) time-invariant or (B, L, P) time-varying; h0: (B, P). One dtype (float32, float64,
// complex64, complex128) and device. Returns x: (B, L, P). Differentiable in a, b and h0.
at::Tensor diag_scan(const at::Tensor& a, const at::Tensor& b, bool reverse = false,
                     const std::optional<at::Tensor>& h0 = std::nullopt);

}  // namespace ssm
