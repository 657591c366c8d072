// FlashButterfly on CUDA: the FFT convolution as butterfly stages of small DFT matrices (see
// src/ops/butterfly_conv/butterfly_conv.h for the algebra). Params and launchers only; the LibTorch glue is
// src/ops/butterfly_conv/butterfly_conv_cuda.cpp. Two kinds: the exact-DFT pipelines (codelets, butterfly_fft.h; no
// factors) and the dense-factor pipelines (learned factors).
//
// Size classes (both kinds):
//  - n <= kButterflyMaxFused: one fused kernel per row (per pair of rows with rows=paired). The row is read
//    once (real, any storage dtype, zero padded), transformed, multiplied by the kernel spectrum, transformed back
//    and written once (real part, scale, + D skip), with the row held in shared memory from load to store.
//  - larger n (up to 2^21): the outer stages run through a complex64 work area in global memory (the first reads
//    the real input, the last writes the real output): for the dense pipelines one column pass per stage, for the
//    exact ones all of them in one pass of tiles (fft::run_tile); the inner stages run in the fused kernel on
//    independent sub-rows of length n / (r_0 ... r_{t-1}) <= kButterflyMaxFused: many smaller convolutions.
// Arithmetic of the exact pipelines: float32 on CUDA cores. Of the dense ones: float32 for float32 inputs (or,
// opt-in, 3xTF32 tensor cores: each operand split into two TF32 parts, three products, float32 accuracy); for
// bfloat16 and float16 inputs the radix-16 stages whose tiles fit (16 | m, or m = 1 and 16 | P) run on tensor cores
// in TF32 with float32 accumulation, the rest as float32.
#pragma once

#include "butterfly_conv/butterfly_fft.h"
#include "fft_conv/fft_conv.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace ssm::cuda {


// The dense factor of every stage: (r, r) shared or (H, r, r) per channel, complex64, row-major [a][i].
struct ButterflyFactors {
  const float2* F[kButterflyMaxStages] = {};
  bool per_channel = false;
};

// A real row source or destination: rows of `len` elements of `dtype`, row-major.
struct RealRows {
  const void* in = nullptr;
  void* out = nullptr;
  int64_t len = 0;
};

// One dense-factor butterfly pipeline (the forward of learned factors) over `rows` rows (channel of row r: r % H).
// What happens, in order:
//   input   : real rows `src` (zero padded to n), or the complex work area `work` (rows, n) (the multi-pass scheme's
//             inner sub-rows);
//   forward : the forward stages with `fwd`;
//   then    : spectrum_out set: write the spectrum (digit order) there and stop. Otherwise multiply by
//             `spectrum` (H, n) (no multiply when null) and run the adjoint stages with `adj` (conjugate-transposed
//             factors, conjugated twiddles, reverse order);
//   output  : real rows `dst` (first dst.len elements: scale * Re(x) + D[h] * skip[r, l] when D), or `work`.
struct ButterflyPipeline {
  ButterflyPlan plan;
  int64_t rows = 0, H = 0;
  ConvDtype dtype = ConvDtype::kFloat32;  // storage dtype of src, dst, skip and D
  RealRows src, dst;
  const void* skip = nullptr;  // rows of dst.len elements
  const void* D = nullptr;     // (H)
  float2* work = nullptr;      // (rows, n) complex64 work area: needed when n > kButterflyMaxFused or for complex I/O
  bool complex_in = false, complex_out = false;
  ButterflyFactors fwd, adj;
  const float2* spectrum = nullptr;
  float2* spectrum_out = nullptr;  // (rows, n)
  float scale = 1.f;
  // float32 storage: run the radix-16 stages that tile on tensor cores in 3xTF32 (float32 accuracy) instead of on
  // CUDA cores. Ignored for bf16/fp16, which always use TF32 tensor cores there.
  bool float32_tensor_cores = false;
};

// The opt-in shared memory per block of the current device (227 KiB on H100, 163 KiB on A100, 99 KiB on most
// consumer GPUs): sub-rows that would not fit run in more passes instead.
cudaError_t butterfly_device_smem_limit(size_t* bytes);

