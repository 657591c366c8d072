// The exact-DFT butterfly pipelines for float16 storage (butterfly_fft_kernels.cuh).
#include "butterfly_conv/butterfly_fft_kernels.cuh"

namespace ssm::cuda {
SSM_BUTTERFLY_FFT_ENTRY_POINTS(__half)
}  // namespace ssm::cuda
