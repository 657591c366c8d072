// Mamba's selective scan on CUDA, forward: params and launcher only (the LibTorch glue is
// src/ops/selective_scan/selective_scan_cuda.cpp). Plain CUDA C++, no torch headers.
//
// Layout: W lanes of a warp per channel (b, d) (W = 16 for N <= 16, else 32), each lane holding the states
// n = lane + k W (k < ceil(N / W) <= 8) in registers; the sequence runs serially, and y_t = sum_n C x is a shuffle
// reduction over the W lanes. The state before every 64th step is written to the checkpoints that the backward
// reads (same layout as the CPU backend's).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace ssm::cuda {

enum class ScanStorage { kFloat32, kBFloat16, kFloat16 };

struct SelectiveScanParams {
  // Activations in the storage dtype, with the time dimension contiguous: u, delta, z, out: (batch, dim, L) with
  // strides (s_batch, s_dim); B, C: (batch, G, N, L) with strides (s_batch, s_group, s_state), or (dim, N) fixed
  // (contiguous).
  const void *u, *delta, *z, *B, *C;
  void* out;
  int64_t u_sb, u_sd, delta_sb, delta_sd, z_sb, z_sd, out_sb, out_sd;
  int64_t B_sb, B_sg, B_sn, C_sb, C_sg, C_sn;
  bool b_fixed, c_fixed, softplus;
  // float32, contiguous: A (dim, N), D (dim), delta_bias (dim), h0 (batch, dim, N); lengths int64 (batch).
  const float *A, *D, *bias, *h0;
  const int64_t* lengths;
  float* last;         // (batch, dim, N)
  float* checkpoints;  // (batch, dim, chunks, N) or null
  int64_t batch, dim, L, N, G, chunks;
};

// The shapes the kernel runs: 1 <= N <= 256.
bool selective_scan_fwd_supported(int64_t N);

cudaError_t selective_scan_fwd(const SelectiveScanParams& p, ScanStorage storage, cudaStream_t stream);

// Backward, same lane layout, 1 <= N <= 32 (one state per lane: with two, a sub-chunk's recomputed states no longer
// fit the registers of the bfloat16 / float16 variants on sm_80). Per channel, chunk by chunk from the last: the
// chunk's 64 steps are recomputed from its checkpoint keeping the state at every 8th step (in shared memory), then
// each 8-step sub-chunk is recomputed into registers and walked backwards with the adjoint q = dL/dx. Sums over
// channels (dB, dC input-dependent) and over batch rows (dA, dD, ddelta_bias, fixed dB / dC) are float32 atomic
// additions into zeroed buffers.
struct SelectiveScanBwdParams {
  const void* grad_out;      // storage dtype, (batch, dim, L) contiguous, or null (zero)
  const float* grad_last;    // (batch, dim, N) contiguous, or null
  const float* checkpoints;  // (batch, dim, chunks, N)
  void *du, *ddelta, *dz;    // storage dtype, (batch, dim, L) contiguous, zeroed (padding keeps 0); dz null without z
  float *dA, *dD, *dbias;    // (dim, N), (dim), (dim): zeroed; dD, dbias null when absent
  float *dB, *dC;            // (batch, G, N, L) contiguous or (dim, N): zeroed
  float* dh0;                // (batch, dim, N) or null
};
bool selective_scan_bwd_supported(int64_t N);
cudaError_t selective_scan_bwd(const SelectiveScanParams& p, const SelectiveScanBwdParams& g, ScanStorage storage,
                               cudaStream_t stream);

}  // namespace ssm::cuda
