// Shared test helpers: float64 references, error measures, finite-difference gradient checks, device helpers.
#pragma once

#include "support/expect_error.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ssm::test {

bool cuda_available();
// Skips the calling test (visibly, in the test output) when no GPU is present.
#define SSM_REQUIRE_CUDA()                                                           \
  do {                                                                               \
    if (!::ssm::test::cuda_available()) GTEST_SKIP() << "no CUDA device: GPU test skipped"; \
  } while (0)

// max |a - ref| / max |ref| (a and ref compared in float64).
double rel_error(const at::Tensor& a, const at::Tensor& ref);

// The float64 references of the case tables (src/ops/<op>/cases.cpp), for the ops' own tests.
// The materialized float64 reference: out[b, l] = 2 Re sum_n v[b,n] exp(x[b,n] l), in complex128.
at::Tensor vandermonde_reference(const at::Tensor& v, const at::Tensor& x, int64_t L);
// The direct O(L^2) float64 convolution, loop by loop.
at::Tensor fft_conv_reference(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                              const std::optional<at::Tensor>& k_rev);

// Inputs of a long convolution (fft_conv, butterfly_conv): u (B, H, L), kernels k and k_rev (H, Lk) that decay like
// an SSM's (so that sums stay O(1) at long L), D (H).
struct ConvShape {
  int64_t B, H, L, Lk;
};
std::string name(const ConvShape& s);  // "B2_H3_L7_Lk3"
struct ConvInputs {
  at::Tensor u, k, D, k_rev;
};
ConvInputs make_conv_inputs(const ConvShape& s, at::ScalarType dtype, at::Device device = at::kCPU);

// Checks autograd gradients of sum(f(inputs) * w) (w random; Re of it for complex outputs) against central finite differences in float64 for
// every input that requires grad. Complex inputs are perturbed in their real and imaginary parts. The error is
// max |analytic - numeric| / max(1, max |numeric|).
void expect_gradients_match(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& f,
                            std::vector<at::Tensor> inputs, double eps = 1e-6, double tol = 1e-6);


}  // namespace ssm::test