// The first stage the fused kernel runs on the current device: 0 (one fused launch) when a row of n fits its shared
// memory (n <= kButterflyMaxFused and the device's opt-in limit), else the number of outer column passes. The
// pipeline needs `work` whenever this is > 0.
cudaError_t butterfly_first_fused_stage(const ButterflyPlan& plan, int* first);

// Runs the pipeline: one fused launch, or column passes around fused sub-rows (butterfly_first_fused_stage).
cudaError_t butterfly_run(const ButterflyPipeline& p, cudaStream_t stream);

// Bytes of dynamic shared memory the fused kernel needs for a sub-row of length len, with factor_matrices_total
// complex entries in the plan's matrices (sum of r^2); 0 if len exceeds kButterflyMaxFused.
size_t butterfly_fused_smem(int64_t len, int factor_matrices_total);

// ---- the exact-DFT pipelines (no factors): codelet stages from butterfly_fft.h --------------------------------------
// A thread block per sub-row of length n / P[first] in shared memory (planar, padded), its parallel steps separated
// by barriers (fused ends by default: job.fused_ends); the outer stages [0, first) in one pass of tiles through
// job.work each way (a block per tile of 16 inner positions, 8 or 4 where that would not fit). Rows are paired when
// job.pair; with job.real_rows (one sub-row plans only) each real row runs as a complex row of half its length, in
// its own kernel instantiation (the column pairs of its spectrum step take more registers).

// The first sub-row stage on the current device: 0 when a whole row fits the opt-in shared memory (n <= 16384 on
// H100 and A100), else the number of outer stages (run in tiles). The job needs `work` whenever this is > 0.
cudaError_t butterfly_fft_first_subrow_stage(const ButterflyPlan& plan, int* first);

cudaError_t butterfly_fft_run(const fft::FftJob<float, float>& job, cudaStream_t stream);
cudaError_t butterfly_fft_run(const fft::FftJob<__nv_bfloat16, float>& job, cudaStream_t stream);
cudaError_t butterfly_fft_run(const fft::FftJob<__half, float>& job, cudaStream_t stream);

// Bytes of work area a multi-pass pipeline should run at a time (job.row0 / job.rows chunks): half the device's L2
// cache, so that a chunk's tile and sub-row passes exchange their work rows through L2 rather than memory.
cudaError_t butterfly_fft_cache_bytes(int64_t* bytes);

// The twiddle table of length n (fft::twiddle_table_size(n) entries) that the tiles read (job.row_twiddles).
cudaError_t butterfly_fft_twiddles(fft::Cx<float>* table, int64_t n, cudaStream_t stream);

// Batch splits of the fused kernel-gradient correlation for plan (about four blocks per SM over the H channels);
// 0 when the plan has tile passes or its buffers do not fit a block's shared memory (then: spectra written out,
// butterfly_fft_correlate).
cudaError_t butterfly_fft_correlation_splits(const ButterflyPlan& plan, int64_t B, int64_t H, int64_t* splits);
// GK_partials (splits, H, n): fft::correlate_channel per (split, channel) with u = job.src, g = job.src_imag (each
// its own real row).
cudaError_t butterfly_fft_correlate_fused(const fft::FftJob<float, float>& job, fft::Cx<float>* GK_partials,
                                          int64_t splits, cudaStream_t stream);
cudaError_t butterfly_fft_correlate_fused(const fft::FftJob<__nv_bfloat16, float>& job, fft::Cx<float>* GK_partials,
                                          int64_t splits, cudaStream_t stream);
cudaError_t butterfly_fft_correlate_fused(const fft::FftJob<__half, float>& job, fft::Cx<float>* GK_partials,
                                          int64_t splits, cudaStream_t stream);

// GK (H, n) = sum over b of G conj(U) from the spectra U = F(u), G = F(g) (H B, n) each, rows in pipeline order
// (fft::correlate_item).
cudaError_t butterfly_fft_correlate(const fft::Cx<float>* U, const fft::Cx<float>* G, fft::Cx<float>* GK,
                                    const ButterflyPlan& plan, int64_t B, int64_t H, cudaStream_t stream);

}  // namespace ssm::cuda
