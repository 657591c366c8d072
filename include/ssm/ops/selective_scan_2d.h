// Public C++ API of ssm::selective_scan_2d (libssm_ops): calls the op through the PyTorch dispatcher, so CPU, CUDA and
// autograd are chosen exactly as for torch.ops.ssm.selective_scan_2d in Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>

namespace ssm {

// The 2-D selective SSM (Roesser form; the project's definition of Chimera's layer, README "selective_scan_2d"),
// per batch b, channel d and state n, over variates v and time t, with lag s >= 1:
//   h1[v,t] = exp(dt1 A1) h1[v,t-s] + exp(dt1 A2) h2[v,t-s] + dt1 B1[v,t] x[v,t]
//   h2[v,t] = exp(dt2 A3) h1[v-1,t] + exp(dt2 A4) h2[v-1,t] + dt2 B2[v,t] x[v,t]
//   y[v,t]  = sum_n (C1[v,t,n] h1[v,t,n] + C2[v,t,n] h2[v,t,n]) + D x[v,t]
// (dt1 = dt1[b,v,t,d], A1 = A1[d,n], ...), zero states outside the grid; reverse_variates runs the variate
// recurrence from v = V - 1 down (v + 1 in place of v - 1).
// x, dt1, dt2: (batch, V, T, dim), dt positive (the layer applies softplus); A1..A4: (dim, N); B1, B2, C1, C2:
// (batch, V, T, N); D: (dim). dtypes: x, dt1, dt2, B*, C* one dtype (float32 or float64 on the CPU; float32,
// bfloat16 or float16 on CUDA); A*, D float64 for float64 inputs, else float32. Returns y (batch, V, T, dim) in x's
// dtype. Differentiable in every tensor input.
at::Tensor selective_scan_2d(const at::Tensor& x, const at::Tensor& dt1, const at::Tensor& dt2, const at::Tensor& A1,
                             const at::Tensor& A2, const at::Tensor& A3, const at::Tensor& A4, const at::Tensor& B1,
                             const at::Tensor& B2, const at::Tensor& C1, const at::Tensor& C2,
                             const std::optional<at::Tensor>& D = std::nullopt, int64_t lag = 1,
                             bool reverse_variates = false);

}  // namespace ssm
