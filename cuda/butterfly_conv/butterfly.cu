// FlashButterfly kernels with learned factors (see butterfly.h): the fused in-shared-memory pipeline and the column
// passes of the multi-pass scheme. Every butterfly stage is a dense r x r complex matrix product per column followed
// by twiddles; radices are compile-time constants so that a column lives in registers. The exact-DFT pipelines are in
// butterfly_fft_kernels.cuh and the butterfly_fft*.cu files (one per storage type: parallel compilation).
#include "butterfly_conv/butterfly.h"
#include "common/common.cuh"

#include <mma.h>

#include <algorithm>
#include <type_traits>

namespace ssm::cuda {
namespace {

__device__ __forceinline__ float2 cmul(float2 a, float2 b) { return {a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x}; }
// a * conj(b)
__device__ __forceinline__ float2 cmul_conj(float2 a, float2 b) {
  return {a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y};
}
// acc + a * b
__device__ __forceinline__ float2 cfma(float2 a, float2 b, float2 acc) {
  return {fmaf(a.x, b.x, fmaf(-a.y, b.y, acc.x)), fmaf(a.x, b.y, fmaf(a.y, b.x, acc.y))};
}
// acc + conj(a) * b
__device__ __forceinline__ float2 cfma_conj(float2 a, float2 b, float2 acc) {
  return {fmaf(a.x, b.x, fmaf(a.y, b.y, acc.x)), fmaf(a.x, b.y, fmaf(-a.y, b.x, acc.y))};
}

// exp(-2 pi i q / N) for 0 <= q; the phase is reduced exactly in integers first.
__device__ __forceinline__ float2 twiddle(int64_t q, int64_t N) {
  float s, c;
  sincospif(-2.f * static_cast<float>(q % N) / static_cast<float>(N), &s, &c);
  return {c, s};
}

// exp(-2 pi i q / N) computed directly (the column passes over global memory).
struct DirectTwiddle {
  __device__ __forceinline__ float2 operator()(int64_t q, int64_t N) const { return twiddle(q, N); }
};

// Twiddles of a fused sub-row of length N0 from two small tables in shared memory:
// exp(-2 pi i t / N0) = hi[t >> shift] * lo[t & mask], both tables about sqrt(N0) long.
struct TableTwiddle {
  const float2* hi;
  const float2* lo;
  int shift;
  int64_t N0;
  // exp(-2 pi i q / N) for 0 <= q < N, N dividing N0.
  __device__ __forceinline__ float2 operator()(int64_t q, int64_t N) const {
    const int64_t t = q * (N0 / N);
    return cmul(hi[t >> shift], lo[t & ((int64_t{1} << shift) - 1)]);
  }
};

// v <- tw(j) * (F v): one column of a forward stage of sub-problem size N (no twiddle when N == R).
template <int R, typename TW>
__device__ __forceinline__ void column_forward(float2 (&v)[R], const float2* __restrict__ F, int64_t j, int64_t N,
                                               const TW& tw) {
  float2 o[R];
#pragma unroll
  for (int a = 0; a < R; ++a) {
    float2 acc = {0.f, 0.f};
#pragma unroll
    for (int i = 0; i < R; ++i) acc = cfma(F[a * R + i], v[i], acc);
    o[a] = (N > R && a > 0) ? cmul(acc, tw(static_cast<int64_t>(a) * j, N)) : acc;
  }
#pragma unroll
  for (int a = 0; a < R; ++a) v[a] = o[a];
}

// v <- F^H (conj(tw(j)) * v): the adjoint of column_forward.
template <int R, typename TW>
__device__ __forceinline__ void column_adjoint(float2 (&v)[R], const float2* __restrict__ F, int64_t j, int64_t N,
                                               const TW& tw) {
#pragma unroll
  for (int a = 1; a < R; ++a)
    if (N > R) v[a] = cmul_conj(v[a], tw(static_cast<int64_t>(a) * j, N));
  float2 o[R];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    float2 acc = {0.f, 0.f};
#pragma unroll
    for (int a = 0; a < R; ++a) acc = cfma_conj(F[a * R + i], v[a], acc);
    o[i] = acc;
  }
#pragma unroll
  for (int i = 0; i < R; ++i) v[i] = o[i];
}

// One stage over a shared-memory sub-row (planar: real parts xr, imaginary parts xi) viewed as (P, R, m): every
// thread takes columns (p, j).
template <int R, bool kAdjoint>
__device__ __forceinline__ void smem_stage_r(float* xr, float* xi, int64_t P, int64_t m, const float2* F,
                                             const TableTwiddle& tw) {
  const int64_t cols = P * m, N = static_cast<int64_t>(R) * m;
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    const int64_t p = c / m, j = c - p * m, base = p * R * m + j;
    float2 v[R];
#pragma unroll
    for (int i = 0; i < R; ++i) v[i] = {xr[base + i * m], xi[base + i * m]};
    if (kAdjoint)
      column_adjoint<R>(v, F, j, N, tw);
    else
      column_forward<R>(v, F, j, N, tw);
#pragma unroll
    for (int i = 0; i < R; ++i) {
      xr[base + i * m] = v[i].x;
      xi[base + i * m] = v[i].y;
    }
  }
}

