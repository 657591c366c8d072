// HiPPO-LegS and the S4D-LegS initialization: the matrices' formulas, the normal part, its diagonalization.
#include "layers/hippo.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

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

}  // namespace
}  // namespace ssm::layers
