// Log-Vandermonde product on CUDA: out[b, l] = 2 Re sum_n v[b, n] exp(x[b, n] l), and its backward.
// Params structs and launchers only; the LibTorch glue is src/ops/vandermonde_cuda.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ssm::cuda {

// All tensors contiguous; complex numbers interleaved (re, im) of the scalar type T (float or double).
struct VandermondeFwdParams {
  const void* __restrict__ v;  // (B, N) complex
  const void* __restrict__ x;  // (B, N) complex
  void* __restrict__ out;      // (B, L) real
  int64_t B, N, L;
};

// How the backward splits the work: threads over n, subs sub-ranges of l per block, chunks of l across blocks.
struct VandermondeBwdPlan {
  int threads_n;       // threads per block along n (a power of two from 32 to 256)
  int subs;            // l sub-ranges per block (threads_n * subs = 256)
  int64_t n_tiles;     // blocks along n
  int64_t chunks;      // blocks along l
  int64_t workspace_elems;  // scalars of partial sums: B * chunks * N * 4
};
VandermondeBwdPlan plan_vandermonde_bwd(int64_t B, int64_t N, int64_t L, int sm_count);

struct VandermondeBwdParams {
  const void* __restrict__ grad;  // (B, L) real
  const void* __restrict__ v;     // (B, N) complex
  const void* __restrict__ x;     // (B, N) complex
  void* __restrict__ dv;          // (B, N) complex
  void* __restrict__ dx;          // (B, N) complex
  void* __restrict__ workspace;   // plan.workspace_elems scalars
  int64_t B, N, L;
  VandermondeBwdPlan plan;
};

// T: float (complex64) or double (complex128). Each returns the launch error, if any.
template <typename T>
cudaError_t vandermonde_fwd(const VandermondeFwdParams& p, cudaStream_t stream);
template <typename T>
cudaError_t vandermonde_bwd(const VandermondeBwdParams& p, cudaStream_t stream);

}  // namespace ssm::cuda