template <bool kAdjoint>
__device__ void smem_stage(float* xr, float* xi, int r, int64_t P, int64_t m, const float2* F, const TableTwiddle& tw) {
#define SSM_CALL(R) smem_stage_r<R, kAdjoint>(xr, xi, P, m, F, tw)
  SSM_FFT_RADIX_SWITCH(r, SSM_CALL)
#undef SSM_CALL
}

// ---- tensor-core stages (radix 16, TF32 matrix instructions) -------------------------------------------------------
// A radix-16 stage is Y = A X for 16 x 16 tiles of columns: 16 consecutive j of one p (row-major tiles, ld = m, when
// 16 | m), or 16 consecutive p (column-major tiles, ld = 16, when m = 1 and 16 | P). The complex product runs as four
// real TF32 products with float32 accumulation: Y_re = A_re X_re + (-A_im) X_im, Y_im = A_re X_im + A_im X_re.
// A: three planes of 16 x 16 floats (re, im, -im), row-major. Used for reduced-precision (bf16/fp16) inputs, whose
// rounding exceeds TF32's (10-bit mantissa) by far.
__device__ __forceinline__ bool tc_stage_ok(int r, int64_t P, int64_t m) {
  return r == 16 && ((m >= 16 && m % 16 == 0) || (m == 1 && P % 16 == 0));
}

// The 16 x 16 matrix of a stage into the planar scratch A: F itself (forward) or F^H (adjoint).
__device__ void tc_load_matrix(float* A, const float2* F, bool adjoint) {
  for (int e = threadIdx.x; e < 256; e += blockDim.x) {
    const int a = e / 16, i = e % 16;
    const float2 f = adjoint ? float2{F[i * 16 + a].x, -F[i * 16 + a].y} : F[e];
    A[e] = f.x;
    A[256 + e] = f.y;
    A[512 + e] = -f.y;
  }
}

// Rounds every element of a fragment to TF32 (kSplit: keeps the rounding error in lo, itself rounded to TF32).
template <bool kSplit, typename Frag>
__device__ __forceinline__ void tf32_split(Frag& hi, Frag& lo) {
#pragma unroll
  for (int t = 0; t < hi.num_elements; ++t) {
    const float x = hi.x[t];
    hi.x[t] = nvcuda::wmma::__float_to_tf32(x);
    if (kSplit) lo.x[t] = nvcuda::wmma::__float_to_tf32(x - hi.x[t]);
  }
}

