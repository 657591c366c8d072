// Helpers shared by the CUDA glue of the convolution ops (fft_conv, butterfly_conv).
#pragma once

#include "fft_conv/fft_conv.h"

#include <c10/core/ScalarType.h>
#include <c10/util/Exception.h>
#include <cuda_runtime_api.h>

namespace ssm::ops {

// A failed launch or CUDA call as a c10::Error naming the op and the step.
inline void check_cuda(cudaError_t err, const char* op, const char* what) {
  TORCH_CHECK(err == cudaSuccess, op, ": ", what, " failed: ", cudaGetErrorString(err));
}

// The kernels' storage dtype of a real tensor (the argument checks have already limited it to these).
inline cuda::ConvDtype conv_dtype(at::ScalarType t, const char* op) {
  switch (t) {
    case at::kFloat: return cuda::ConvDtype::kFloat32;
    case at::kBFloat16: return cuda::ConvDtype::kBFloat16;
    case at::kHalf: return cuda::ConvDtype::kFloat16;
    default: break;
  }
  TORCH_CHECK(false, op, ": unsupported CUDA dtype ", t);
}

}  // namespace ssm::ops
