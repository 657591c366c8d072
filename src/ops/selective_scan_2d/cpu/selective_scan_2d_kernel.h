// CPU kernels of ssm::selective_scan_2d, free of torch headers. One call runs one batch row b and a block of
// kScan2dLanes consecutive channels over the whole (V, T) grid, vectorized across the channels (contiguous in x, dt1,
// dt2 and y; B and C are scalars per state there, so no sum across lanes is needed for y); vexp from
// ops/common/vec_math.h. Compiled three times (baseline x86-64, AVX2+FMA, AVX-512:
// selective_scan_2d_kernel_{default,avx2,avx512}.cpp) and chosen at run time.
#pragma once

#include <cstdint>

namespace ssm::cpu {

// Channels per kernel call (one AVX-512 vector of float32, two AVX2 ones; the last block of a row is padded).
constexpr int64_t kScan2dLanes = 16;

// Contiguous tensors: x, dt1, dt2, y: (batch, V, T, dim); A1..A4: (dim, N); B1, B2, C1, C2: (batch, V, T, N);
// D: (dim) or null.
template <typename T>
struct Scan2dArgs {
  const T *x, *dt1, *dt2, *A1, *A2, *A3, *A4, *B1, *B2, *C1, *C2, *D;
  int64_t batch, V, T_, dim, N, lag;
  bool reverse;  // the variate recurrence runs from v = V - 1 down
};

// Backward results. Partial sums go to rows that no other task writes: dB1, dB2, dC1, dC2: (blocks, batch, V, T, N)
// (block = the task's channel block); dA1..dA4: (batch, dim, N); dD: (batch, dim) (the glue sums them).
// dx, ddt1, ddt2: (batch, V, T, dim).
template <typename T>
struct Scan2dBwdArgs {
  const T* grad_y;
  T *dx, *ddt1, *ddt2, *dA1, *dA2, *dA3, *dA4, *dB1, *dB2, *dC1, *dC2, *dD;
};

// scratch: selective_scan_2d_scratch(V, T, N, lag, backward) elements. Forward: a ring of min(lag + 1, T) time steps
// of states, 2 slots V N kScan2dLanes; backward: every state of the channel block over the grid, its adjoints and
// coefficients, 8 V T N kScan2dLanes; both plus a few (N, lanes) tiles.
int64_t selective_scan_2d_scratch(int64_t V, int64_t T, int64_t N, int64_t lag, bool backward);

// Forward of channels [d0, d0 + kScan2dLanes) (clipped to dim) of row b: writes y[b, :, :, d].
template <typename T>
using scan2d_fwd_fn = void (*)(const Scan2dArgs<T>& a, T* y, int64_t b, int64_t d0, T* scratch);
// Backward of the same block (recomputes the states); `block` selects the partial rows of dB, dC (added to). dA and
// dD of (b, d) are written.
template <typename T>
using scan2d_bwd_fn = void (*)(const Scan2dArgs<T>& a, const Scan2dBwdArgs<T>& o, int64_t b, int64_t d, int64_t block,
                               T* scratch);

template <typename T>
struct Scan2dKernels {
  scan2d_fwd_fn<T> fwd;
  scan2d_bwd_fn<T> bwd;
  const char* isa;
};

template <typename T>
Scan2dKernels<T> selective_scan_2d_kernels();

#define SSM_SCAN2D_DECLARE(ns)                                                                   \
  namespace ns {                                                                                 \
  template <typename T>                                                                          \
  void scan2d_fwd(const Scan2dArgs<T>&, T*, int64_t, int64_t, T*);                               \
  template <typename T>                                                                          \
  void scan2d_bwd(const Scan2dArgs<T>&, const Scan2dBwdArgs<T>&, int64_t, int64_t, int64_t, T*); \
  }
SSM_SCAN2D_DECLARE(isa_default)
SSM_SCAN2D_DECLARE(isa_avx2)
SSM_SCAN2D_DECLARE(isa_avx512)
#undef SSM_SCAN2D_DECLARE

}  // namespace ssm::cpu
