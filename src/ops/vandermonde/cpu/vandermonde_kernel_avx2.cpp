// Compiled with -mavx2 -mfma (CMakeLists.txt); used only when the processor has both.
#define SSM_ISA isa_avx2
#include "ops/vandermonde/cpu/vandermonde_kernel_impl.h"
