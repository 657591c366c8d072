// Baseline x86-64 build of the kernels, and the run-time choice between the instruction sets.
#define SSM_ISA isa_default
#include "ops/vandermonde/cpu/vandermonde_kernel_impl.h"

namespace ssm::cpu {

namespace {
bool has_avx2_fma() {
#if defined(SSM_CPU_AVX2)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}
}  // namespace

template <typename T>
VandermondeKernels<T> vandermonde_kernels() {
#if defined(SSM_CPU_AVX2)
  static const bool avx2 = has_avx2_fma();
  if (avx2) return {&isa_avx2::vandermonde_fwd<T>, &isa_avx2::vandermonde_bwd<T>, "avx2"};
#endif
  return {&isa_default::vandermonde_fwd<T>, &isa_default::vandermonde_bwd<T>, "default"};
}

template VandermondeKernels<float> vandermonde_kernels<float>();
template VandermondeKernels<double> vandermonde_kernels<double>();

}  // namespace ssm::cpu