// One 16 x 16 complex tile: Y = A X in place. kSplit (3xTF32, float32 accuracy): each operand is hi + lo in TF32 and
// the product is A_hi X_lo + A_lo X_hi + A_hi X_hi, accumulated in float32.
template <typename Layout, bool kSplit>
__device__ __forceinline__ void tc_tile(float* xr, float* xi, int64_t base, unsigned ld, const float* A) {
  using namespace nvcuda;
  using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major>;
  using FragB = wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, Layout>;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> yr, yi;
  wmma::fill_fragment(yr, 0.f);
  wmma::fill_fragment(yi, 0.f);
  const bool row = std::is_same<Layout, wmma::row_major>::value;
#pragma unroll
  for (int kk = 0; kk < 2; ++kk) {
    FragA are, aim, anim, are_lo, aim_lo, anim_lo;
    FragB br, bi, br_lo, bi_lo;
    wmma::load_matrix_sync(are, A + kk * 8, 16);
    wmma::load_matrix_sync(aim, A + 256 + kk * 8, 16);
    wmma::load_matrix_sync(anim, A + 512 + kk * 8, 16);
    const int64_t off = row ? static_cast<int64_t>(kk) * 8 * ld : kk * 8;  // rows 8 kk .. 8 kk + 7 of the tile
    wmma::load_matrix_sync(br, xr + base + off, ld);
    wmma::load_matrix_sync(bi, xi + base + off, ld);
    tf32_split<kSplit>(are, are_lo);
    tf32_split<kSplit>(aim, aim_lo);
    tf32_split<kSplit>(anim, anim_lo);
    tf32_split<kSplit>(br, br_lo);
    tf32_split<kSplit>(bi, bi_lo);
    if (kSplit) {  // the small cross terms first
      wmma::mma_sync(yr, are, br_lo, yr);
      wmma::mma_sync(yr, are_lo, br, yr);
      wmma::mma_sync(yr, anim, bi_lo, yr);
      wmma::mma_sync(yr, anim_lo, bi, yr);
      wmma::mma_sync(yi, are, bi_lo, yi);
      wmma::mma_sync(yi, are_lo, bi, yi);
      wmma::mma_sync(yi, aim, br_lo, yi);
      wmma::mma_sync(yi, aim_lo, br, yi);
    }
    wmma::mma_sync(yr, are, br, yr);
    wmma::mma_sync(yr, anim, bi, yr);
    wmma::mma_sync(yi, are, bi, yi);
    wmma::mma_sync(yi, aim, br, yi);
  }
  __syncwarp();  // every lane has its operands before the tile is overwritten
  const auto layout = row ? wmma::mem_row_major : wmma::mem_col_major;
  wmma::store_matrix_sync(xr + base, yr, ld, layout);
  wmma::store_matrix_sync(xi + base, yi, ld, layout);
  __syncwarp();
}

// Twiddles of a row-major tile (rows a = 0..15 at stride m, columns j0 .. j0+15): x[a][j] *= tw(a j) or conj of it.
__device__ __forceinline__ void tc_tile_twiddle(float* xr, float* xi, int64_t base, int64_t m, int64_t j0, bool conj,
                                                const TableTwiddle& tw) {
  const int lane = threadIdx.x % 32;
  for (int e = lane; e < 256; e += 32) {
    const int a = e / 16, c = e % 16;
    if (a == 0) continue;
    const int64_t idx = base + a * m + c;
    const float2 w = tw(static_cast<int64_t>(a) * (j0 + c), 16 * m);
    const float2 x = {xr[idx], xi[idx]};
    const float2 y = conj ? cmul_conj(x, w) : cmul(x, w);
    xr[idx] = y.x;
    xi[idx] = y.y;
  }
  __syncwarp();
}

