// Op schemas and the kernels registered for each dispatch key. Meta kernels give shapes only, so that the ops work
// with torch.compile and fake tensors.
#include "ops/butterfly_conv.h"
#include "ops/checks.h"
#include "ops/impl.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include "ssm/ops.h"

namespace ssm::ops {
namespace {

at::Tensor vandermonde_meta(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  const auto s = check_vandermonde(v, x, L);
  return at::empty({s.B, L}, v.options().dtype(c10::toRealValueType(v.scalar_type())));
}

std::tuple<at::Tensor, at::Tensor> vandermonde_backward_meta(const at::Tensor& g, const at::Tensor& v,
                                                             const at::Tensor& x) {
  check_vandermonde_backward(g, v, x);
  return {at::empty_like(v), at::empty_like(x)};
}

at::Tensor fft_conv_meta(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev) {
  check_fft_conv("ssm::fft_conv", u, k, D, k_rev);
  return at::empty_like(u);
}

FftConvGrads fft_conv_backward_meta(const at::Tensor& g, const at::Tensor& u, const at::Tensor& k,
                                    const OptTensor& D, const OptTensor& k_rev, std::array<bool, 4> mask) {
  const auto s = check_fft_conv("ssm::fft_conv_backward", u, k, D, k_rev);
  check_fft_conv_grad(g, u);
  return {mask[0] ? at::empty_like(u) : at::Tensor(), mask[1] ? at::empty_like(k) : at::Tensor(),
          mask[2] && s.has_D ? at::empty_like(*D) : at::Tensor(),
          mask[3] && s.has_k_rev ? at::empty_like(*k_rev) : at::Tensor()};
}

at::Tensor butterfly_conv_meta(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors) {
  check_butterfly_conv("ssm::butterfly_conv", u, k, D, k_rev, factors);
  return at::empty_like(u);
}

ButterflyConvGrads butterfly_conv_backward_meta(const at::Tensor& g, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> mask) {
  const auto s = check_butterfly_conv("ssm::butterfly_conv_backward", u, k, D, k_rev, factors);
  check_same_as("ssm::butterfly_conv_backward", "grad_y", g, "u", u);
  std::vector<at::Tensor> dF;
  if (mask[4] && s.has_factors)
    for (const auto& F : *factors) dF.push_back(at::empty_like(F));
  return {mask[0] ? at::empty_like(u) : at::Tensor(), mask[1] ? at::empty_like(k) : at::Tensor(),
          mask[2] && s.has_D ? at::empty_like(*D) : at::Tensor(),
          mask[3] && s.has_k_rev ? at::empty_like(*k_rev) : at::Tensor(), dF};
}

at::Tensor diag_scan_meta(const at::Tensor& a, const at::Tensor& b, bool reverse, const OptTensor& h0) {
  check_diag_scan("ssm::diag_scan", a, b, h0);
  return at::empty_like(b);
}

DiagScanGrads diag_scan_backward_meta(const at::Tensor& g, const at::Tensor& a, const at::Tensor& x, bool reverse,
                                      const OptTensor& h0, std::array<bool, 3> mask) {
  const auto s = check_diag_scan("ssm::diag_scan_backward", a, x, h0);
  return {mask[0] ? at::empty_like(a) : at::Tensor(), mask[1] ? at::empty_like(x) : at::Tensor(),
          mask[2] && s.has_h0 ? at::empty_like(*h0) : at::Tensor()};
}

}  // namespace
}  // namespace ssm::ops

TORCH_LIBRARY(ssm, m) {
  m.def("vandermonde(Tensor v, Tensor x, int L) -> Tensor");
  m.def("vandermonde_backward(Tensor grad_out, Tensor v, Tensor x) -> (Tensor, Tensor)");
  m.def("fft_conv(Tensor u, Tensor k, Tensor? D=None, Tensor? k_rev=None) -> Tensor");
  m.def(
      "fft_conv_backward(Tensor grad_y, Tensor u, Tensor k, Tensor? D, Tensor? k_rev, bool[4] output_mask) -> "
      "(Tensor, Tensor, Tensor, Tensor)");
  m.def("butterfly_conv(Tensor u, Tensor k, Tensor? D=None, Tensor? k_rev=None, Tensor[]? factors=None) -> Tensor");
  m.def(
      "butterfly_conv_backward(Tensor grad_y, Tensor u, Tensor k, Tensor? D, Tensor? k_rev, Tensor[]? factors, "
      "bool[5] output_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor[])");
  // The FFT length and the butterfly plan, for callers that build learned factors (no tensor inputs: one kernel for
  // every backend).
  m.def("fft_conv_size(int L, int Lk, bool bidirectional=False) -> int", &ssm::fft_conv_size);
  m.def("butterfly_radices(int n) -> int[]", &ssm::butterfly_radices);
  m.def("butterfly_dft_factors(int n, ScalarType dtype, int channels=0) -> Tensor[]", &ssm::butterfly_dft_factors);
  m.def("diag_scan(Tensor a, Tensor b, bool reverse=False, Tensor? h0=None) -> Tensor");
  m.def(
      "diag_scan_backward(Tensor grad_x, Tensor a, Tensor x, bool reverse, Tensor? h0, bool[3] output_mask) -> "
      "(Tensor, Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(ssm, CPU, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_cpu);
  m.impl("vandermonde_backward", &ssm::ops::vandermonde_backward_cpu);
  m.impl("fft_conv", &ssm::ops::fft_conv_cpu);
  m.impl("fft_conv_backward", &ssm::ops::fft_conv_backward_cpu);
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_cpu);
  m.impl("butterfly_conv_backward", &ssm::ops::butterfly_conv_backward_cpu);
  m.impl("diag_scan", &ssm::ops::diag_scan_cpu);
  m.impl("diag_scan_backward", &ssm::ops::diag_scan_backward_cpu);
}

#ifdef SSM_WITH_CUDA
TORCH_LIBRARY_IMPL(ssm, CUDA, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_cuda);
  m.impl("vandermonde_backward", &ssm::ops::vandermonde_backward_cuda);
  m.impl("fft_conv", &ssm::ops::fft_conv_cuda);
  m.impl("fft_conv_backward", &ssm::ops::fft_conv_backward_cuda);
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_cuda);
  m.impl("butterfly_conv_backward", &ssm::ops::butterfly_conv_backward_cuda);
  m.impl("diag_scan", &ssm::ops::diag_scan_cuda);
  m.impl("diag_scan_backward", &ssm::ops::diag_scan_backward_cuda);
}
#endif

TORCH_LIBRARY_IMPL(ssm, Meta, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_meta);
  m.impl("vandermonde_backward", &ssm::ops::vandermonde_backward_meta);
  m.impl("fft_conv", &ssm::ops::fft_conv_meta);
  m.impl("fft_conv_backward", &ssm::ops::fft_conv_backward_meta);
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_meta);
  m.impl("butterfly_conv_backward", &ssm::ops::butterfly_conv_backward_meta);
  m.impl("diag_scan", &ssm::ops::diag_scan_meta);
  m.impl("diag_scan_backward", &ssm::ops::diag_scan_backward_meta);
}

TORCH_LIBRARY_IMPL(ssm, Autograd, m) {
  m.impl("vandermonde", &ssm::ops::vandermonde_autograd);
  m.impl("fft_conv", &ssm::ops::fft_conv_autograd);
  m.impl("butterfly_conv", &ssm::ops::butterfly_conv_autograd);
  m.impl("diag_scan", &ssm::ops::diag_scan_autograd);
}
