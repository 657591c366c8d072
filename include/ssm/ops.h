// Public C++ API of the ssm ops library (libssm_ops). Every function calls the op through the PyTorch dispatcher,
// so CPU, CUDA and autograd are chosen exactly as for torch.ops.ssm.* in Python.
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

// Causal linear (never circular) long convolution with optional anti-causal part and skip:
//   y[b,h,l] = sum_{j<=l} k[h,l-j] u[b,h,j] + sum_{j>l} k_rev[h,j-l-1] u[b,h,j] + D[h] u[b,h,l].
// u: (B, H, L); k: (H, Lk), 1 <= Lk <= L; D: (H); k_rev: (H, Lk). All of one dtype and device:
// float32 or float64 on CPU; float32, bfloat16 or float16 on CUDA (computed in float32). Returns (B, H, L).
// Differentiable in u, k, D and k_rev.
at::Tensor fft_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D = std::nullopt,
                    const std::optional<at::Tensor>& k_rev = std::nullopt);

// Diagonal linear recurrence (the scan of S5), elementwise over the state:
//   x[b, k, p] = a[k, p] * x[b, k-1, p] + b[b, k, p],   x[b, -1, p] = h0[b, p] (or 0)
// reverse: the same from the end, x[b, k] = a[k] x[b, k+1] + b[b, k], x[b, L] = h0.
// b: (B, L, P); a: (P) time-invariant or (B, L, P) time-varying; h0: (B, P). One dtype (float32, float64,
// complex64, complex128) and device. Returns x: (B, L, P). Differentiable in a, b and h0.
at::Tensor diag_scan(const at::Tensor& a, const at::Tensor& b, bool reverse = false,
                     const std::optional<at::Tensor>& h0 = std::nullopt);

// The same convolution as fft_conv, computed through a factorization of the DFT of size n = fft_conv_size(L, Lk, k_rev)
// into small dense DFT matrices (radices from butterfly_radices(n)), twiddle diagonals and digit permutations
// (FlashButterfly). The spectra stay in digit-reversed order, so no permutation is ever applied.
// factors: optional, one complex tensor per stage, (r, r) shared by every channel or (H, r, r) per channel, all of one
// kind; complex64 for float32/bfloat16/float16 inputs, complex128 for float64. When given they replace the exact DFT
// matrices of the forward transforms of u and k (the learned-butterfly extension; twiddles and the inverse stay
// exact):  y = Re(F^-1 (Ft(u) * Ft(k)))[:L] + D u,  with Ft the butterfly product over `factors`.
// Differentiable in u, k, D, k_rev and every factor. Devices and dtypes as fft_conv.
// Without factors every stage's exact DFT matrix is applied by an in-register FFT codelet and two rows of the same
// channel share one complex transform (CPU and CUDA run the same code); with factors the stages are dense complex
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

// FFT length the convolution uses: the smallest 2^a 3^b 5^c 7^d >= L + Lk - 1 (L + Lk with k_rev).
int64_t fft_conv_size(int64_t L, int64_t Lk, bool bidirectional);

// Version string and build facts of the loaded library.
const char* version();
bool built_with_cuda();

}  // namespace ssm
