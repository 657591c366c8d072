#include "layers/hippo.h"

#include <ATen/TensorOperators.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/argsort.h>
#include <ATen/ops/diag_embed.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/complex.h>
#include <ATen/ops/linalg_eigh.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/outer.h>
#include <ATen/ops/sqrt.h>
#include <ATen/ops/tril.h>
#include <ATen/ops/zeros.h>

#include <cmath>
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

std::pair<at::Tensor, at::Tensor> hippo_legt(int64_t N) {
  if (N < 1) throw std::invalid_argument("hippo_legt: N must be >= 1, got " + std::to_string(N));
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor q = at::sqrt(2 * at::arange(N, f64) + 1);
  at::Tensor A = at::empty({N, N}, f64);
  auto a = A.accessor<double, 2>();
  const auto qa = q.accessor<double, 1>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < N; ++k) a[n][k] = -0.5 * qa[n] * qa[k] * (n >= k || (k - n) % 2 == 0 ? 1.0 : -1.0);
  return {A, 0.5 * q};
}

std::pair<at::Tensor, at::Tensor> hippo_fout(int64_t N) {
  if (N < 2 || N % 2) throw std::invalid_argument("hippo_fout: N must be even and >= 2, got " + std::to_string(N));
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  at::Tensor A = at::zeros({N, N}, f64), B = at::zeros({N}, f64);
  auto a = A.accessor<double, 2>();
  auto b = B.accessor<double, 1>();
  for (int64_t j = 0; j + 1 < N; ++j) {
    const double d = j % 2 == 0 ? static_cast<double>(j / 2) : 0.0;
    a[j][j + 1] = -M_PI * d;
    a[j + 1][j] = M_PI * d;
  }
  for (int64_t n = 0; n < N; n += 2) b[n] = n == 0 ? 1.0 : std::sqrt(2.0);
  return {A - at::outer(B, B), B};
}

std::pair<at::Tensor, at::Tensor> hippo(const std::string& measure, int64_t N) {
  if (measure == "legs") return hippo_legs(N);
  if (measure == "legt") return hippo_legt(N);
  if (measure == "fout") return hippo_fout(N);
  throw std::invalid_argument("hippo: measure must be legs, legt or fout, got '" + measure + "'");
}

at::Tensor hippo_correction(const std::string& measure, int64_t N) {
  if (measure == "legs") return hippo_legs_p(N).unsqueeze(0);
  if (measure == "fout") return hippo_fout(N).second.unsqueeze(0);
  if (measure == "legt") {
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    at::Tensor P = at::zeros({2, N}, f64);
    auto p = P.accessor<double, 2>();
    for (int64_t n = 0; n < N; ++n) p[n % 2 ? 0 : 1][n] = std::sqrt((2.0 * n + 1) / 2);
    return P;
  }
  throw std::invalid_argument("hippo: measure must be legs, legt or fout, got '" + measure + "'");
}

DiagonalInit s4d_diagonal(const std::string& measure, int64_t N) {
  if (N < 2 || N % 2)
    throw std::invalid_argument("s4d_" + measure + ": N must be even and >= 2, got " + std::to_string(N));
  auto [A, B] = hippo(measure, N);
  const at::Tensor P = hippo_correction(measure, N);
  const at::Tensor S = A + at::matmul(P.transpose(0, 1), P);  // normal: re I + skew-symmetric
  const double re = S.diagonal().mean().item<double>();
  const at::Tensor skew = S - re * at::eye(N, A.options());
  // -i * skew is Hermitian: its real eigenvalues w give the eigenvalues i w of skew.
  const at::Tensor H = skew.to(at::kComplexDouble) * c10::complex<double>(0, -1);
  auto [w, V] = at::linalg_eigh(H);                      // ascending w; conjugate pairs +-w
  const at::Tensor keep = at::arange(N / 2, N, at::TensorOptions().dtype(at::kLong));  // the N/2 largest
  const at::Tensor wk = w.index_select(0, keep);
  const at::Tensor Vk = V.index_select(1, keep);         // (N, N/2)
  DiagonalInit out;
  out.A = at::complex(at::full_like(wk, re), wk);
  out.V = Vk;
  out.B = at::matmul(Vk.conj().transpose(0, 1), B.to(at::kComplexDouble));  // (N/2)
  return out;
}

DiagonalInit s4d_legs(int64_t N) { return s4d_diagonal("legs", N); }

}  // namespace ssm::layers
