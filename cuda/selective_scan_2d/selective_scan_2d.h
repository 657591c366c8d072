// The 2-D selective scan on CUDA, forward and backward: params and launchers only (the LibTorch glue is
// src/ops/selective_scan_2d/selective_scan_2d_cuda.cpp; the per-channel bodies, shared with a host test, are
// selective_scan_2d_body.h). Plain CUDA C++, no torch headers.
//
// Layout: W lanes of a warp per channel (b, d) (W = 16 for N <= 16, else 32), each lane holding the states
// n = lane + k W (k < ceil(N / W) <= 4); the grid runs serially per channel, t outer and variates inner, the variate
// predecessor's states in registers and the time predecessors' in global memory owned by the lane (forward: a ring of
// min(lag + 1, T) time steps per channel); y and the per-cell gradient sums are shuffle sums over the lanes. The
// backward recomputes the states per chunk of time steps from checkpoints (selective_scan_2d_body.h) and adds the
// gradients shared across channels (dB*, dC*) or batch (dA*, dD) with float32 atomics. (The planned parallel
// formulation, a scan over the variates per time step, replaces the serial variate loop.)
#pragma once

#include "selective_scan_2d/selective_scan_2d_body.h"

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ssm::cuda {

enum class Scan2dStorage { kFloat32, kBFloat16, kFloat16 };

// The shapes the kernels run: forward 1 <= N <= 128, backward 1 <= N <= 128 (no variant spills; ptxas report).
bool scan2d_fwd_supported(int64_t N);
bool scan2d_bwd_supported(int64_t N);
int64_t scan2d_workspace_floats(int64_t batch, int64_t dim, int64_t V, int64_t N, int64_t slots);
cudaError_t scan2d_fwd(const Scan2dParams& p, Scan2dStorage storage, cudaStream_t stream);
// One launch over the channels q.ch0 .. q.ch0 + q.channels - 1 (q.workspace: q.channels * scan2d_bwd_channel_floats).
cudaError_t scan2d_bwd(const Scan2dParams& p, const Scan2dBwdParams& q, Scan2dStorage storage, cudaStream_t stream);

}  // namespace ssm::cuda
