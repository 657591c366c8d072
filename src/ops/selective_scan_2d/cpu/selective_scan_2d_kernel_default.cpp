// Baseline x86-64 build of the 2-D selective-scan kernels, and the run-time choice between the instruction sets.
#define SSM_ISA isa_default
#include "ops/selective_scan_2d/cpu/selective_scan_2d_kernel_impl.h"

namespace ssm::cpu {

int64_t selective_scan_2d_scratch(int64_t V, int64_t T, int64_t N, int64_t lag, bool backward) {
  const int64_t slots = lag + 1 < T ? lag + 1 : T;
  return ((backward ? 8 * V * T * N : 2 * slots * V * N) + 16 * N) * kScan2dLanes;
}

template <typename T>
Scan2dKernels<T> selective_scan_2d_kernels() {
#if defined(SSM_CPU_AVX2)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  if (avx512) return {&isa_avx512::scan2d_fwd<T>, &isa_avx512::scan2d_bwd<T>, "avx512"};
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return {&isa_avx2::scan2d_fwd<T>, &isa_avx2::scan2d_bwd<T>, "avx2"};
#endif
  return {&isa_default::scan2d_fwd<T>, &isa_default::scan2d_bwd<T>, "default"};
}

template Scan2dKernels<float> selective_scan_2d_kernels<float>();
template Scan2dKernels<double> selective_scan_2d_kernels<double>();

}  // namespace ssm::cpu
