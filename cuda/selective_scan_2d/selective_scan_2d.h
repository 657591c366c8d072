// The 2-D selective scan on CUDA, forward: params and launcher only (the LibTorch glue is
// src/ops/selective_scan_2d/selective_scan_2d_cuda.cpp). Plain CUDA C++, no torch headers.
//
// Layout: W lanes of a warp per channel (b, d) (W = 16 for N <= 16, else 32), each lane holding the states
// n = lane + k W (k < ceil(N / W) <= 4: N <= 128, where no variant spills); the grid runs serially per channel, t outer
// and variates inner, the variate predecessor's states in registers and the time predecessors' in a workspace ring of
// min(lag + 1, T) time steps per channel; y is a shuffle sum over the lanes. (The planned parallel formulation, a scan
// over the variates per time step, replaces the serial variate loop.)
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ssm::cuda {

enum class Scan2dStorage { kFloat32, kBFloat16, kFloat16 };

struct Scan2dParams {
  const void *x, *dt1, *dt2, *B1, *B2, *C1, *C2;  // storage dtype, contiguous: (batch, V, T, dim), (batch, V, T, N)
  void* y;                                        // (batch, V, T, dim)
  const float *A1, *A2, *A3, *A4, *D;             // (dim, N) contiguous; D (dim) or null
  float* workspace;                               // scan2d_workspace_floats(...) floats
  int64_t batch, V, T, dim, N, lag, slots;        // slots = min(lag + 1, T)
  bool reverse;
};

// The shapes the kernel runs: 1 <= N <= 128.
bool scan2d_fwd_supported(int64_t N);
int64_t scan2d_workspace_floats(int64_t batch, int64_t dim, int64_t V, int64_t N, int64_t slots);
cudaError_t scan2d_fwd(const Scan2dParams& p, Scan2dStorage storage, cudaStream_t stream);

}  // namespace ssm::cuda
