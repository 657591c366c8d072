// Facts about the loaded ssm ops library (libssm_ops).
#pragma once

namespace ssm {

// Version string of the library.
const char* version();
// Whether the library was built with its CUDA kernels.
bool built_with_cuda();

}  // namespace ssm