// One radix-16 stage over the sub-row with tensor cores, a warp per tile. A: the stage's matrix planes
// (tc_load_matrix).
template <bool kAdjoint, bool kSplit>
__device__ void tc_stage16(float* xr, float* xi, int64_t P, int64_t m, const float* A, const TableTwiddle& tw) {
  using namespace nvcuda;
  const int warp = threadIdx.x / 32, warps = blockDim.x / 32;
  if (m == 1) {  // no twiddles; tiles of 16 consecutive p, element (i, c) at (16 t + c) 16 + i
    for (int64_t t = warp; t < P / 16; t += warps) tc_tile<wmma::col_major, kSplit>(xr, xi, t * 256, 16, A);
    return;
  }
  const int64_t per_p = m / 16;
  for (int64_t t = warp; t < P * per_p; t += warps) {
    const int64_t p = t / per_p, j0 = (t - p * per_p) * 16, base = p * 16 * m + j0;
    if (kAdjoint) tc_tile_twiddle(xr, xi, base, m, j0, true, tw);
    tc_tile<wmma::row_major, kSplit>(xr, xi, base, static_cast<unsigned>(m), A);
    if (!kAdjoint) tc_tile_twiddle(xr, xi, base, m, j0, false, tw);
  }
}

// Offset of stage k's matrix among the plan's matrices (each r_k^2 complex numbers).
__device__ __forceinline__ int factor_offset(const ButterflyPlan& plan, int k) {
  int off = 0;
  for (int i = 0; i < k; ++i) off += plan.radix[i] * plan.radix[i];
  return off;
}

__host__ __device__ inline int factor_total(const ButterflyPlan& plan) {
  int off = 0;
  for (int i = 0; i < plan.stages; ++i) off += plan.radix[i] * plan.radix[i];
  return off;
}

// Copies stages [first, stages) of a factor set for channel h into shared memory at dst (same offsets as the plan).
__device__ void load_factors(float2* dst, const ButterflyFactors& f, const ButterflyPlan& plan, int first, int64_t h) {
  for (int k = first; k < plan.stages; ++k) {
    const int rr = plan.radix[k] * plan.radix[k];
    const float2* src = f.F[k] + (f.per_channel ? h * rr : 0);
    float2* d = dst + factor_offset(plan, k);
    for (int i = threadIdx.x; i < rr; i += blockDim.x) d[i] = src[i];
  }
}

// Shared-memory layout of the fused kernel, in floats from a 256-byte aligned base: xr, xi (the sub-row, planar),
// the tensor-core matrix scratch (768), the twiddle tables (float2), the forward and adjoint factors (float2).
struct FusedLayout {
  int64_t xr, xi, scratch, lo, hi, Ff, Fa, total;  // offsets in floats; total size in floats
};

__host__ __device__ inline int64_t round_up64(int64_t x) { return (x + 63) / 64 * 64; }

__host__ __device__ inline FusedLayout fused_layout(int64_t len, int factor_total) {
  FusedLayout l;
  const int s = fft::twiddle_shift(len);
  l.xr = 0;
  l.xi = round_up64(len);
  l.scratch = l.xi + round_up64(len);
  l.lo = l.scratch + 768;
  l.hi = l.lo + round_up64(2 * (int64_t{1} << s));
  l.Ff = l.hi + round_up64(2 * ((len + (int64_t{1} << s) - 1) >> s));
  l.Fa = l.Ff + round_up64(2 * static_cast<int64_t>(factor_total));
  l.total = l.Fa + round_up64(2 * static_cast<int64_t>(factor_total));
  return l;
}

// How the fused kernel runs the radix-16 stages that tile: float32 CUDA cores, TF32 tensor cores (reduced-precision
// inputs), or 3xTF32 tensor cores (float32 accuracy, opt-in for float32 inputs).
enum class TcMode { kNone, kTf32, kTf32x3 };

// The fused pipeline on sub-rows of length n / P[first]: stages [first, stages) in shared memory.
constexpr int kFusedMaxThreads = 256;  // the kernel uses up to ~170 registers: 512 threads would exceed 64K per block

