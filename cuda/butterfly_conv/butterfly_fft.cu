// The exact-DFT butterfly pipelines for float32 storage, and their launchers that do not depend on the storage type
// (butterfly_fft_kernels.cuh).
#include "butterfly_conv/butterfly_fft_kernels.cuh"

namespace ssm::cuda {
namespace {

__global__ void __launch_bounds__(kGridThreads) fft_correlate_kernel(const fft::Cx<float>* U, const fft::Cx<float>* G,
                                                                     fft::Cx<float>* GK, ButterflyPlan plan, int64_t B,
                                                                     int64_t H) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < H * plan.n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    fft::correlate_item(U, G, GK, plan, B, H, i);
}


__global__ void __launch_bounds__(kGridThreads) fft_twiddles_kernel(fft::Cx<float>* table, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < fft::twiddle_table_size(n)) table[i] = fft::twiddle_table_entry<float>(n, i);
}

}  // namespace

cudaError_t butterfly_fft_first_subrow_stage(const ButterflyPlan& plan, int* first) {
  size_t limit = 0;
  const cudaError_t err = butterfly_device_smem_limit(&limit);
  if (err != cudaSuccess) return err;
  *first = 0;
  while (*first + 1 < plan.stages && (plan.n / plan.P[*first] > kButterflyMaxFused ||
                                      fft_subrow_smem(plan.n / plan.P[*first]) > limit))
    ++*first;
  return cudaSuccess;
}

SSM_BUTTERFLY_FFT_ENTRY_POINTS(float)

cudaError_t butterfly_fft_correlation_splits(const ButterflyPlan& plan, int64_t B, int64_t H, int64_t* splits) {
  *splits = 0;
  size_t limit = 0;
  cudaError_t err = butterfly_device_smem_limit(&limit);
  if (err != cudaSuccess) return err;
  if (plan.n > kButterflyMaxFused || fft_correlate_smem(plan.n) > limit || B == 0 || H == 0) return cudaSuccess;
  int device = 0, sms = 0;
  err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  if (err != cudaSuccess) return err;
  *splits = std::clamp<int64_t>(ceil_div(4 * static_cast<int64_t>(sms), H), 1, B);
  return cudaSuccess;
}

cudaError_t butterfly_fft_cache_bytes(int64_t* bytes) {
  int device = 0, l2 = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device);
  *bytes = std::max<int64_t>(int64_t{1} << 20, l2 / 2);
  return err;
}

cudaError_t butterfly_fft_twiddles(fft::Cx<float>* table, int64_t n, cudaStream_t stream) {
  fft_twiddles_kernel<<<grid_blocks(fft::twiddle_table_size(n)), kGridThreads, 0, stream>>>(table, n);
  return cudaGetLastError();
}

cudaError_t butterfly_fft_correlate(const fft::Cx<float>* U, const fft::Cx<float>* G, fft::Cx<float>* GK,
                                    const ButterflyPlan& plan, int64_t B, int64_t H, cudaStream_t stream) {
  const int64_t total = H * plan.n;
  if (total == 0) return cudaSuccess;
  fft_correlate_kernel<<<grid_blocks(total), kGridThreads, 0, stream>>>(U, G, GK, plan, B, H);
  return cudaGetLastError();
}

}  // namespace ssm::cuda
