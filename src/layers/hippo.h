// HiPPO matrices and the diagonal initializations derived from them (float64 / complex128, through LibTorch's
// linear algebra).
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>

namespace ssm::layers {

// HiPPO-LegS in negative form: A[n,k] = -sqrt(2n+1) sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k); B[n] = sqrt(2n+1).
// Returns (A (N, N), B (N)), float64.
std::pair<at::Tensor, at::Tensor> hippo_legs(int64_t N);

// The rank-1 correction P[n] = sqrt(n + 1/2): A + P P^T = -1/2 I + S with S skew-symmetric (the "normal part").
at::Tensor hippo_legs_p(int64_t N);

// HiPPO-LegT ("How to Train Your HiPPO"): A[n,k] = -(1/2) sqrt(2n+1) sqrt(2k+1) (n >= k) or (-1)^(n-k) times that
// (n < k), B[n] = (1/2) sqrt(2n+1). The state x(t) holds the Legendre coefficients of the input over the last 2 time
// units: f(t - 2 + 2s) ~ sum_n x_n sqrt(2n+1) P_n(2s - 1), s in [0, 1].
std::pair<at::Tensor, at::Tensor> hippo_legt(int64_t N);
// HiPPO-FouT: frequencies d = [0, 0, 1, 0, 2, 0, 3, ...] (N - 1 of them), A = pi (-diag(d, 1) + diag(d, -1)) - B B^T,
// B[0] = 1, B[2k] = sqrt(2), 0 at odd n. The state holds Fourier coefficients of the last 2 time units:
// f(t - 2 + 2s) ~ x_0 + sum_k sqrt(2) (x_2k cos(2 pi k s) - x_2k+1 sin(2 pi k s)). N even.
std::pair<at::Tensor, at::Tensor> hippo_fout(int64_t N);
// The measure's HiPPO matrices ("legs", "legt", "fout") and the rows P_i (r, N) of its low-rank correction, with
// A + sum_i P_i P_i^T normal: LegS P = sqrt(n + 1/2) (A + PP^T = -1/2 + skew); LegT P_0 = sqrt((2n+1)/2) at odd n,
// P_1 at even n (skew); FouT P = B (skew).
std::pair<at::Tensor, at::Tensor> hippo(const std::string& measure, int64_t N);
at::Tensor hippo_correction(const std::string& measure, int64_t N);

struct DiagonalInit {
  at::Tensor A;  // (N/2) complex128 eigenvalues, imaginary part > 0 (their conjugates are implied)
  at::Tensor V;  // (N, N/2) complex128 unit eigenvectors
  at::Tensor B;  // (N/2) complex128: V^* B_LegS
};

// The diagonal (S4D) initialization of a measure: the eigen-decomposition of the normal part A + sum P_i P_i^T of its
// HiPPO matrix, the half of the conjugate pairs with the larger imaginary parts (ascending), B = V^* B. The real part
// is the mean of the normal part's diagonal: -1/2 for LegS, 0 for LegT and FouT (S4D clamps it to -1e-4). N even.
DiagonalInit s4d_diagonal(const std::string& measure, int64_t N);
// S4D-LegS: s4d_diagonal("legs", N).
DiagonalInit s4d_legs(int64_t N);

}  // namespace ssm::layers
