#include "layers/hippo.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/diag_embed.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/complex.h>
#include <ATen/ops/linalg_eigh.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/outer.h>
#include <ATen/ops/sqrt.h>
#include <ATen/ops/tril.h>
#include <ATen/ops/zeros.h>

#include <stdexcept>

namespace ssm::layers {

std::pair<at::Tensor, at::Tensor> hippo_legs(int64_t N) {
  if (N < 1) throw std::invalid_argument("hippo_legs: N must be >= 1, got " + std::to_string(N));
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor q = at::sqrt(2 * at::arange(N, f64) + 1);  // (N)
  at::Tensor A = -at::tril(at::outer(q, q), -1);                // strictly lower part
  A = A - at::diag_embed(at::arange(N, f64) + 1);
  return {A, q};
}

at::Tensor hippo_legs_p(int64_t N) {
  return at::sqrt(at::arange(N, at::TensorOptions().dtype(at::kDouble)) + 0.5);
}

DiagonalInit s4d_legs(int64_t N) {
  if (N < 2 || N % 2) throw std::invalid_argument("s4d_legs: N must be even and >= 2, got " + std::to_string(N));
  auto [A, B] = hippo_legs(N);
  const at::Tensor P = hippo_legs_p(N);
  const at::Tensor S = A + at::outer(P, P);  // -1/2 I + skew-symmetric
  const at::Tensor skew = S + 0.5 * at::eye(N, A.options());
  // -i * skew is Hermitian: its real eigenvalues w give the eigenvalues i w of skew.
  const at::Tensor H = skew.to(at::kComplexDouble) * c10::complex<double>(0, -1);
  auto [w, V] = at::linalg_eigh(H);                      // ascending w; conjugate pairs +-w
  const at::Tensor keep = at::arange(N / 2, N, at::TensorOptions().dtype(at::kLong));  // the N/2 with w > 0
  const at::Tensor wk = w.index_select(0, keep);
  const at::Tensor Vk = V.index_select(1, keep);         // (N, N/2)
  DiagonalInit out;
  out.A = at::complex(at::full_like(wk, -0.5), wk);
  out.V = Vk;
  out.B = at::matmul(Vk.conj().transpose(0, 1), B.to(at::kComplexDouble));  // (N/2)
  return out;
}

}  // namespace ssm::layers
