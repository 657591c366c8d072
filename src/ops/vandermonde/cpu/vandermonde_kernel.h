// CPU kernels of the log-Vandermonde product, free of torch headers. The loops are written so that the compiler
// vectorizes them across the state dimension n; the file is compiled twice (baseline x86-64 and AVX2+FMA, see
// vandermonde_kernel_{default,avx2}.cpp) and the glue picks one at run time.
//
// Powers exp(x l) are advanced by repeated multiplication with exp(x) and re-anchored with a direct evaluation every
// kAnchor steps, so that float32 results do not drift at long L (relative error stays near 1e-6 at L = 65536).
#pragma once

#include <cstdint>

namespace ssm::cpu {

// Interleaved complex numbers (re, im); rows are contiguous.
template <typename T>
struct VandermondeFwdArgs {
  const T* v;   // (B, N) complex
  const T* x;   // (B, N) complex
  T* out;       // (B, L) real
  int64_t N, L;
};

template <typename T>
struct VandermondeBwdArgs {
  const T* grad;  // (B, L) real
  const T* x;     // (B, N) complex
  int64_t N, L;
};

// Writes out[b, l_begin:l_end]. scratch: 4 N elements.
template <typename T>
using vandermonde_fwd_fn = void (*)(const VandermondeFwdArgs<T>& a, int64_t b, int64_t l_begin, int64_t l_end,
                                    T* scratch);
// Adds into acc (4 N doubles, per n: re and im of sum_l g conj(e), then of sum_l l g conj(e)), e = exp(x[b,n] l),
// over l in [l_begin, l_end). scratch: 8 N elements.
template <typename T>
using vandermonde_bwd_fn = void (*)(const VandermondeBwdArgs<T>& a, int64_t b, int64_t l_begin, int64_t l_end,
                                    double* acc, T* scratch);

template <typename T>
struct VandermondeKernels {
  vandermonde_fwd_fn<T> fwd;
  vandermonde_bwd_fn<T> bwd;
  const char* isa;
};

// The best kernels this processor runs.
template <typename T>
VandermondeKernels<T> vandermonde_kernels();

namespace isa_default {
template <typename T> void vandermonde_fwd(const VandermondeFwdArgs<T>&, int64_t, int64_t, int64_t, T*);
template <typename T> void vandermonde_bwd(const VandermondeBwdArgs<T>&, int64_t, int64_t, int64_t, double*, T*);
}  // namespace isa_default
namespace isa_avx2 {
template <typename T> void vandermonde_fwd(const VandermondeFwdArgs<T>&, int64_t, int64_t, int64_t, T*);
template <typename T> void vandermonde_bwd(const VandermondeBwdArgs<T>&, int64_t, int64_t, int64_t, double*, T*);
}  // namespace isa_avx2

}  // namespace ssm::cpu