template <typename T, TcMode kTc>
__global__ void __launch_bounds__(kFusedMaxThreads) fused_kernel(ButterflyPipeline p, int first) {
  extern __shared__ __align__(256) float smem[];
  const ButterflyPlan& plan = p.plan;
  const int64_t n = plan.n, subs = plan.P[first], len = n / subs;
  const FusedLayout lay = fused_layout(len, factor_total(plan));
  float* xr = smem + lay.xr;
  float* xi = smem + lay.xi;
  float* scratch = smem + lay.scratch;
  float2* lo = reinterpret_cast<float2*>(smem + lay.lo);
  float2* hi = reinterpret_cast<float2*>(smem + lay.hi);
  float2* Ff = reinterpret_cast<float2*>(smem + lay.Ff);
  float2* Fa = reinterpret_cast<float2*>(smem + lay.Fa);
  const int shift = fft::twiddle_shift(len);
  for (int64_t i = threadIdx.x; i < (int64_t{1} << shift); i += blockDim.x) lo[i] = twiddle(i, len);
  for (int64_t i = threadIdx.x; i < ((len + (int64_t{1} << shift) - 1) >> shift); i += blockDim.x)
    hi[i] = twiddle(i << shift, len);
  const TableTwiddle tw{hi, lo, shift, len};
  const T* src = static_cast<const T*>(p.src.in);
  T* dst = static_cast<T*>(p.dst.out);
  const T* skip = static_cast<const T*>(p.skip);
  const T* D = static_cast<const T*>(p.D);
  const bool adjoint = p.spectrum_out == nullptr;
  int64_t loaded_h = -1;
  // One stage k (forward or adjoint) on the sub-row, tensor cores where eligible; ends with a barrier.
  auto run_stage = [&](int k, bool adj) {
    const int r = plan.radix[k];
    const int64_t P = plan.P[k] / subs, m = plan.m[k];
    const float2* F = (adj ? Fa : Ff) + factor_offset(plan, k);
    if (kTc != TcMode::kNone && tc_stage_ok(r, P, m)) {
      constexpr bool kSplit = kTc == TcMode::kTf32x3;
      tc_load_matrix(scratch, F, adj);
      __syncthreads();
      if (adj)
        tc_stage16<true, kSplit>(xr, xi, P, m, scratch, tw);
      else
        tc_stage16<false, kSplit>(xr, xi, P, m, scratch, tw);
    } else if (adj) {
      smem_stage<true>(xr, xi, r, P, m, F, tw);
    } else {
      smem_stage<false>(xr, xi, r, P, m, F, tw);
    }
    __syncthreads();
  };
  for (int64_t sr = blockIdx.x; sr < p.rows * subs; sr += gridDim.x) {
    const int64_t row = sr / subs, sub = sr - row * subs, h = row % p.H, off = row * n + sub * len;
    __syncthreads();  // the previous sub-row is fully written out (and the twiddle tables are ready)
    if (loaded_h != h && (loaded_h < 0 || p.fwd.per_channel || p.adj.per_channel)) {
      load_factors(Ff, p.fwd, plan, first, h);
      if (adjoint) load_factors(Fa, p.adj, plan, first, h);
      loaded_h = h;
    }
    if (p.complex_in) {
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) {
        const float2 v = p.work[off + t];
        xr[t] = v.x;
        xi[t] = v.y;
      }
    } else {  // real row (first == 0): zero padded to n
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) {
        xr[t] = t < p.src.len ? to_float(src[row * p.src.len + t]) : 0.f;
        xi[t] = 0.f;
      }
    }
    __syncthreads();
    for (int k = first; k < plan.stages; ++k) run_stage(k, false);
    if (!adjoint) {
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) p.spectrum_out[off + t] = {xr[t], xi[t]};
      continue;
    }
    if (p.spectrum != nullptr) {
      const float2* K = p.spectrum + h * n + sub * len;
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) {
        const float2 x = {xr[t], xi[t]};
        const float2 y = cmul(x, K[t]);
        xr[t] = y.x;
        xi[t] = y.y;
      }
      __syncthreads();
    }
    for (int k = plan.stages - 1; k >= first; --k) run_stage(k, true);
    if (p.complex_out) {
      for (int64_t t = threadIdx.x; t < len; t += blockDim.x) p.work[off + t] = {p.scale * xr[t], p.scale * xi[t]};
    } else {  // real row (first == 0)
      const float d = D != nullptr ? to_float(D[h]) : 0.f;
      for (int64_t t = threadIdx.x; t < p.dst.len; t += blockDim.x) {
        float val = p.scale * xr[t];
        if (D != nullptr) val = fmaf(d, to_float(skip[row * p.dst.len + t]), val);
        dst[row * p.dst.len + t] = from_float<T>(val);
      }
    }
  }
}


