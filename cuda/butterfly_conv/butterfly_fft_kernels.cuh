// The exact-DFT butterfly pipelines' kernels and launchers (fft:: code of butterfly_fft.h; see butterfly.h), internal
// to cuda/: each of butterfly_fft.cu (float32, and what does not depend on the storage type), butterfly_fft_bf16.cu
// and butterfly_fft_f16.cu instantiates them for one storage type, so that the three compile in parallel.
#pragma once

#include "butterfly_conv/butterfly.h"
#include "butterfly_conv/butterfly_fft_tc.h"
#include "common/common.cuh"

#include <algorithm>
#include <type_traits>

namespace ssm::cuda {

namespace fft {
template <>
struct Storage<__nv_bfloat16, float> {
  static SSM_HD float load(__nv_bfloat16 x) { return __bfloat162float(x); }
  static SSM_HD __nv_bfloat16 store(float x) { return __float2bfloat16(x); }
};
template <>
struct Storage<__half, float> {
  static SSM_HD float load(__half x) { return __half2float(x); }
  static SSM_HD __half store(float x) { return __float2half(x); }
};
}  // namespace fft

namespace {

// A thread block's parallel step: items strided over the threads, then a barrier.
struct BlockExec {
  template <class F>
  __device__ __forceinline__ void parallel_for(int count, F&& f) {
    for (int i = threadIdx.x; i < count; i += blockDim.x) f(i);
    __syncthreads();
  }
};

constexpr int kFftMaxThreads = 256;

// One lane of a warp for the tensor-core blocks (fft::tc_block): its registers and the PTX instructions (bf16
// operands, sm_80 and up).
struct DeviceTcWarp {
  using H2 = uint32_t;
  fft::TcLane<H2> s;
  __device__ __forceinline__ H2 pack(float lo, float hi) const {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (lo) in the low half
    return *reinterpret_cast<const H2*>(&v);
  }
  template <class F>
  __device__ __forceinline__ void each(F&& f) {
    f(static_cast<int>(threadIdx.x & 31), s);
  }
  template <class Sel>
  __device__ __forceinline__ void mma(Sel&& sel) {
    const fft::TcMma<H2> m = sel(s);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(m.d[0]), "+f"(m.d[1]), "+f"(m.d[2]), "+f"(m.d[3])
        : "r"(m.a[0]), "r"(m.a[1]), "r"(m.a[2]), "r"(m.a[3]), "r"(m.b[0]), "r"(m.b[1]));
#else
    __trap();  // launchers run the tensor-core kernels on sm_80 and up only
#endif
  }
  template <class Sel>
  __device__ __forceinline__ void transpose(Sel&& sel) {
    H2& r = sel(s);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\n" : "=r"(r) : "r"(r));
#else
    __trap();
#endif
  }
};

// The block's twiddle table of length len in shared memory at storage, filled by its threads.
__device__ fft::TwiddleTable<float> block_twiddle_table(fft::Cx<float>* storage, int64_t len) {
  for (int i = threadIdx.x; i < fft::twiddle_table_size(len); i += blockDim.x)
    storage[i] = fft::twiddle_table_entry<float>(len, i);
  __syncthreads();
  return fft::twiddle_table<float>(storage, len);
}

// BlockExec with the tensor-core blocks of a sub-row: warp w takes blocks w, w + warps, ... (fft::tc_block).
struct BlockExecTc : BlockExec {
  DeviceTcWarp warp;
  __device__ __forceinline__ void tc_blocks(int blocks, fft::TcStep step, float* xr, float* xi,
                                            const fft::Cx<float>* K, bool conj) {
    for (int b = static_cast<int>(threadIdx.x >> 5); b < blocks; b += static_cast<int>(blockDim.x >> 5))
      fft::tc_block(warp, step, xr, xi, b * fft::kTcBlock, K, conj);
    __syncthreads();
  }
};

// One sub-row per block iteration (grid-stride): twiddle tables once per block, then fft::run_subrow (kReal: of
// job.real_rows; kTc: of job.tensor_cores, the tensor-core fragments' constants once per thread).
template <typename T, bool kReal, bool kTc = false>
__global__ void __launch_bounds__(kFftMaxThreads, 1)
    fft_subrow_kernel(const __grid_constant__ fft::FftJob<T, float> job, int first) {
  extern __shared__ __align__(16) float fsmem[];
  const int64_t subs = job.plan.P[first], len = job.plan.n / subs;
  const fft::SubrowLayout lay = fft::subrow_layout(len);
  const auto tw = block_twiddle_table(reinterpret_cast<fft::Cx<float>*>(fsmem + lay.tw), len);
  std::conditional_t<kTc, BlockExecTc, BlockExec> ex;
  if constexpr (kTc) fft::tc_init(ex.warp);
  for (int64_t sr = blockIdx.x; sr < job.rows * subs; sr += gridDim.x)
    fft::run_subrow<kReal, kTc>(ex, job, first, sr, fsmem + lay.xr, fsmem + lay.xi, tw);
}

// Tiles of the outer stages (fft::run_tile), one per block iteration (grid-stride).
template <typename T, bool kInv>
__global__ void __launch_bounds__(kFftMaxThreads)
    fft_tile_kernel(const __grid_constant__ fft::FftJob<T, float> job, int first, fft::TileLayout lay) {
  extern __shared__ __align__(16) float fsmem[];
  BlockExec ex;
  for (int64_t tile = blockIdx.x; tile < job.rows * lay.tiles; tile += gridDim.x)
    fft::run_tile<kInv>(ex, job, first, tile, fsmem, lay);
}

// Block (split, h): channel h's kernel-gradient correlation over its share of the batch, into its partial row (kTc:
// the transforms' last two stages as tensor-core blocks).
template <typename T, bool kTc = false>
__global__ void __launch_bounds__(kFftMaxThreads, 1)
    fft_correlate_fused_kernel(const __grid_constant__ fft::FftJob<T, float> job, fft::Cx<float>* partials,
                               int64_t splits) {
  extern __shared__ __align__(16) float fsmem[];
  const int64_t n = job.plan.n;
  const fft::CorrelateLayout lay = fft::correlate_layout(n);
  const auto tw = block_twiddle_table(reinterpret_cast<fft::Cx<float>*>(fsmem + lay.row.tw), n);
  const int64_t h = blockIdx.x % job.H, split = blockIdx.x / job.H;
  int64_t b0 = 0, b1 = 0;
  fft::correlation_batch_range(job.B, splits, split, &b0, &b1);
  fft::Cx<float>* out = partials + (split * job.H + h) * n;
  std::conditional_t<kTc, BlockExecTc, BlockExec> ex;
  if constexpr (kTc) fft::tc_init(ex.warp);
  fft::correlate_channel<kTc>(ex, job, h, b0, b1, fsmem, lay, tw, [&](int t, fft::Cx<float> v) { out[t] = v; });
}

size_t fft_subrow_smem(int64_t len) { return static_cast<size_t>(fft::subrow_layout(len).total) * sizeof(float); }

// Threads per sub-row block: one per column of the largest fused radix, 64 to 256 (a 2048-point row of radices
// 8, 16, 16 gets 128).
int fft_threads(const ButterflyPlan& plan, int first, int64_t len) {
  int rmax = 2;
  for (int k = first; k < plan.stages; ++k) rmax = std::max(rmax, plan.radix[k]);
  return static_cast<int>(std::clamp<int64_t>(ceil_div(len / rmax, 32) * 32, 64, kFftMaxThreads));
}

// The outer stages of every row in tiles of 16 inner positions (128-byte runs of complex64), 8 or 4 when the tile
// would not fit the shared memory.
template <typename T, bool kInv>
cudaError_t launch_fft_tiles(const fft::FftJob<T, float>& job, int first, cudaStream_t stream) {
  size_t limit = 0;
  cudaError_t err = butterfly_device_smem_limit(&limit);
  if (err != cudaSuccess) return err;
  int G = 16;
  while (G > 1 && static_cast<size_t>(fft::tile_layout(job.plan, first, G).total) * sizeof(float) > limit) G /= 2;
  const fft::TileLayout lay = fft::tile_layout(job.plan, first, G);
  const size_t smem = static_cast<size_t>(lay.total) * sizeof(float);
  if (smem > limit) return cudaErrorInvalidConfiguration;
  err = cudaFuncSetAttribute(fft_tile_kernel<T, kInv>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const int64_t blocks = std::min<int64_t>(job.rows * lay.tiles, int64_t{1} << 24);
  fft_tile_kernel<T, kInv><<<static_cast<unsigned>(blocks), kFftMaxThreads, smem, stream>>>(job, first, lay);
  return cudaGetLastError();
}

size_t fft_correlate_smem(int64_t n) { return static_cast<size_t>(fft::correlate_layout(n).total) * sizeof(float); }

// Whether the transforms of job from stage `first` run the tensor-core kernel: asked for, bf16 storage, sub-rows that
// end in two radix-16 stages, on a device with bf16 mma (compute capability 8.0 on).
template <typename T>
cudaError_t use_tensor_cores(const fft::FftJob<T, float>& job, int first, bool* use) {
  *use = false;
  if (!std::is_same<T, __nv_bfloat16>::value || !job.tensor_cores || !fft::tc_plan(job.plan, first))
    return cudaSuccess;
  int device = 0, major = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
  *use = err == cudaSuccess && major >= 8;
  return err;
}

template <typename T, bool kTc = false>
cudaError_t launch_fft_correlate_fused(const fft::FftJob<T, float>& job, fft::Cx<float>* partials, int64_t splits,
                                      cudaStream_t stream) {
  const int64_t n = job.plan.n;
  const size_t smem = fft_correlate_smem(n);
  cudaError_t err = cudaFuncSetAttribute(fft_correlate_fused_kernel<T, kTc>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const int threads = fft_threads(job.plan, 0, n);
  fft_correlate_fused_kernel<T, kTc>
      <<<static_cast<unsigned>(job.H * splits), threads, smem, stream>>>(job, partials, splits);
  return cudaGetLastError();
}

template <typename T>
cudaError_t fft_correlate_fused(const fft::FftJob<T, float>& job, fft::Cx<float>* partials, int64_t splits,
                                cudaStream_t stream) {
  bool tc = false;
  const cudaError_t err = use_tensor_cores(job, 0, &tc);
  if (err != cudaSuccess) return err;
  if constexpr (std::is_same<T, __nv_bfloat16>::value)
    if (tc) return launch_fft_correlate_fused<T, true>(job, partials, splits, stream);
  return launch_fft_correlate_fused<T>(job, partials, splits, stream);
}

template <typename T, bool kReal, bool kTc = false>
cudaError_t launch_fft_subrows(const fft::FftJob<T, float>& job, int first, int64_t len, cudaStream_t stream) {
  const size_t smem = fft_subrow_smem(len);
  cudaError_t err = cudaFuncSetAttribute(fft_subrow_kernel<T, kReal, kTc>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const int64_t blocks = std::min<int64_t>(job.rows * job.plan.P[first], int64_t{1} << 24);
  fft_subrow_kernel<T, kReal, kTc>
      <<<static_cast<unsigned>(blocks), fft_threads(job.plan, first, len), smem, stream>>>(job, first);
  return cudaGetLastError();
}

template <typename T>
cudaError_t fft_run(const fft::FftJob<T, float>& job, cudaStream_t stream) {
  if (job.rows == 0) return cudaSuccess;
  int first = 0;
  cudaError_t err = butterfly_fft_first_subrow_stage(job.plan, &first);
  if (err != cudaSuccess) return err;
  if (first > 0 && (job.work == nullptr || job.row_twiddles == nullptr || job.real_rows)) return cudaErrorInvalidValue;
  if (job.forward && first > 0) err = launch_fft_tiles<T, false>(job, first, stream);
  if (err != cudaSuccess) return err;
  fft::FftJob<T, float> inner = job;
  if (first > 0) {
    inner.complex_in = true;
    inner.complex_out = true;
    inner.scale = 1.f;
  }
  const int64_t len = job.plan.n / job.plan.P[first];
  bool tc = false;  // the sub-row pass of a convolution or a spectrum on tensor cores
  if (job.forward && (job.spectrum != nullptr || job.spectrum_out != nullptr)) err = use_tensor_cores(job, first, &tc);
  if (err != cudaSuccess) return err;
  if constexpr (std::is_same<T, __nv_bfloat16>::value)
    if (tc)
      err = job.real_rows ? launch_fft_subrows<T, true, true>(inner, first, len, stream)
                          : launch_fft_subrows<T, false, true>(inner, first, len, stream);
  if (!tc)
    err = job.real_rows ? launch_fft_subrows<T, true>(inner, first, len, stream)
                        : launch_fft_subrows<T, false>(inner, first, len, stream);
  if (err != cudaSuccess || job.spectrum_out != nullptr) return err;
  return first > 0 ? launch_fft_tiles<T, true>(job, first, stream) : err;
}

}  // namespace

}  // namespace ssm::cuda

// The entry points of butterfly.h for storage type T (in namespace ssm::cuda of the TU that instantiates T).
#define SSM_BUTTERFLY_FFT_ENTRY_POINTS(T)                                                                         \
  cudaError_t butterfly_fft_run(const fft::FftJob<T, float>& job, cudaStream_t stream) {                         \
    return fft_run(job, stream);                                                                                 \
  }                                                                                                              \
  cudaError_t butterfly_fft_correlate_fused(const fft::FftJob<T, float>& job, fft::Cx<float>* GK_partials,       \
                                            int64_t splits, cudaStream_t stream) {                               \
    return fft_correlate_fused(job, GK_partials, splits, stream);                                                \
  }
