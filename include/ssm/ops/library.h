// Facts about the loaded ssm ops library (libssm_ops).
#pragma once

namespace ssm {

// Version string of the library.
const char* version();
// Whether the library was built with its CUDA kernels.
bool built_with_cuda();
// The LibTorch version the library was built against ("2.11.0"): its C++ ABI, which every torch release changes.
const char* torch_version_built();
// The CUDA toolkit version its kernels were built with ("13.0"), or "" without CUDA kernels.
const char* cuda_version_built();

}  // namespace ssm
