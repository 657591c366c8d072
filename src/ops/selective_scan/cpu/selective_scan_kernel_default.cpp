// Baseline x86-64 build of the selective-scan kernels, and the run-time choice between the instruction sets.
#define SSM_ISA isa_default
#include "ops/selective_scan/cpu/selective_scan_kernel_impl.h"

namespace ssm::cpu {

int64_t selective_scan_scratch(int64_t N, int64_t d_count) {
  return 4 * kSelectiveScanChunk * N + d_count * N + (kSelectiveScanChunk + 1) * N + 5 * kSelectiveScanChunk;
}

template <typename T>
SelectiveScanKernels<T> selective_scan_kernels() {
#if defined(SSM_CPU_AVX2)
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  if (avx512) return {&isa_avx512::selective_scan_fwd<T>, &isa_avx512::selective_scan_bwd<T>, "avx512"};
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx2) return {&isa_avx2::selective_scan_fwd<T>, &isa_avx2::selective_scan_bwd<T>, "avx2"};
#endif
  return {&isa_default::selective_scan_fwd<T>, &isa_default::selective_scan_bwd<T>, "default"};
}

template SelectiveScanKernels<float> selective_scan_kernels<float>();
template SelectiveScanKernels<double> selective_scan_kernels<double>();

}  // namespace ssm::cpu