// One outer stage k over the whole rows in global memory, a column (row, p, j) per thread, in place in p.work.
// Forward stage 0 may read the real input; adjoint stage 0 may write the real output.
template <typename T, int R, bool kAdjoint>
__global__ void __launch_bounds__(kGridThreads) column_kernel(ButterflyPipeline p, int k) {
  const ButterflyPlan& plan = p.plan;
  const int64_t n = plan.n, P = plan.P[k], m = plan.m[k], N = R * m;
  const int64_t per_row = P * m, total = p.rows * per_row;
  const bool real_in = !kAdjoint && k == 0 && !p.complex_in;
  const bool real_out = kAdjoint && k == 0 && !p.complex_out;
  const ButterflyFactors& f = kAdjoint ? p.adj : p.fwd;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < total;
       c += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = c / per_row, rem = c - row * per_row, pp = rem / m, j = rem - pp * m, h = row % p.H;
    const float2* F = f.F[k] + (f.per_channel ? h * R * R : 0);
    float2* base = p.work + row * n + pp * R * m + j;
    float2 v[R];
    if (real_in) {
      const T* src = static_cast<const T*>(p.src.in) + row * p.src.len;
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int64_t t = i * m + j;
        v[i] = {t < p.src.len ? to_float(src[t]) : 0.f, 0.f};
      }
    } else {
#pragma unroll
      for (int i = 0; i < R; ++i) v[i] = base[i * m];
    }
    if (kAdjoint)
      column_adjoint<R>(v, F, j, N, DirectTwiddle{});
    else
      column_forward<R>(v, F, j, N, DirectTwiddle{});
    if (real_out) {
      T* dst = static_cast<T*>(p.dst.out) + row * p.dst.len;
      const T* skip = p.D != nullptr ? static_cast<const T*>(p.skip) + row * p.dst.len : nullptr;
      const float d = p.D != nullptr ? to_float(static_cast<const T*>(p.D)[h]) : 0.f;
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const int64_t t = i * m + j;
        if (t < p.dst.len) {
          float val = p.scale * v[i].x;
          if (skip != nullptr) val = fmaf(d, to_float(skip[t]), val);
          dst[t] = from_float<T>(val);
        }
      }
    } else {
      const float s = (kAdjoint && k == 0) ? p.scale : 1.f;
#pragma unroll
      for (int i = 0; i < R; ++i) base[i * m] = {s * v[i].x, s * v[i].y};
    }
  }
}

int fused_threads(int64_t len) {
  const int64_t t = std::clamp<int64_t>(ceil_div(len / 2, 32) * 32, 32, kFusedMaxThreads);
  return static_cast<int>(t);
}

template <typename T, TcMode kTc>
cudaError_t launch_fused_mode(const ButterflyPipeline& p, int first, cudaStream_t stream) {
  const int64_t len = p.plan.n / p.plan.P[first];
  const size_t smem = butterfly_fused_smem(len, factor_total(p.plan));
  cudaError_t err = cudaFuncSetAttribute(fused_kernel<T, kTc>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem));
  if (err != cudaSuccess) return err;
  const int64_t blocks = std::min<int64_t>(p.rows * p.plan.P[first], int64_t{1} << 24);
  fused_kernel<T, kTc><<<static_cast<unsigned>(blocks), fused_threads(len), smem, stream>>>(p, first);
  return cudaGetLastError();
}

