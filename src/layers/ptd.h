// Perturb-then-diagonalize (PTD; S4-PTD and S5-PTD): a small perturbation E of the positive-form HiPPO-LegS matrix
// A_H that makes A_H + E diagonalizable with a well-conditioned eigenvector matrix, found by gradient descent through
// LibTorch's autograd on the eigendecomposition (complex128):
//   minimize  kappa(V(A_H + E))^2 + lambda ||E||_F,   E complex, initialized U[0, 0.1) per part,
//   Adam (lr 0.3) with the learning rate times 0.98 every 100 steps.
// Results are cached on disk, keyed by every parameter.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace ssm::layers {

struct PtdOptions {
  int64_t n = 64;
  double lambda = 3e-3;
  int64_t iterations = 10000;
  double lr = 0.3;
  uint64_t seed = 0;
};

struct PtdResult {
  at::Tensor A_H;     // (n, n) float64, positive-form LegS
  at::Tensor E;       // (n, n) complex128
  at::Tensor Lambda;  // (n) eigenvalues of A_H + E (complex128)
  at::Tensor V, V_inv;  // (n, n) complex128: A_H + E = V diag(Lambda) V_inv
  double kappa = 0;          // condition number of V
  double e_ratio = 0;        // ||E||_2 / ||A_H||_2
  double reconstruction = 0; // ||V diag(Lambda) V_inv - (A_H + E)||_F / ||A_H + E||_F
};

// Positive-form HiPPO-LegS: A[i, j] = sqrt(2i+1) sqrt(2j+1) (i > j), i + 1 (i = j), 0 (i < j).
at::Tensor hippo_legs_positive(int64_t n);

PtdResult compute_ptd(const PtdOptions& o);
// The cached result for these options in cache_dir (computed and stored when missing; an unreadable cache file is
// recomputed and replaced). cache_dir empty: no cache.
PtdResult ptd(const PtdOptions& o, const std::string& cache_dir);
// The state matrix S4-PTD and S5-PTD start from: A = -Lambda with the real part forced negative (Re = -|Re|), all n
// eigenvalues (no conjugate halving). (n) complex128.
at::Tensor ptd_state_matrix(const PtdResult& r);

// The default cache folder: $SSM_CACHE, else $HOME/.cache/ssm, else /tmp/ssm-cache.
std::string default_cache_dir();

}  // namespace ssm::layers
