// ssm::vandermonde inside the ops library: argument checks, the backends, the op handle.
#pragma once

#include "ops/common/checks.h"
#include "ops/common/library.h"

#include <tuple>

namespace ssm::ops {

// l-chunk one CPU task computes: large enough to amortize N direct exponentials, small enough to spread short
// batches (the case table tests L around it).
constexpr int64_t kVandermondeCpuChunk = 1024;

// Sizes of a checked vandermonde call; I = int64_t, or c10::SymInt in the Meta kernels.
template <class I = int64_t>
struct VandermondeSizes {
  I B, N, L;
};
// v, x: complex64/complex128, (B, N), one dtype and device; N >= 1; L >= 1.
template <class I = int64_t>
VandermondeSizes<I> check_vandermonde(const at::Tensor& v, const at::Tensor& x, const I& L);
// grad_out: (B, L) of the real dtype matching v, on v's device.
template <class I = int64_t>
VandermondeSizes<I> check_vandermonde_backward(const at::Tensor& grad_out, const at::Tensor& v, const at::Tensor& x);

at::Tensor vandermonde_cpu(const at::Tensor& v, const at::Tensor& x, int64_t L);
std::tuple<at::Tensor, at::Tensor> vandermonde_backward_cpu(const at::Tensor& grad_out, const at::Tensor& v,
                                                            const at::Tensor& x);
#ifdef SSM_WITH_CUDA
at::Tensor vandermonde_cuda(const at::Tensor& v, const at::Tensor& x, int64_t L);
std::tuple<at::Tensor, at::Tensor> vandermonde_backward_cuda(const at::Tensor& grad_out, const at::Tensor& v,
                                                             const at::Tensor& x);
#endif

}  // namespace ssm::ops