// Tensor cores in TF32 for reduced-precision storage; float32 inputs keep float32 CUDA-core arithmetic unless the
// pipeline asks for 3xTF32 tensor cores.
template <typename T>
cudaError_t launch_fused(const ButterflyPipeline& p, int first, cudaStream_t stream) {
  if constexpr (std::is_same<T, float>::value) {
    return p.float32_tensor_cores ? launch_fused_mode<T, TcMode::kTf32x3>(p, first, stream)
                                  : launch_fused_mode<T, TcMode::kNone>(p, first, stream);
  } else {
    return launch_fused_mode<T, TcMode::kTf32>(p, first, stream);
  }
}

template <typename T, bool kAdjoint>
cudaError_t launch_column(const ButterflyPipeline& p, int k, cudaStream_t stream) {
  const unsigned blocks = grid_blocks(p.rows * p.plan.n / p.plan.radix[k]);
#define SSM_CALL(R) column_kernel<T, R, kAdjoint><<<blocks, kGridThreads, 0, stream>>>(p, k)
  SSM_FFT_RADIX_SWITCH(p.plan.radix[k], SSM_CALL)
#undef SSM_CALL
  return cudaGetLastError();
}

template <typename T>
cudaError_t run(const ButterflyPipeline& p, cudaStream_t stream) {
  int first = 0;
  cudaError_t err = butterfly_first_fused_stage(p.plan, &first);
  if (err != cudaSuccess) return err;
  if (first == 0) return launch_fused<T>(p, 0, stream);
  if (p.work == nullptr) return cudaErrorInvalidValue;
  for (int k = 0; k < first && err == cudaSuccess; ++k) err = launch_column<T, false>(p, k, stream);
  if (err != cudaSuccess) return err;
  ButterflyPipeline inner = p;
  inner.complex_in = true;
  inner.complex_out = true;
  inner.scale = 1.f;
  err = launch_fused<T>(inner, first, stream);
  if (err != cudaSuccess || p.spectrum_out != nullptr) return err;
  for (int k = first - 1; k >= 0 && err == cudaSuccess; --k) err = launch_column<T, true>(p, k, stream);
  return err;
}

}  // namespace

cudaError_t butterfly_device_smem_limit(size_t* bytes) {
  int device = 0, value = 0;
  cudaError_t err = cudaGetDevice(&device);
  if (err == cudaSuccess) err = cudaDeviceGetAttribute(&value, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
  *bytes = static_cast<size_t>(value);
  return err;
}

size_t butterfly_fused_smem(int64_t len, int factor_matrices_total) {
  return len <= kButterflyMaxFused ? static_cast<size_t>(fused_layout(len, factor_matrices_total).total) * sizeof(float)
                                   : 0;
}

cudaError_t butterfly_first_fused_stage(const ButterflyPlan& plan, int* first) {
  size_t limit = 0;
  const cudaError_t err = butterfly_device_smem_limit(&limit);
  if (err != cudaSuccess) return err;
  const int ft = factor_total(plan);
  *first = 0;
  while (*first + 1 < plan.stages && (plan.n / plan.P[*first] > kButterflyMaxFused ||
                                      butterfly_fused_smem(plan.n / plan.P[*first], ft) > limit))
    ++*first;
  return cudaSuccess;
}

cudaError_t butterfly_run(const ButterflyPipeline& p, cudaStream_t stream) {
  if (p.rows == 0) return cudaSuccess;
  switch (p.dtype) {
    case ConvDtype::kFloat32: return run<float>(p, stream);
    case ConvDtype::kBFloat16: return run<__nv_bfloat16>(p, stream);
    case ConvDtype::kFloat16: return run<__half>(p, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ssm::cuda
