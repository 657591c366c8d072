// Public C++ API of ssm::butterfly_conv (libssm_ops): calls the op through the PyTorch dispatcher, so CPU, CUDA and
// autograd are chosen exactly as for torch.ops.ssm.butterfly_conv in Python.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace ssm {

// The same convolution as fft_conv, computed through a factorization of the DFT of size n = fft_conv_size(L, Lk, k_rev)
// into small dense DFT matrices (radices from butterfly_radices(n)), twiddle diagonals and digit permutations
// (FlashButterfly). The spectra stay in digit-reversed order, so no permutation is ever applied.
// factors: optional, one complex tensor per stage, (r, r) shared by every channel or (H, r, r) per channel, all of one
// kind; complex64 for float32/bfloat16/float16 inputs, complex128 for float64. When given they replace the exact DFT
// matrices of the forward transforms of u and k (the learned-butterfly extension; twiddles and the inverse stay
// exact):  y = Re(F^-1 (Ft(u) * Ft(k)))[:L] + D u,  with Ft the butterfly product over `factors`.
// Differentiable in u, k, D, k_rev and every factor. Devices and dtypes as fft_conv.
// Without factors every stage's exact DFT matrix is applied by an in-register FFT codelet, each real row on its own
// (as one complex row of n / 2 where that plan runs in one pass; no output depends on another sample), CPU and CUDA
// running the same code; variants through SSM_BUTTERFLY (README, "Options"); with factors the stages are dense complex
// matrix products (TF32 tensor cores on CUDA for bfloat16/float16).
at::Tensor butterfly_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D = std::nullopt,
                          const std::optional<at::Tensor>& k_rev = std::nullopt,
                          const std::optional<at::TensorList>& factors = std::nullopt);

// Radices (each in 2..16, products of 2, 3, 5, 7; smallest first) whose product is n: the butterfly stages. n must be
// 7-smooth (as fft_conv_size returns).
std::vector<int64_t> butterfly_radices(int64_t n);

// The exact DFT matrices F_r[a, i] = exp(-2 pi i a i / r) of every stage of n, in the given complex dtype; with
// channels > 0 each is repeated to (channels, r, r). What butterfly_conv uses when no factors are given.
std::vector<at::Tensor> butterfly_dft_factors(int64_t n, at::ScalarType complex_dtype, int64_t channels = 0);

}  // namespace ssm
