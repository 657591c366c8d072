// Public C++ API of ssm::selective_scan (libssm_ops): calls the op through the PyTorch dispatcher, so CPU, CUDA and
// autograd are chosen exactly as for torch.ops.ssm.selective_scan in Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <tuple>

namespace ssm {

// Mamba's selective scan, argument for argument as mamba_ssm's selective_scan_fn, plus an initial state and lengths.
// Per batch b, channel d and state n, with dt = softplus(delta + delta_bias) (delta_softplus) or delta + delta_bias:
//   x_t = exp(dt_t A[d, n]) x_{t-1} + dt_t B_t[n] u_t,   x_{-1} = h0[b, d, n] (or 0)
//   y_t = sum_n C_t[n] x_t[n] + D[d] u_t,   out_t = y_t * silu(z_t) (when z is given)
// u, delta, z: (batch, dim, L); A: (dim, N); B, C: (batch, N, L), (batch, G, N, L) with G dividing dim (channel d
// reads group d / (dim / G)), or (dim, N) fixed; D, delta_bias: (dim); h0: (batch, dim, N); lengths: (batch) int64 in
// [1, L]: positions from lengths[b] on are padding (out is 0 there; last_state is the state at lengths[b] - 1).
// dtypes: u, delta, z, B, C one dtype (float32 or float64 on the CPU; float32, bfloat16 or float16 on CUDA); A, D,
// delta_bias, h0 the state dtype (float64 for float64 inputs, else float32). Returns (out (u's dtype, (batch, dim, L)),
// last_state (state dtype, (batch, dim, N))). Differentiable in every tensor input and through both outputs.
std::tuple<at::Tensor, at::Tensor> selective_scan(
    const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
    const std::optional<at::Tensor>& D = std::nullopt, const std::optional<at::Tensor>& z = std::nullopt,
    const std::optional<at::Tensor>& delta_bias = std::nullopt, bool delta_softplus = false,
    const std::optional<at::Tensor>& h0 = std::nullopt, const std::optional<at::Tensor>& lengths = std::nullopt);

}  // namespace ssm
