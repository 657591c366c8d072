// The exact-DFT butterfly pipelines for bfloat16 storage (butterfly_fft_kernels.cuh).
#include "butterfly_fft_kernels.cuh"

namespace ssm::cuda {

cudaError_t butterfly_fft_run(const fft::FftJob<__nv_bfloat16, float>& job, cudaStream_t stream) {
  return fft_run(job, stream);
}

cudaError_t butterfly_fft_correlate_fused(const fft::FftJob<__nv_bfloat16, float>& job, fft::Cx<float>* GK_partials,
                                          int64_t splits, cudaStream_t stream) {
  return fft_correlate_fused(job, GK_partials, splits, stream);
}

}  // namespace ssm::cuda
