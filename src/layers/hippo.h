// HiPPO matrices and the diagonal initializations derived from them (float64 / complex128, through LibTorch's
// linear algebra).
#pragma once

#include <ATen/core/Tensor.h>

#include <utility>

namespace ssm::layers {

// HiPPO-LegS in negative form: A[n,k] = -sqrt(2n+1) sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k); B[n] = sqrt(2n+1).
// Returns (A (N, N), B (N)), float64.
std::pair<at::Tensor, at::Tensor> hippo_legs(int64_t N);

// The rank-1 correction P[n] = sqrt(n + 1/2): A + P P^T = -1/2 I + S with S skew-symmetric (the "normal part").
at::Tensor hippo_legs_p(int64_t N);

struct DiagonalInit {
  at::Tensor A;  // (N/2) complex128 eigenvalues, imaginary part > 0 (their conjugates are implied)
  at::Tensor V;  // (N, N/2) complex128 unit eigenvectors
  at::Tensor B;  // (N/2) complex128: V^* B_LegS
};

// S4D-LegS: the eigen-decomposition of the normal part of HiPPO-LegS, the half of the conjugate pairs with positive
// imaginary part (ascending), B = V^* B_LegS. N even.
DiagonalInit s4d_legs(int64_t N);

}  // namespace ssm::layers
