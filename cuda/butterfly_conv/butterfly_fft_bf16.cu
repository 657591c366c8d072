// The exact-DFT butterfly pipelines for bfloat16 storage (butterfly_fft_kernels.cuh).
#include "butterfly_conv/butterfly_fft_kernels.cuh"

namespace ssm::cuda {
SSM_BUTTERFLY_FFT_ENTRY_POINTS(__nv_bfloat16)
}  // namespace ssm::cuda
