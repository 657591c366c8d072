// What a user would otherwise write with LibTorch, timed beside the ssm ops in the same run.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace ssm::bench {

// The materialized kernel of state-spaces/s4 without its extension: exp(x l) as a (B, N, L) tensor, then a
// contraction with v: 2 Re einsum('bn,bnl->bl', v, exp(x l)).
at::Tensor vandermonde_materialized(const at::Tensor& v, const at::Tensor& x, int64_t L);

// s4's FFTConv chain: rfft of u and k at n = 2L, multiply, irfft, crop, add D u. The anti-causal part, if any, is
// folded into the kernel as s4 does: k = pad(k, (0, L)) + pad(flip(k_rev), (L, 0)), shifted by one to match ssm.
at::Tensor fft_conv_chain(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                          const std::optional<at::Tensor>& k_rev);

// A per-step LibTorch loop over the sequence: x = a_l * x + b[:, l], stacked (what S5 users write without a scan
// kernel in an eager framework).
at::Tensor diag_scan_loop(const at::Tensor& a, const at::Tensor& b);

}  // namespace ssm::bench
