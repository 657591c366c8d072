// Compiled with -mavx2 -mfma (op.cmake); used only when the processor has both.
#define SSM_ISA isa_avx2
#include "ops/selective_scan/cpu/selective_scan_kernel_impl.h"
