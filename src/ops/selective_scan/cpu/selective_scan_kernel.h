// CPU kernels of ssm::selective_scan, free of torch headers. One call runs one task: batch row b, B/C group g, and a
// block of channels [d_begin, d_end) of that group, over the whole sequence, chunk by chunk (kSelectiveScanChunk
// steps); the loops over the state n are written for the compiler to vectorize (vexp, ops/common/vec_math.h). The
// file is compiled three times (baseline x86-64, AVX2+FMA, AVX-512: selective_scan_kernel_{default,avx2,avx512}.cpp)
// and the glue picks one at run time.
#pragma once

#include <cstdint>

namespace ssm::cpu {

// Steps per chunk: the forward pass saves the state at every chunk start (the backward recomputes a chunk's states
// from it), and B and C are transposed chunk by chunk into (step, state) buffers.
constexpr int64_t kSelectiveScanChunk = 64;

// Contiguous tensors: u, delta, z, out: (batch, dim, L); A: (dim, N); B, C: (batch, G, N, L) (input-dependent) or
// (dim, N) (fixed); D, bias: (dim); h0: (batch, dim, N); lengths: (batch) or null (all L).
template <typename T>
struct SelectiveScanArgs {
  const T *u, *delta, *A, *B, *C, *D, *z, *bias, *h0;
  const int64_t* lengths;
  int64_t batch, dim, L, N, G;
  bool b_fixed, c_fixed, softplus;
  int64_t chunks;  // ceil(L / kSelectiveScanChunk)
};

// Forward outputs: out (batch, dim, L); last (batch, dim, N); checkpoints (batch, dim, chunks, N) or null: the state
// before each chunk's first step.
template <typename T>
struct SelectiveScanFwdOut {
  T *out, *last, *checkpoints;
};

// Backward: upstream gradients (either may be null: zero) and the results. Per task, partial sums go to rows that
// no other task writes: dB, dC input-dependent: (blocks, batch, G, N, L), block = the task's channel block (summed
// over blocks by the glue); fixed: (batch, dim, N); dA: (batch, dim, N); dD, dbias: (batch, dim) (summed over batch by
// the glue). du, ddelta, dz: (batch, dim, L); dh0: (batch, dim, N). Null pointers: not wanted (dB, dC, dz, dD, dbias,
// dh0 when the input is absent).
template <typename T>
struct SelectiveScanBwdArgs {
  const T *grad_out, *grad_last, *checkpoints;
  T *du, *ddelta, *dA, *dB, *dC, *dD, *dz, *dbias, *dh0;
};

// scratch: selective_scan_scratch(N, d_count) elements.
int64_t selective_scan_scratch(int64_t N, int64_t d_count);

template <typename T>
using selective_scan_fwd_fn = void (*)(const SelectiveScanArgs<T>& a, const SelectiveScanFwdOut<T>& o, int64_t b,
                                       int64_t g, int64_t d_begin, int64_t d_end, T* scratch);
template <typename T>
using selective_scan_bwd_fn = void (*)(const SelectiveScanArgs<T>& a, const SelectiveScanBwdArgs<T>& o, int64_t b,
                                       int64_t g, int64_t d_begin, int64_t d_end, int64_t block, T* scratch);

template <typename T>
struct SelectiveScanKernels {
  selective_scan_fwd_fn<T> fwd;
  selective_scan_bwd_fn<T> bwd;
  const char* isa;
};

// The best kernels this processor runs.
template <typename T>
SelectiveScanKernels<T> selective_scan_kernels();

#define SSM_SELECTIVE_SCAN_DECLARE(ns)                                                                            \
  namespace ns {                                                                                                  \
  template <typename T>                                                                                           \
  void selective_scan_fwd(const SelectiveScanArgs<T>&, const SelectiveScanFwdOut<T>&, int64_t, int64_t, int64_t,  \
                          int64_t, T*);                                                                           \
  template <typename T>                                                                                           \
  void selective_scan_bwd(const SelectiveScanArgs<T>&, const SelectiveScanBwdArgs<T>&, int64_t, int64_t, int64_t, \
                          int64_t, int64_t, T*);                                                                  \
  }
SSM_SELECTIVE_SCAN_DECLARE(isa_default)
SSM_SELECTIVE_SCAN_DECLARE(isa_avx2)
SSM_SELECTIVE_SCAN_DECLARE(isa_avx512)
#undef SSM_SELECTIVE_SCAN_DECLARE

}  // namespace ssm::cpu
