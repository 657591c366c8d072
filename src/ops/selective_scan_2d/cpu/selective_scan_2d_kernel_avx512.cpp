// Compiled with AVX-512 (F, DQ, VL, BW) and 512-bit vectors preferred (op.cmake); used only when the processor has
// them.
#define SSM_ISA isa_avx512
#include "ops/selective_scan_2d/cpu/selective_scan_2d_kernel_impl.h"
