// HiPPO-LegS, -LegT and -FouT and their diagonal (S4D) initializations: the matrices' formulas, the normal parts,
// their diagonalization, and the projection that the LegT and FouT states hold (a known signal reconstructed).
#include "layers/hippo.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>

namespace ssm::layers {
namespace {

TEST(Hippo, LegsMatchesItsFormula) {
  auto [A, B] = hippo_legs(5);
  for (int n = 0; n < 5; ++n) {
    EXPECT_DOUBLE_EQ(B[n].item<double>(), std::sqrt(2.0 * n + 1));
    for (int k = 0; k < 5; ++k) {
      const double want = n > k ? -std::sqrt(2.0 * n + 1) * std::sqrt(2.0 * k + 1) : (n == k ? -(n + 1.0) : 0.0);
      EXPECT_NEAR(A[n][k].item<double>(), want, 1e-12) << n << "," << k;
    }
  }
}

TEST(Hippo, NormalPartEigenvaluesHaveRealPartMinusHalf) {
  for (const int64_t N : {2, 8, 64}) {
    auto [A, B] = hippo_legs(N);
    const torch::Tensor P = hippo_legs_p(N);
    const torch::Tensor S = A + torch::outer(P, P);
    const torch::Tensor skew = S + 0.5 * torch::eye(N, torch::kDouble);
    EXPECT_LT((skew + skew.t()).abs().max().item<double>(), 1e-10) << "N " << N;
    const torch::Tensor ev = torch::linalg_eigvals(S);
    EXPECT_LT((torch::real(ev) + 0.5).abs().max().item<double>(), 1e-9) << "N " << N;
  }
}

TEST(Hippo, S4dLegsReconstructsTheNormalPart) {
  for (const int64_t N : {4, 64}) {
    const DiagonalInit d = s4d_legs(N);
    ASSERT_EQ(d.A.size(0), N / 2);
    EXPECT_LT((torch::real(d.A) + 0.5).abs().max().item<double>(), 1e-12);
    EXPECT_GT(torch::imag(d.A).min().item<double>(), 0);
    // With the conjugate pairs: V diag(A) V^* = S.
    const torch::Tensor V = torch::cat({d.V, d.V.conj()}, 1), L = torch::cat({d.A, d.A.conj()});
    auto [A, B] = hippo_legs(N);
    const torch::Tensor S = A + torch::outer(hippo_legs_p(N), hippo_legs_p(N));
    const torch::Tensor R = torch::matmul(V * L.unsqueeze(0), V.conj().t());
    EXPECT_LT((R - S.to(torch::kComplexDouble)).abs().max().item<double>() / S.abs().max().item<double>(), 1e-10);
    EXPECT_LT((d.B - torch::matmul(d.V.conj().t(), B.to(torch::kComplexDouble))).abs().max().item<double>(), 1e-12);
  }
}


TEST(Hippo, LegtAndFoutMatchTheirFormulas) {
  auto [A, B] = hippo_legt(5);
  for (int n = 0; n < 5; ++n) {
    EXPECT_DOUBLE_EQ(B[n].item<double>(), 0.5 * std::sqrt(2.0 * n + 1));
    for (int k = 0; k < 5; ++k) {
      const double sign = n >= k ? 1.0 : ((n - k) % 2 == 0 ? 1.0 : -1.0);
      EXPECT_NEAR(A[n][k].item<double>(), -0.5 * std::sqrt(2.0 * n + 1) * std::sqrt(2.0 * k + 1) * sign, 1e-12);
    }
  }
  // FouT at N = 6: off-diagonal frequencies [0, 0, 1, 0, 2], B = [1, 0, sqrt 2, 0, sqrt 2, 0], A = pi (...) - B B^T.
  auto [F, Bf] = hippo_fout(6);
  const double r2 = std::sqrt(2.0), b[6] = {1, 0, r2, 0, r2, 0}, d[5] = {0, 0, 1, 0, 2};
  for (int n = 0; n < 6; ++n) {
    EXPECT_DOUBLE_EQ(Bf[n].item<double>(), b[n]);
    for (int k = 0; k < 6; ++k) {
      double want = -b[n] * b[k];
      if (k == n + 1) want -= M_PI * d[n];
      if (n == k + 1) want += M_PI * d[k];
      EXPECT_NEAR(F[n][k].item<double>(), want, 1e-12) << n << "," << k;
    }
  }
  EXPECT_THROW(hippo_fout(5), std::invalid_argument);
  EXPECT_THROW(hippo("legx", 4), std::invalid_argument);
}

TEST(Hippo, CorrectionsLeaveNormalMatrices) {
  for (const std::string m : {"legs", "legt", "fout"})
    for (const int64_t N : {4, 16, 64}) {
      auto [A, B] = hippo(m, N);
      const torch::Tensor P = hippo_correction(m, N);
      const torch::Tensor S = A + torch::matmul(P.t(), P);
      const double re = m == "legs" ? -0.5 : 0.0;
      const torch::Tensor skew = S - re * torch::eye(N, torch::kDouble);
      EXPECT_LT((skew + skew.t()).abs().max().item<double>(), 1e-10) << m << " " << N;
      const DiagonalInit dgn = s4d_diagonal(m, N);
      ASSERT_EQ(dgn.A.size(0), N / 2);
      EXPECT_LT((torch::real(dgn.A) - re).abs().max().item<double>(), 1e-10);
      EXPECT_GE(torch::imag(dgn.A).min().item<double>(), -1e-9);
      const torch::Tensor V = torch::cat({dgn.V, dgn.V.conj()}, 1), L = torch::cat({dgn.A, dgn.A.conj()});
      const torch::Tensor R = torch::matmul(V * L.unsqueeze(0), V.conj().t());
      EXPECT_LT((R - S.to(torch::kComplexDouble)).abs().max().item<double>() / S.abs().max().item<double>(), 1e-9)
          << m << " " << N;
    }
}

// x' = A x + B f(t), bilinear steps of dt, from x = 0; returns x(T).
torch::Tensor run_hippo(const torch::Tensor& A, const torch::Tensor& B, double T, double dt,
                        const std::function<double(double)>& f) {
  const int64_t N = A.size(0);
  const torch::Tensor I = torch::eye(N, torch::kDouble);
  const torch::Tensor Ad = torch::linalg_solve(I - dt / 2 * A, I + dt / 2 * A);
  const torch::Tensor Bd = torch::linalg_solve(I - dt / 2 * A, (dt * B).unsqueeze(1)).squeeze(1);
  torch::Tensor x = torch::zeros({N}, torch::kDouble);
  for (int64_t i = 0; i < static_cast<int64_t>(T / dt); ++i) x = torch::mv(Ad, x) + Bd * f((i + 0.5) * dt);
  return x;
}

TEST(Hippo, LegtAndFoutStatesHoldTheLastTwoTimeUnits) {
  const auto f = [](double t) { return std::sin(3 * t) + 0.5 * std::cos(7 * t); };
  const double T = 6, dt = 1.0 / 2000;
  {  // LegT: Legendre coefficients over [T - 2, T].
    const int64_t N = 32;
    auto [A, B] = hippo_legt(N);
    const torch::Tensor xs = run_hippo(A, B, T, dt, f);
    const auto x = xs.accessor<double, 1>();
    double worst = 0;
    for (double s = 0; s <= 1.0001; s += 0.05) {
      const double z = 2 * s - 1;
      double p0 = 1, p1 = z, rec = x[0] + std::sqrt(3.0) * x[1] * z;
      for (int64_t n = 2; n < N; ++n) {
        const double p2 = ((2 * n - 1) * z * p1 - (n - 1) * p0) / n;
        rec += std::sqrt(2.0 * n + 1) * x[n] * p2;
        p0 = p1, p1 = p2;
      }
      worst = std::max(worst, std::abs(rec - f(T - 2 + 2 * s)));
    }
    EXPECT_LT(worst, 1e-4);
  }
  {  // FouT: Fourier coefficients over [T - 2, T] (away from the window's ends, where the series rings).
    const int64_t N = 64;
    auto [A, B] = hippo_fout(N);
    const torch::Tensor xs = run_hippo(A, B, T, dt, f);
    const auto x = xs.accessor<double, 1>();
    double worst = 0;
    for (double s = 0.05; s <= 0.95001; s += 0.05) {
      double rec = x[0];
      for (int64_t k = 1; k < N / 2; ++k)
        rec += std::sqrt(2.0) * (x[2 * k] * std::cos(2 * M_PI * k * s) - x[2 * k + 1] * std::sin(2 * M_PI * k * s));
      worst = std::max(worst, std::abs(rec - f(T - 2 + 2 * s)));
    }
    EXPECT_LT(worst, 0.05);
  }
}

}  // namespace
}  // namespace ssm::layers
