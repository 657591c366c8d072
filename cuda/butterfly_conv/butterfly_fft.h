// The exact-DFT butterfly pipeline as host-device code: the stages of butterfly_conv with the exact r x r DFT matrices,
// each applied by an in-register FFT codelet (compile-time constants, no matrix loads), on data laid out as in
// butterfly.h (stage k views a row as (P_k, r_k, m_k); spectra in digit-reversed order). The same functions run in the
// CUDA kernels (cuda/butterfly_conv/butterfly_fft_kernels.cuh: a thread block per sub-row, steps separated by barriers)
// and on the CPU (src/ops/butterfly_conv/exact_cpu.cpp: the steps as loops), so every CPU test of butterfly_conv
// without factors also checks the GPU pipeline's index arithmetic, codelets, twiddles, row layouts and multi-pass
// scheme.
//
// Row layouts (ops::ButterflyOptions::rows): one real row as a complex row of n / 2 (FftJob::real_rows), one real row
// per complex row of n, or, opt-in, two real rows of a channel as one complex row (x = u_0 + i u_1; the kernel is
// real, so Re and Im of F^-1(K F x) are the two convolutions: half the transforms, but the two samples' rounding
// mixes).
//
// Plain C++17 without CUDA headers when not compiled by nvcc.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>

// SSM_INLINE_LAMBDA after a lambda's parameter list: the codelets' compile-time loops are lambdas, and are only fast
// fully inlined (GCC otherwise keeps them as calls).
#if defined(__GNUC__) || defined(__CUDACC__)
#define SSM_INLINE_LAMBDA __attribute__((always_inline))
#else
#define SSM_INLINE_LAMBDA
#endif
#if defined(__CUDACC__)
#define SSM_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define SSM_HD inline __attribute__((always_inline))
#else
#define SSM_HD inline
#endif

namespace ssm::cuda {

constexpr int kButterflyMaxStages = 8;
// Longest row (complex64 elements) the CUDA kernels keep in one block's shared memory (128 KiB) in one fused pass;
// longer rows take the multi-pass scheme.
constexpr int64_t kButterflyMaxFused = 16384;

struct ButterflyPlan {
  int64_t n = 0;
  int stages = 0;
  int radix[kButterflyMaxStages] = {};
  int64_t P[kButterflyMaxStages] = {};  // product of the earlier radices
  int64_t m[kButterflyMaxStages] = {};  // n / (P r)
};

namespace fft {

template <typename T>
struct Cx {
  T x, y;
};
template <typename T>
SSM_HD Cx<T> operator+(Cx<T> a, Cx<T> b) {
  return {a.x + b.x, a.y + b.y};
}
template <typename T>
SSM_HD Cx<T> operator-(Cx<T> a, Cx<T> b) {
  return {a.x - b.x, a.y - b.y};
}
template <typename T>
SSM_HD Cx<T> cmul(Cx<T> a, Cx<T> b) {
  return {a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x};
}
// a * conj(b)
template <typename T>
SSM_HD Cx<T> cmul_conj(Cx<T> a, Cx<T> b) {
  return {a.x * b.x + a.y * b.y, a.y * b.x - a.x * b.y};
}
// x times the spectrum entry k, or times conj(k)
template <typename T>
SSM_HD Cx<T> times_spectrum(Cx<T> x, Cx<T> k, bool conj) {
  return conj ? cmul_conj(x, k) : cmul(x, k);
}

// The scalar type of an arithmetic type: itself, or the element type of a SIMD vector type (the CPU backend runs the
// codelets on GCC vector types, which mix with scalars elementwise).
template <typename T>
struct ScalarOf {
  using type = T;
};

// ---- compile-time roots of unity ----------------------------------------------------------------------------------
constexpr double kTwoPi = 6.283185307179586476925286766559;
constexpr double taylor_sin(double x) {  // |x| <= pi / 4: 12 terms are exact in double
  double term = x, sum = x;
  for (int k = 1; k < 12; ++k) {
    term *= -x * x / ((2.0 * k) * (2.0 * k + 1.0));
    sum += term;
  }
  return sum;
}
constexpr double taylor_cos(double x) {
  double term = 1.0, sum = 1.0;
  for (int k = 1; k < 12; ++k) {
    term *= -x * x / ((2.0 * k - 1.0) * (2.0 * k));
    sum += term;
  }
  return sum;
}
// cos and sin of 2 pi k / n, reduced to a quarter turn q and a remainder |r| <= pi / 4 in integers.
constexpr int quarter(int k, int n) { return (8 * k + n) / (2 * n); }
constexpr double quarter_rest(int k, int n) {
  return kTwoPi * static_cast<double>(4 * k - quarter(k, n) * n) / (4.0 * n);
}
constexpr double cos_frac(int k, int n) {
  k = ((k % n) + n) % n;
  const double r = quarter_rest(k, n);
  switch (quarter(k, n) & 3) {
    case 0: return taylor_cos(r);
    case 1: return -taylor_sin(r);
    case 2: return -taylor_cos(r);
    default: return taylor_sin(r);
  }
}
constexpr double sin_frac(int k, int n) {
  k = ((k % n) + n) % n;
  const double r = quarter_rest(k, n);
  switch (quarter(k, n) & 3) {
    case 0: return taylor_sin(r);
    case 1: return taylor_cos(r);
    case 2: return -taylor_sin(r);
    default: return -taylor_cos(r);
  }
}

// Calls f(std::integral_constant<int, I>) for I in [B, E): indices that are constant expressions.
template <int B, int E, typename F>
SSM_HD void static_for(F&& f) {
  if constexpr (B < E) {
    f(std::integral_constant<int, B>{});
    static_for<B + 1, E>(f);
  }
}

// v * exp(-+ 2 pi i K / N) (minus: forward, plus: kInv); the quarter turns cost no multiplication.
template <int N, int K, bool kInv, typename T>
SSM_HD Cx<T> mul_root(Cx<T> v) {
  constexpr int k = ((K % N) + N) % N;
  if constexpr (k == 0) {
    return v;
  } else if constexpr (2 * k == N) {
    return {-v.x, -v.y};
  } else if constexpr (4 * k == N || 4 * k == 3 * N) {
    constexpr bool minus_i = (4 * k == N) != kInv;  // multiply by -i, else by +i
    if constexpr (minus_i) return {v.y, -v.x};
    else return {-v.y, v.x};
  } else {
    using S = typename ScalarOf<T>::type;
    constexpr double c = cos_frac(k, N), s = (kInv ? 1.0 : -1.0) * sin_frac(k, N);
    return {v.x * S(c) - v.y * S(s), v.x * S(s) + v.y * S(c)};
  }
}

// ---- codelets: v <- DFT_R v (natural order in and out; kInv: the unnormalized inverse, i.e. F^H) ------------------
template <int R>
constexpr int smallest_factor() {
  for (int p = 2; p < R; ++p)
    if (R % p == 0) return p;
  return R;
}

// Prime R: pairs (v_i, v_{R-i}) share their cosines and sines (Rader-free, (R-1)^2 / 2 real products per component).
template <int R, bool kInv, typename T>
SSM_HD void dft_prime(Cx<T> (&v)[R]) {
  if constexpr (R == 2) {
    const Cx<T> a = v[0], b = v[1];
    v[0] = a + b;
    v[1] = a - b;
  } else {
    constexpr int h = (R - 1) / 2;
    Cx<T> s[h + 1], d[h + 1], out[R];
    Cx<T> sum = v[0];
    static_for<1, h + 1>([&](auto I) SSM_INLINE_LAMBDA {
      constexpr int i = decltype(I)::value;
      s[i] = v[i] + v[R - i];
      d[i] = v[i] - v[R - i];
      sum = sum + s[i];
    });
    out[0] = sum;
    static_for<1, h + 1>([&](auto A) SSM_INLINE_LAMBDA {
      constexpr int a = decltype(A)::value;
      using S = typename ScalarOf<T>::type;
      Cx<T> re = v[0], im = {T{}, T{}};
      static_for<1, h + 1>([&](auto I) SSM_INLINE_LAMBDA {
        constexpr int i = decltype(I)::value;
        constexpr double c = cos_frac(decltype(A)::value * i, R), sn = sin_frac(decltype(A)::value * i, R);
        re = {re.x + S(c) * s[i].x, re.y + S(c) * s[i].y};
        im = {im.x + S(sn) * d[i].x, im.y + S(sn) * d[i].y};
      });
      // forward: X[a] = re - i im, X[R - a] = re + i im; the inverse swaps them
      const Cx<T> minus = {re.x + im.y, re.y - im.x}, plus = {re.x - im.y, re.y + im.x};
      out[a] = kInv ? plus : minus;
      out[R - a] = kInv ? minus : plus;
    });
    static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA { v[decltype(I)::value] = out[decltype(I)::value]; });
  }
}

// R = p q (p the smallest prime factor): q DFTs of size p on the columns of v viewed as (p, q), twiddles
// exp(-2 pi i a1 i2 / R), then p DFTs of size q on the rows; frequency a1 + p a2 ends in row a1, column a2.
template <int R, bool kInv, typename T>
SSM_HD void dft(Cx<T> (&v)[R]) {
  constexpr int p = smallest_factor<R>();
  if constexpr (R == 1) {
  } else if constexpr (p == R) {
    dft_prime<R, kInv>(v);
  } else {
    constexpr int q = R / p;
    static_for<0, q>([&](auto I2) SSM_INLINE_LAMBDA {
      constexpr int i2 = decltype(I2)::value;
      Cx<T> t[p];
      static_for<0, p>([&](auto I1) SSM_INLINE_LAMBDA { t[decltype(I1)::value] = v[decltype(I1)::value * q + i2]; });
      dft_prime<p, kInv>(t);
      static_for<0, p>([&](auto A1) SSM_INLINE_LAMBDA {
        constexpr int a1 = decltype(A1)::value;
        v[a1 * q + i2] = mul_root<R, a1 * i2, kInv>(t[a1]);
      });
    });
    Cx<T> out[R];
    static_for<0, p>([&](auto A1) SSM_INLINE_LAMBDA {
      constexpr int a1 = decltype(A1)::value;
      Cx<T> t[q];
      static_for<0, q>([&](auto I2) SSM_INLINE_LAMBDA { t[decltype(I2)::value] = v[a1 * q + decltype(I2)::value]; });
      dft<q, kInv>(t);
      static_for<0, q>([&](auto A2) SSM_INLINE_LAMBDA { out[a1 + p * decltype(A2)::value] = t[decltype(A2)::value]; });
    });
    static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA { v[decltype(I)::value] = out[decltype(I)::value]; });
  }
}

constexpr int highest_power_of_two(int a) {
  int t = 1;
  while (2 * t <= a) t *= 2;
  return t;
}

// v[a] *= w^a (or conj(w)^a) for a = 1 .. R-1, powers by a binary tree (w^a = w^(a - 2^b) w^(2^b)): rounding grows
// with log2(a), not with a.
template <int R, bool kConj, typename T>
SSM_HD void apply_powers(Cx<T> (&v)[R], Cx<T> w) {
  Cx<T> pw[R];
  pw[1] = w;
  static_for<2, R>([&](auto A) SSM_INLINE_LAMBDA {
    constexpr int a = decltype(A)::value, top = highest_power_of_two(a);
    if constexpr (a == top)
      pw[a] = cmul(pw[a / 2], pw[a / 2]);
    else
      pw[a] = cmul(pw[top], pw[a - top]);
  });
  static_for<1, R>([&](auto A) SSM_INLINE_LAMBDA {
    constexpr int a = decltype(A)::value;
    v[a] = kConj ? cmul_conj(v[a], pw[a]) : cmul(v[a], pw[a]);
  });
}

// ---- twiddles ------------------------------------------------------------------------------------------------------
// exp(-2 pi i j / N), 0 <= j < N, evaluated directly (the entries of the twiddle tables).
template <typename Real>
SSM_HD Cx<Real> root_direct(int64_t j, int64_t N) {
#if defined(__CUDA_ARCH__)
  if constexpr (std::is_same<Real, float>::value) {
    float s, c;
    sincospif(-2.f * static_cast<float>(j) / static_cast<float>(N), &s, &c);
    return {c, s};
  } else {
    double s, c;
    sincospi(-2.0 * static_cast<double>(j) / static_cast<double>(N), &s, &c);
    return {c, s};
  }
#else
  const double a = -kTwoPi * static_cast<double>(j) / static_cast<double>(N);
  return {static_cast<Real>(std::cos(a)), static_cast<Real>(std::sin(a))};
#endif
}

// Smallest s with 4^s >= len: the roots exp(-2 pi i t / len) come from a table of 2^s and one of ceil(len / 2^s).
SSM_HD int twiddle_shift(int64_t len) {
  int s = 0;
  while ((int64_t{1} << (2 * s)) < len) ++s;
  return s;
}

// exp(-2 pi i t / len) = hi[t >> shift] * lo[t & (2^shift - 1)] for 0 <= t < len.
template <typename Real>
struct TwiddleTable {
  const Cx<Real>* hi;
  const Cx<Real>* lo;
  int shift;
  SSM_HD Cx<Real> operator()(int t) const { return cmul(hi[t >> shift], lo[t & ((1 << shift) - 1)]); }
};

// Storage of the table for len: the 2^s low roots, then the high ones.
SSM_HD int64_t twiddle_table_size(int64_t len) {
  const int s = twiddle_shift(len);
  return (int64_t{1} << s) + ((len + (int64_t{1} << s) - 1) >> s);
}
template <typename Real>
SSM_HD Cx<Real> twiddle_table_entry(int64_t len, int64_t i) {
  const int s = twiddle_shift(len);
  const int64_t lo = int64_t{1} << s;
  return i < lo ? root_direct<Real>(i, len) : root_direct<Real>((i - lo) << s, len);
}
template <typename Real>
SSM_HD TwiddleTable<Real> twiddle_table(const Cx<Real>* storage, int64_t len) {
  const int s = twiddle_shift(len);
  return {storage + (int64_t{1} << s), storage, s};
}

// ---- a sub-row in (shared) memory ---------------------------------------------------------------------------------
// Planar (real parts, imaginary parts), one padding slot per 32 elements: the strided column accesses of the stages
// with m = 1 (stride r) and small m then fall on distinct banks.
SSM_HD int pad(int i) { return i + (i >> 5); }

struct SubrowLayout {
  int64_t xr, xi, tw, total;  // offsets of the planes and of the twiddle table (Cx), total size, in Real elements
};
SSM_HD int64_t round_up32(int64_t x) { return (x + 31) / 32 * 32; }
SSM_HD SubrowLayout subrow_layout(int64_t len) {
  const int64_t padded = round_up32(len + (len >> 5));
  SubrowLayout l{};
  l.xr = 0;
  l.xi = padded;
  l.tw = 2 * padded;
  l.total = l.tw + round_up32(2 * twiddle_table_size(len));
  return l;
}

// One column of a stage: forward v <- w^a (DFT_R v); inverse (the adjoint) v <- DFT_R^H (conj(w)^a v); w =
// twiddle() when has_twiddle, else 1.
template <int R, bool kInv, typename T, class Twiddle>
SSM_HD void twiddled_dft(Cx<T> (&v)[R], bool has_twiddle, const Twiddle& twiddle) {
  if constexpr (!kInv) {
    dft<R, false>(v);
    if (has_twiddle) apply_powers<R, false>(v, twiddle());
  } else {
    if (has_twiddle) apply_powers<R, true>(v, twiddle());
    dft<R, true>(v);
  }
}

// v_i = x[index(i)] (i < R) from the planar buffers, and back.
template <int R, typename Real, class Index>
SSM_HD void read_column(const Real* xr, const Real* xi, const Index& index, Cx<Real> (&v)[R]) {
  static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA {
    const int idx = index(decltype(I)::value);
    v[decltype(I)::value] = {xr[idx], xi[idx]};
  });
}
template <int R, typename Real, class Index>
SSM_HD void write_column(Real* xr, Real* xi, const Index& index, const Cx<Real> (&v)[R]) {
  static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA {
    const int idx = index(decltype(I)::value);
    xr[idx] = v[decltype(I)::value].x;
    xi[idx] = v[decltype(I)::value].y;
  });
}

// The column v_i = x[index(i)] (i < R) of the planar buffers, in place (twiddled_dft).
template <int R, bool kInv, typename Real, class Index, class Twiddle>
SSM_HD void buffer_column(Real* xr, Real* xi, const Index& index, bool has_twiddle, const Twiddle& twiddle) {
  Cx<Real> v[R];
  read_column(xr, xi, index, v);
  twiddled_dft<R, kInv>(v, has_twiddle, twiddle);
  write_column(xr, xi, index, v);
}

// One column (p, j) of a stage over a sub-row of length P R m: v = x[p][.][j], twiddle exp(-2 pi i j / (R m)).
template <int R, bool kInv, typename Real>
SSM_HD void subrow_column(Real* xr, Real* xi, int c, int m, int P, const TwiddleTable<Real>& tw) {
  const int p = c / m, j = c - p * m, base = p * R * m + j;
  buffer_column<R, kInv>(
      xr, xi, [&](int i) SSM_INLINE_LAMBDA { return pad(base + i * m); }, j > 0,
      [&]() SSM_INLINE_LAMBDA { return tw(j * P); });
}

#define SSM_FFT_RADIX_SWITCH(r, CALL) \
  switch (r) {                        \
    case 2: CALL(2); break;           \
    case 3: CALL(3); break;           \
    case 4: CALL(4); break;           \
    case 5: CALL(5); break;           \
    case 6: CALL(6); break;           \
    case 7: CALL(7); break;           \
    case 8: CALL(8); break;           \
    case 9: CALL(9); break;           \
    case 10: CALL(10); break;         \
    case 12: CALL(12); break;         \
    case 14: CALL(14); break;         \
    case 15: CALL(15); break;         \
    case 16: CALL(16); break;         \
    default: break;                   \
  }

// One stage over the sub-row: a parallel step over its len / r columns.
template <bool kInv, typename Real, class Exec>
SSM_HD void subrow_stage(Exec& ex, int r, int len, int m, int P, Real* xr, Real* xi, const TwiddleTable<Real>& tw) {
#define SSM_CALL(R) \
  ex.parallel_for(len / R, [&](int c) { subrow_column<R, kInv>(xr, xi, c, m, P, tw); })
  SSM_FFT_RADIX_SWITCH(r, SSM_CALL)
#undef SSM_CALL
}

// ---- the sub-row's outer stages fused with its loads, the spectrum product and its stores --------------------------
// With every stage a parallel step, a convolution reads and writes the buffers 2 S + 3 times for S stages (load,
// stages, product, inverse stages, store). Fused: the first stage's columns (P = 1, m = len / R: the loads of a
// column are coalesced across threads) load their inputs directly and store their outputs directly, and the last
// stage (m = 1) runs forward, product and inverse on a column in registers: 2 S - 1 passes and barriers.

// Column j of the first stage: v_i = load(j + i m), forward codelet and twiddles, into the buffers.
template <int R, typename Real, class Load>
SSM_HD void first_column_forward(Real* xr, Real* xi, int j, int m, const TwiddleTable<Real>& tw, const Load& load) {
  Cx<Real> v[R];
  static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA { v[decltype(I)::value] = load(j + decltype(I)::value * m); });
  twiddled_dft<R, false>(v, j > 0, [&]() SSM_INLINE_LAMBDA { return tw(j); });
  write_column(xr, xi, [&](int i) SSM_INLINE_LAMBDA { return pad(j + i * m); }, v);
}

// Column j of the first stage's inverse: from the buffers, conjugate twiddles and inverse codelet, store(j + i m, v_i).
template <int R, typename Real, class Store>
SSM_HD void first_column_inverse(const Real* xr, const Real* xi, int j, int m, const TwiddleTable<Real>& tw,
                                 const Store& store) {
  Cx<Real> v[R];
  read_column(xr, xi, [&](int i) SSM_INLINE_LAMBDA { return pad(j + i * m); }, v);
  twiddled_dft<R, true>(v, j > 0, [&]() SSM_INLINE_LAMBDA { return tw(j); });
  static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA { store(j + decltype(I)::value * m, v[decltype(I)::value]); });
}

// The loads of a sub-row of length len into the buffers: with fuse, together with its first stage (radix r0).
template <typename Real, class Exec, class Load>
SSM_HD void load_subrow(Exec& ex, bool fuse, int r0, int len, Real* xr, Real* xi, const TwiddleTable<Real>& tw,
                        const Load& load) {
  if (fuse) {
    const int m0 = len / r0;
#define SSM_CALL(R) ex.parallel_for(m0, [&](int j) { first_column_forward<R>(xr, xi, j, m0, tw, load); })
    SSM_FFT_RADIX_SWITCH(r0, SSM_CALL)
#undef SSM_CALL
  } else {
    ex.parallel_for(len, [&](int t) {
      const Cx<Real> v = load(t);
      xr[pad(t)] = v.x;
      xi[pad(t)] = v.y;
    });
  }
}

// Column c of the last stage (m = 1: entries c R .. c R + R - 1, no twiddles): forward codelet, times the spectrum
// K at the same positions (conjugated when conj), inverse codelet.
template <int R, typename Real>
SSM_HD void last_column_product(Real* xr, Real* xi, int c, const Cx<Real>* K, bool conj) {
  Cx<Real> v[R];
  auto index = [&](int i) SSM_INLINE_LAMBDA { return pad(c * R + i); };
  read_column(xr, xi, index, v);
  dft<R, false>(v);
  static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA {
    v[decltype(I)::value] = times_spectrum(v[decltype(I)::value], K[c * R + decltype(I)::value], conj);
  });
  dft<R, true>(v);
  write_column(xr, xi, index, v);
}

// What run_subrow calls for a stage: subrow_stage, unless an overload for a particular Exec (found by argument-
// dependent lookup) runs the stage otherwise (the CPU backend's SIMD columns).
template <bool kInv, typename Real, class Exec>
SSM_HD void exec_stage(Exec& ex, int r, int len, int m, int P, Real* xr, Real* xi, const TwiddleTable<Real>& tw) {
  subrow_stage<kInv>(ex, r, len, m, P, xr, xi, tw);
}

// Host executors of a thread block's parallel steps (the CPU backend, the tests): the items in order, or in reverse
// order -- a step whose items depended on one another would then differ from a thread block's unordered execution.
struct SerialExec {
  template <class F>
  void parallel_for(int count, F&& f) {
    for (int i = 0; i < count; ++i) f(i);
  }
};
struct ReverseExec {
  template <class F>
  void parallel_for(int count, F&& f) {
    for (int i = count - 1; i >= 0; --i) f(i);
  }
};

// ---- pipelines over rows -------------------------------------------------------------------------------------------
// Conversion between a storage type and the arithmetic type (bf16 / fp16 specializations in
// cuda/butterfly_conv/butterfly_fft_kernels.cuh).
template <typename T, typename Real>
struct Storage {
  static SSM_HD Real load(T x) { return static_cast<Real>(x); }
  static SSM_HD T store(Real x) { return static_cast<T>(x); }
};

// One pipeline over `rows` rows of the (B, H) real rows (row b H + h has channel h; pipeline row q as job_rows says):
//   input   : real rows src (src_len each, zero padded to n) -- two rows (b, h), (b + 1, h) as one complex row when
//             pair, row r of src + i row r of src_imag when src_imag is set --, or the complex work area (rows, n)
//             when complex_in;
//   forward : the forward stages (skipped when !forward); spectrum_out set: write the spectrum there and stop;
//   then    : multiply by spectrum (H, n) (conjugated when conj_spectrum; skipped when null), the inverse stages;
//   output  : real rows dst (first dst_len elements of scale Re x, and scale Im x for the pair's second row, plus
//             D[h] skip[row, t] when D), or scale x into work when complex_out.
// With real_rows (one sub-row plans only, pair off) each pipeline row is ONE real row of length 2 N (N = plan.n),
// transformed as the complex row z[t] = x[2 t] + i x[2 t + 1] of N points, and the spectrum step takes the
// transforms apart (real_row_columns): spectrum_out receives the spectrum of x at frequencies 0 .. N - 1 (digit
// order of the N-point plan; entry 0 holds {X[0], X[N]}, both real), spectrum must be such a spectrum, the output is
// x[2 t] = scale Re w[t], x[2 t + 1] = scale Im w[t]; src_len and dst_len count real elements.
template <typename T, typename Real>
struct FftJob {
  ButterflyPlan plan;
  int64_t rows = 0;  // pipeline rows of this job (all: pipeline_rows(B, H, pair), or a chunk of them from row0)
  int64_t B = 1, H = 1;
  bool pair = false;
  const T* src = nullptr;
  const T* src_imag = nullptr;
  int64_t src_len = 0;
  T* dst = nullptr;
  int64_t dst_len = 0;
  const T* skip = nullptr;  // rows of dst_len elements
  const T* D = nullptr;     // (H)
  Cx<Real>* work = nullptr;
  Cx<Real>* row_twiddles = nullptr;  // twiddle_table_size(n) entries for the tile passes, filled by the runner
  bool complex_in = false, complex_out = false, forward = true;
  const Cx<Real>* spectrum = nullptr;
  bool conj_spectrum = false;
  Cx<Real>* spectrum_out = nullptr;
  Real scale = Real(1);
  bool fused_ends = false;  // sub-rows of two or more stages: the outer stages fused (see first_column_forward)
  // Convolutions and spectra (spectrum_out; the kernel gradient's transforms too) whose sub-rows end in two radix-16
  // stages (tc_plan): those stages (and the product) on tensor cores, bf16 operands
  // (cuda/butterfly_conv/butterfly_fft_tc.h); with real rows the blocks run forward and inverse around the real-row
  // step. The CUDA launchers honour it for bf16 storage only.
  bool tensor_cores = false;
  bool real_rows = false;
  Cx<Real> root_half = {Real(1), Real(0)};  // exp(-i pi / N) for real_rows
  // This job's rows are pipeline rows row0 .. row0 + rows - 1 (of the rows of src, dst and spectrum_out); the work
  // area holds just them (a pipeline run in chunks of rows keeps its work area in cache).
  int64_t row0 = 0;
};

SSM_HD int64_t pipeline_rows(int64_t B, int64_t H, bool pair) { return pair ? (B + 1) / 2 * H : B * H; }

struct RowPair {
  int64_t r0, r1, h;  // r1 < 0: no second row
};
// Pipeline row q: channel h = q / per of the per = (B + 1) / 2 pairs (pair) or B rows of a channel, so that the rows
// of one channel are adjacent and its kernel spectrum row is read while still in cache; the i-th of them is batch
// row i (or rows 2 i, 2 i + 1) of that channel. A job over one row per channel has B = 1.
template <typename T, typename Real>
SSM_HD RowPair job_rows(const FftJob<T, Real>& job, int64_t q) {
  const int64_t per = job.pair ? (job.B + 1) / 2 : job.B, h = q / per, i = q - h * per;
  if (!job.pair) return {i * job.H + h, -1, h};
  const int64_t b = 2 * i, r0 = b * job.H + h;
  return {r0, b + 1 < job.B ? r0 + job.H : -1, h};
}

template <typename T, typename Real>
SSM_HD Cx<Real> load_input(const FftJob<T, Real>& job, const RowPair& rp, int64_t t) {
  using S = Storage<T, Real>;
  if (job.real_rows) {
    const T* row = job.src + rp.r0 * job.src_len;
    const int64_t e = 2 * t;
    return {e < job.src_len ? S::load(row[e]) : Real(0), e + 1 < job.src_len ? S::load(row[e + 1]) : Real(0)};
  }
  if (t >= job.src_len) return {Real(0), Real(0)};
  const Real re = S::load(job.src[rp.r0 * job.src_len + t]);
  if (job.src_imag != nullptr) return {re, S::load(job.src_imag[rp.r0 * job.src_len + t])};
  return {re, rp.r1 >= 0 ? S::load(job.src[rp.r1 * job.src_len + t]) : Real(0)};
}

template <typename T, typename Real>
SSM_HD void store_output(const FftJob<T, Real>& job, const RowPair& rp, int64_t t, Cx<Real> v) {
  using S = Storage<T, Real>;
  const Real d = job.D != nullptr ? S::load(job.D[rp.h]) : Real(0);
  auto put = [&](int64_t row, int64_t pos, Real x) SSM_INLINE_LAMBDA {
    Real y = job.scale * x;
    if (job.D != nullptr) y += d * S::load(job.skip[row * job.dst_len + pos]);
    job.dst[row * job.dst_len + pos] = S::store(y);
  };
  if (job.real_rows) {  // t < output_positions(job)
    put(rp.r0, 2 * t, v.x);
    if (2 * t + 1 < job.dst_len) put(rp.r0, 2 * t + 1, v.y);
    return;
  }
  put(rp.r0, t, v.x);
  if (rp.r1 >= 0) put(rp.r1, t, v.y);
}

// Positions of a pipeline row that reach the real output rows.
template <typename T, typename Real>
SSM_HD int64_t output_positions(const FftJob<T, Real>& job) {
  return job.real_rows ? (job.dst_len + 1) / 2 : job.dst_len;
}

// A pipeline's input at position t of its row: the work row (complex_in), else the real rows.
template <typename T, typename Real>
SSM_HD Cx<Real> load_source(const FftJob<T, Real>& job, const RowPair& rp, const Cx<Real>* work_row, int64_t t) {
  return job.complex_in ? work_row[t] : load_input(job, rp, t);
}

// A pipeline's result at position t of its row: scaled into the work row (complex_out), else the real rows (t <
// dst_len).
template <typename T, typename Real>
SSM_HD void store_result(const FftJob<T, Real>& job, const RowPair& rp, Cx<Real>* work_row, int64_t t, Cx<Real> v) {
  if (job.complex_out)
    work_row[t] = {job.scale * v.x, job.scale * v.y};
  else if (t < output_positions(job))
    store_output(job, rp, t, v);
}

// ---- real rows: one real row of 2 N as one complex row of N ---------------------------------------------------------
// With z[t] = x[2 t] + i x[2 t + 1] and Z = F_N z, the spectrum of x at f and N - f (0 < f < N) is X[f] = E + w^f O
// and X[N - f] = conj(E - w^f O), where E = (Z[f] + conj Z[N - f]) / 2 and O = (Z[f] - conj Z[N - f]) / (2i) are the
// spectra of the even and odd samples and w = exp(-i pi / N); at f = 0 (za = zb = Z[0], w = 1) xa = X[0] and xb =
// X[N], both real.
template <typename Real>
SSM_HD void real_row_spectra(Cx<Real> za, Cx<Real> zb, Cx<Real> w, Cx<Real>* xa, Cx<Real>* xb) {
  const Real h = Real(0.5);
  const Cx<Real> e = {h * (za.x + zb.x), h * (za.y - zb.y)};
  const Cx<Real> o = {h * (za.y + zb.y), h * (zb.x - za.x)};
  const Cx<Real> wo = cmul(w, o);
  *xa = e + wo;
  *xb = {e.x - wo.x, wo.y - e.y};  // conj(e - wo)
}

// Back: from Y at f and N - f (a real row's spectrum; Y[f + N] = conj Y[N - f]) the entries f and N - f of W = 2 F_N
// (y[2 t] + i y[2 t + 1]): W[f] = E + i O, W[N - f] = conj E + i conj O, E = Y[f] + conj Y[N - f], O = (Y[f] -
// conj Y[N - f]) conj(w^f). The inverse N-point transform of W is 2 N (y[2 t] + i y[2 t + 1]): the scale of the
// 2N-point convolution, 1 / (2 N), carries over.
template <typename Real>
SSM_HD void real_row_merge(Cx<Real> ya, Cx<Real> yb, Cx<Real> w, Cx<Real>* wa, Cx<Real>* wb) {
  const Cx<Real> e = {ya.x + yb.x, ya.y - yb.y};
  const Cx<Real> o = cmul_conj(Cx<Real>{ya.x - yb.x, ya.y + yb.y}, w);
  *wa = {e.x - o.y, e.y + o.x};
  *wb = {e.x + o.y, o.x - e.y};
}

// w^f = exp(-i pi f / N) for 0 <= f < N, from the N-point sub-row table and root_half = exp(-i pi / N).
template <typename Real>
SSM_HD Cx<Real> half_root(const TwiddleTable<Real>& tw, Cx<Real> root_half, int f) {
  const Cx<Real> w = tw(f >> 1);
  return (f & 1) ? cmul(w, root_half) : w;
}

// The digits of stages [0, stages) of position t (t = sum a_k m_k, frequency f = sum a_k P_k, a_0 the least
// significant digit of f): the position of -f over those digits (negation complements the digits from the lowest
// nonzero one upward), and f in *f. I: the index type (32 bits where the positions fit: cheaper on a GPU).
template <typename I>
SSM_HD I negate_digits(const ButterflyPlan& plan, int stages, I t, I* f) {
  I out = 0, freq = 0;
  bool nonzero_below = false;
  for (int k = 0; k < stages; ++k) {
    const I m = static_cast<I>(plan.m[k]), r = static_cast<I>(plan.radix[k]), a = (t / m) % r;
    out += (nonzero_below ? r - 1 - a : (a == 0 ? 0 : r - a)) * m;
    nonzero_below = nonzero_below || a != 0;
    freq += a * static_cast<I>(plan.P[k]);
  }
  *f = freq;
  return out;
}

// Column c of the last stage (positions c R + i, m = 1) holds the frequencies low + P i (P = N / R, low: the
// frequency of the digits below the last). Their partners N - f lie in one column cn: the lower digits negated, the
// last digit R - 1 - i (low != 0) or (R - i) mod R (low == 0, which is column 0, its own partner).
SSM_HD void real_row_partner(const ButterflyPlan& plan, int c, int* cn, int* low) {
  const int R = plan.radix[plan.stages - 1];
  *cn = negate_digits<int>(plan, plan.stages - 1, c * R, low) / R;
}

// Calls op(a, b, f, pa, pb) once for every pair of entries (a at position pa, frequency f; b at pb, frequency
// N - f mod N) of the columns c (va) and cn (vb; a copy of va when cn == c, then the results are merged into va).
template <int R, typename Real, class Op>
SSM_HD void for_real_pairs(Cx<Real> (&va)[R], Cx<Real> (&vb)[R], int c, int cn, int low, int P, const Op& op) {
  const bool same = cn == c;
  auto pairs = [&](auto zero) SSM_INLINE_LAMBDA {
    constexpr bool kZero = decltype(zero)::value;
    static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA {
      constexpr int i = decltype(I)::value, j = kZero ? (R - i) % R : R - 1 - i;
      if (!same || i <= j) op(va[i], vb[j], low + P * i, c * R + i, cn * R + j);
    });
    if (same)
      static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA {
        constexpr int i = decltype(I)::value, j = kZero ? (R - i) % R : R - 1 - i;
        if constexpr (i > j) va[i] = vb[i];
      });
  };
  if (low == 0)
    pairs(std::true_type{});
  else
    pairs(std::false_type{});
}

// The real-row step on the columns c and cn >= c of the last stage (real_row_partner; the item does nothing when
// cn < c): with codelets the last stage's forward codelets first. Then either the spectra are written to out
// (real_row_spectra; entry 0 packed as {X[0], X[N]}), or they are multiplied by K (conjugated when conj; packed the
// same way) and merged back (real_row_merge), the inverse codelets run (with codelets) and the columns are stored.
template <int R, typename Real>
SSM_HD void real_row_columns(Real* xr, Real* xi, int c, const ButterflyPlan& plan, bool codelets,
                             const TwiddleTable<Real>& tw, Cx<Real> root_half, const Cx<Real>* K, bool conj,
                             Cx<Real>* out) {
  int cn = 0, low = 0;
  real_row_partner(plan, c, &cn, &low);
  if (cn < c) return;
  const int P = static_cast<int>(plan.P[plan.stages - 1]);
  auto at_c = [&](int i) SSM_INLINE_LAMBDA { return pad(c * R + i); };
  auto at_cn = [&](int i) SSM_INLINE_LAMBDA { return pad(cn * R + i); };
  Cx<Real> va[R], vb[R];
  read_column(xr, xi, at_c, va);
  if (codelets) dft<R, false>(va);
  if (cn == c) {
    static_for<0, R>([&](auto I) SSM_INLINE_LAMBDA { vb[decltype(I)::value] = va[decltype(I)::value]; });
  } else {
    read_column(xr, xi, at_cn, vb);
    if (codelets) dft<R, false>(vb);
  }
  if (out != nullptr) {
    for_real_pairs(va, vb, c, cn, low, P, [&](Cx<Real>& a, Cx<Real>& b, int f, int pa, int pb) SSM_INLINE_LAMBDA {
      Cx<Real> xa, xb;
      real_row_spectra(a, b, half_root(tw, root_half, f), &xa, &xb);
      out[pb] = xb;
      out[pa] = f == 0 ? Cx<Real>{xa.x, xb.x} : xa;
    });
    return;
  }
  for_real_pairs(va, vb, c, cn, low, P, [&](Cx<Real>& a, Cx<Real>& b, int f, int pa, int pb) SSM_INLINE_LAMBDA {
    const Cx<Real> w = half_root(tw, root_half, f);
    Cx<Real> xa, xb, ya, yb;
    real_row_spectra(a, b, w, &xa, &xb);
    if (f == 0) {
      ya = {xa.x * K[pa].x, Real(0)};
      yb = {xb.x * K[pa].y, Real(0)};
    } else {
      ya = times_spectrum(xa, K[pa], conj);
      yb = times_spectrum(xb, K[pb], conj);
    }
    real_row_merge(ya, yb, w, &a, &b);
  });
  if (codelets) dft<R, true>(va);
  write_column(xr, xi, at_c, va);
  if (cn != c) {
    if (codelets) dft<R, true>(vb);
    write_column(xr, xi, at_cn, vb);
  }
}

// ---- the tensor-core block (cuda/butterfly_conv/butterfly_fft_tc.h) -------------------------------------------------
constexpr int kTcBlock = 256;  // positions of one warp's block: the last two stages, radix 16 both
// A step of the warp blocks: both forward stages (a spectrum; real rows before their spectrum step), forward stages,
// spectrum product and inverse stages (a convolution), or both inverse stages (real rows after it).
enum class TcStep { kForward, kConvolve, kInverse };

// Whether the sub-rows of plan from stage `first` end in two radix-16 stages (the tensor-core block's).
SSM_HD bool tc_plan(const ButterflyPlan& plan, int first) {
  const int last = plan.stages - 1;
  return last - 1 >= first && plan.radix[last] == 16 && plan.radix[last - 1] == 16;
}

// The first stage run on sub-rows (n / P[first] <= max_len); stages before it run in tiles (run_tile).
SSM_HD int first_subrow_stage(const ButterflyPlan& plan, int64_t max_len) {
  int first = 0;
  while (first + 1 < plan.stages && plan.n / plan.P[first] > max_len) ++first;
  return first;
}

// The pipeline on sub-row sr (row sr / P[first], part sr % P[first]) of length len = n / P[first]: stages [first,
// stages) in the planar buffers xr, xi (subrow_layout), as parallel steps of ex. With first > 0 the sub-row comes from
// and goes to the work area (the tile passes around it do the rest). With job.fused_ends, the first stage is fused with
// the loads and the stores, and the last with the spectrum product. kReal: the pipeline of job.real_rows (first == 0),
// whose spectrum step is real_row_columns (a template argument so that the kernels of the paired rows do not carry its
// registers). kTc: the kernel of job.tensor_cores, where the last two stages (and the product) run as warp blocks
// (ex.tc_blocks, a TcStep; cuda/butterfly_conv/butterfly_fft_tc.h) when the job is a convolution or a spectrum and its
// plan ends in two radix-16 stages: with real rows forward blocks, the real-row step on the spectra in the buffers,
// inverse blocks.
template <bool kReal = false, bool kTc = false, typename T, typename Real, class Exec>
SSM_HD void run_subrow(Exec& ex, const FftJob<T, Real>& job, int first, int64_t sr, Real* xr, Real* xi,
                       const TwiddleTable<Real>& tw) {
  const ButterflyPlan& plan = job.plan;
  const int64_t n = plan.n, subs = plan.P[first], q = sr / subs, off = (sr - q * subs) * (n / subs);
  const int len = static_cast<int>(n / subs), last = plan.stages - 1;
  const RowPair rp = job_rows(job, job.row0 + q);
  Cx<Real>* work = job.work != nullptr ? job.work + q * n + off : nullptr;  // this sub-row in the work area
  bool tc = false;
  if constexpr (kTc)
    tc = job.forward && (job.spectrum != nullptr || job.spectrum_out != nullptr) && tc_plan(plan, first);
  const int tail = tc ? last - 2 : last;  // the last stage before the warp blocks
  // the first stage fused with the loads and stores (not when it is the warp blocks' first)
  const bool fuse = job.fused_ends && tail >= first && last > first;
  // the last forward stage, the spectrum step and the last inverse stage on a column in registers
  const bool fuse_last =
      fuse && !tc && job.forward && (kReal || (job.spectrum != nullptr && job.spectrum_out == nullptr));
  const int r0 = plan.radix[first], m0 = len / r0, rl = plan.radix[last];
  auto stage = [&](auto inverse, int k) SSM_INLINE_LAMBDA {
    exec_stage<decltype(inverse)::value>(ex, plan.radix[k], len, static_cast<int>(plan.m[k]),
                                         static_cast<int>(plan.P[k] / subs), xr, xi, tw);
  };
  auto load = [&](int t) SSM_INLINE_LAMBDA { return load_source(job, rp, work, t); };
  load_subrow(ex, fuse && job.forward, r0, len, xr, xi, tw, load);
  if (job.forward)
    for (int k = fuse ? first + 1 : first; k <= (fuse_last ? last - 1 : tail); ++k) stage(std::false_type{}, k);
  if constexpr (kTc)
    if (tc)
      ex.tc_blocks(len / kTcBlock, kReal || job.spectrum_out != nullptr ? TcStep::kForward : TcStep::kConvolve, xr, xi,
                   job.spectrum != nullptr ? job.spectrum + rp.h * n + off : nullptr, job.conj_spectrum);
  if constexpr (kReal) {
    Cx<Real>* out = job.spectrum_out != nullptr ? job.spectrum_out + (job.row0 + q) * n : nullptr;
    const Cx<Real>* K = job.spectrum != nullptr ? job.spectrum + rp.h * n : nullptr;
#define SSM_CALL(R)                                                                                              \
  ex.parallel_for(len / R, [&](int c) SSM_INLINE_LAMBDA {                                                        \
    real_row_columns<R>(xr, xi, c, plan, fuse_last, tw, job.root_half, K, job.conj_spectrum, out);              \
  })
    SSM_FFT_RADIX_SWITCH(rl, SSM_CALL)
#undef SSM_CALL
    if (out != nullptr) return;
    if constexpr (kTc)
      if (tc) ex.tc_blocks(len / kTcBlock, TcStep::kInverse, xr, xi, nullptr, false);
  } else {
    if (job.spectrum_out != nullptr) {
      Cx<Real>* out = job.spectrum_out + (job.row0 + q) * n + off;
      ex.parallel_for(len, [&](int t) { out[t] = {xr[pad(t)], xi[pad(t)]}; });
      return;
    }
    if (fuse_last) {
      const Cx<Real>* K = job.spectrum + rp.h * n + off;
#define SSM_CALL(R) \
  ex.parallel_for(len / R, [&](int c) { last_column_product<R>(xr, xi, c, K, job.conj_spectrum); })
      SSM_FFT_RADIX_SWITCH(rl, SSM_CALL)
#undef SSM_CALL
    } else if (!tc && job.spectrum != nullptr) {
      const Cx<Real>* K = job.spectrum + rp.h * n + off;
      ex.parallel_for(len, [&](int t) {
        const Cx<Real> y = times_spectrum(Cx<Real>{xr[pad(t)], xi[pad(t)]}, K[t], job.conj_spectrum);
        xr[pad(t)] = y.x;
        xi[pad(t)] = y.y;
      });
    }
  }
  for (int k = fuse_last ? last - 1 : tail; k >= (fuse ? first + 1 : first); --k) stage(std::true_type{}, k);
  auto store = [&](int t, Cx<Real> v) SSM_INLINE_LAMBDA { store_result(job, rp, work, t, v); };
  if (fuse) {
#define SSM_CALL(R) ex.parallel_for(m0, [&](int j) { first_column_inverse<R>(xr, xi, j, m0, tw, store); })
    SSM_FFT_RADIX_SWITCH(r0, SSM_CALL)
#undef SSM_CALL
  } else {
    ex.parallel_for(job.complex_out ? len : static_cast<int>(output_positions(job)),
                    [&](int t) { store(t, {xr[pad(t)], xi[pad(t)]}); });
  }
}

// run_subrow for host callers, whichever layout the job has (the CUDA kernels instantiate the two separately).
template <typename T, typename Real, class Exec>
SSM_HD void run_subrow_any(Exec& ex, const FftJob<T, Real>& job, int first, int64_t sr, Real* xr, Real* xi,
                           const TwiddleTable<Real>& tw) {
  if (job.real_rows)
    run_subrow<true>(ex, job, first, sr, xr, xi, tw);
  else
    run_subrow<false>(ex, job, first, sr, xr, xi, tw);
}

// ---- the outer stages [0, first) as tiles ---------------------------------------------------------------------------
// With Q = P[first] and len = n / Q, position a len + t of a row (a < Q, t < len): stages [0, first) are, for each
// inner position t, a transform along a (stage k has local m_k / len and the full row's twiddles
// exp(-2 pi i (j' len + t) P_k / n)). A tile is G adjacent inner positions t0 .. t0 + G - 1 of one row: one pass
// through global memory reads it (G contiguous entries per a), runs every outer stage in the buffers and writes it,
// where one pass per stage would read and write the whole row `first` times. In the buffers entry (a, g) is at
// a G + g: the G columns of a stage step lie side by side (the CPU runs them as SIMD lanes).
struct TileLayout {
  int Q, len, G, tiles;  // tiles per row
  int64_t xi, total;     // offset of the imaginary plane, total size, in Real elements
};
SSM_HD TileLayout tile_layout(const ButterflyPlan& plan, int first, int G) {
  TileLayout l{};
  l.Q = static_cast<int>(plan.P[first]);
  l.len = static_cast<int>(plan.n / plan.P[first]);
  l.G = G;
  l.tiles = (l.len + G - 1) / G;
  l.xi = round_up32(static_cast<int64_t>(G) * l.Q);
  l.total = 2 * l.xi;
  return l;
}

// Stage k of a tile (columns t0 .. t0 + G - 1, G <= lay.G, of the Q-point transforms; local m = mloc).
template <bool kInv, typename Real, class Exec>
SSM_HD void tile_stage(Exec& ex, int r, const TileLayout& lay, int G, int t0, int mloc, int P, Real* xr, Real* xi,
                       const TwiddleTable<Real>& tw) {
  const int len = lay.len, stride = lay.G;
#define SSM_CALL(R)                                                                                   \
  ex.parallel_for(G * (lay.Q / R), [&](int i) {                                                       \
    const int c = i / G, g = i - c * G, p = c / mloc, jl = c - p * mloc, base = p * R * mloc + jl;    \
    const int j = jl * len + t0 + g; /* the column in the full row's view of stage k */              \
    buffer_column<R, kInv>(                                                                           \
        xr, xi, [&](int a) SSM_INLINE_LAMBDA { return (base + a * mloc) * stride + g; }, j > 0,       \
        [&]() SSM_INLINE_LAMBDA { return tw(j * P); });                                               \
  })
  SSM_FFT_RADIX_SWITCH(r, SSM_CALL)
#undef SSM_CALL
}

// What run_tile calls for a stage: tile_stage, unless an overload for a particular Exec (argument-dependent lookup)
// runs it otherwise (the CPU backend's SIMD lanes).
template <bool kInv, typename Real, class Exec>
SSM_HD void exec_tile_stage(Exec& ex, int r, const TileLayout& lay, int G, int t0, int mloc, int P, Real* xr,
                            Real* xi, const TwiddleTable<Real>& tw) {
  tile_stage<kInv>(ex, r, lay, G, t0, mloc, P, xr, xi, tw);
}

// Tile `tile` (row tile / tiles): forward (!kInv), from the input (the real rows, or the work area when complex_in)
// through stages 0 .. first - 1 into the work area; inverse (kInv), from the work area through the inverse stages
// first - 1 .. 0 to the output (the real rows, scaled, with the skip; or scaled into the work area when complex_out).
template <bool kInv, typename T, typename Real, class Exec>
SSM_HD void run_tile(Exec& ex, const FftJob<T, Real>& job, int first, int64_t tile, Real* buf, const TileLayout& lay) {
  const ButterflyPlan& plan = job.plan;
  const int64_t n = plan.n, q = tile / lay.tiles;
  const int t0 = static_cast<int>(tile - q * lay.tiles) * lay.G, G = lay.G < lay.len - t0 ? lay.G : lay.len - t0;
  const int len = lay.len, stride = lay.G;
  Real* xr = buf;
  Real* xi = buf + lay.xi;
  const RowPair rp = job_rows(job, job.row0 + q);
  Cx<Real>* row = job.work + q * n;
  const TwiddleTable<Real> tw = twiddle_table<Real>(job.row_twiddles, n);
  // item i of the loads and stores: g = i % G (adjacent items read adjacent entries), a = i / G
  ex.parallel_for(lay.Q * G, [&](int i) {
    const int a = i / G, g = i - a * G;
    const int64_t t = static_cast<int64_t>(a) * len + t0 + g;
    const Cx<Real> v = kInv ? row[t] : load_source(job, rp, row, t);
    xr[a * stride + g] = v.x;
    xi[a * stride + g] = v.y;
  });
  for (int s = 0; s < first; ++s) {
    const int k = kInv ? first - 1 - s : s;
    exec_tile_stage<kInv>(ex, plan.radix[k], lay, G, t0, static_cast<int>(plan.m[k] / len),
                          static_cast<int>(plan.P[k]), xr, xi, tw);
  }
  ex.parallel_for(lay.Q * G, [&](int i) {
    const int a = i / G, g = i - a * G;
    const int64_t t = static_cast<int64_t>(a) * len + t0 + g;
    const Cx<Real> v = {xr[a * stride + g], xi[a * stride + g]};
    if (kInv)
      store_result(job, rp, row, t, v);
    else
      row[t] = v;
  });
}

// ---- the kernel gradient: spectrum correlation of dy and u --------------------------------------------------------
// The position (digit order) of frequency -f mod n, f the frequency at position t (negate_digits over every stage).
SSM_HD int64_t negated_position(const ButterflyPlan& plan, int64_t t) {
  int64_t f = 0;
  return negate_digits<int64_t>(plan, plan.stages, t, &f);
}

// Each of u and g = dy is transformed as its own real row (imaginary part zero), never packed with the other into
// one complex row: the gradient then stays exactly linear in dy (dy = 0 gives exactly 0; u's rounding never leaks
// into it, whatever the two magnitudes).
// GK[h, t] = sum_b G_b[t] conj(U_b[t]) at position t of channel h (idx = h n + t), from the spectra U_b = F(u_b) and
// G_b = F(g_b) written out in pipeline row order (row h B + b, (H B, n) each): the scheme for plans with tile passes.
template <typename Real>
SSM_HD void correlate_item(const Cx<Real>* U, const Cx<Real>* G, Cx<Real>* GK, const ButterflyPlan& plan, int64_t B,
                           int64_t H, int64_t idx) {
  const int64_t n = plan.n, h = idx / n, t = idx - h * n;
  Cx<Real> acc = {Real(0), Real(0)};
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = (h * B + b) * n + t;
    acc = acc + cmul_conj(G[i], U[i]);
  }
  GK[idx] = acc;
}

// The same without writing the spectra out, for plans of one sub-row (first sub-row stage 0): for channel h and
// batch rows [b0, b1), transform u_b (job.src) in the sub-row buffers and keep its spectrum in us, transform g_b
// (job.src_imag) and accumulate G conj(U) in acc (n entries); then emit(t, GK contribution at position t).
struct CorrelateLayout {
  SubrowLayout row;
  int64_t acc, us, total;  // offsets of the accumulator and of u's spectrum (Cx each), in Real elements
};
SSM_HD CorrelateLayout correlate_layout(int64_t len) {
  CorrelateLayout l{};
  l.row = subrow_layout(len);
  l.acc = l.row.total;
  l.us = l.acc + round_up32(2 * len);
  l.total = l.us + round_up32(2 * len);
  return l;
}

// Batch rows [b0, b1) of split `split` among `splits` (the partial sums of the correlation, reduced afterwards).
SSM_HD void correlation_batch_range(int64_t B, int64_t splits, int64_t split, int64_t* b0, int64_t* b1) {
  const int64_t per = (B + splits - 1) / splits;
  *b0 = split * per < B ? split * per : B;
  *b1 = *b0 + per < B ? *b0 + per : B;
}

// kTc: the kernel of job.tensor_cores, whose transforms end in the warp blocks (ex.tc_blocks, tc_block_forward) when
// the plan ends in two radix-16 stages.
template <bool kTc = false, typename T, typename Real, class Exec, class Emit>
SSM_HD void correlate_channel(Exec& ex, const FftJob<T, Real>& job, int64_t h, int64_t b0, int64_t b1, Real* smem,
                              const CorrelateLayout& lay, const TwiddleTable<Real>& tw, const Emit& emit) {
  const ButterflyPlan& plan = job.plan;
  const int len = static_cast<int>(plan.n);
  Real* xr = smem + lay.row.xr;
  Real* xi = smem + lay.row.xi;
  Cx<Real>* acc = reinterpret_cast<Cx<Real>*>(smem + lay.acc);
  Cx<Real>* us = reinterpret_cast<Cx<Real>*>(smem + lay.us);
  ex.parallel_for(len, [&](int t) { acc[t] = {Real(0), Real(0)}; });
  const bool tc = kTc && tc_plan(plan, 0);
  const int codelet_stages = tc ? plan.stages - 2 : plan.stages;
  const bool fuse = job.fused_ends && codelet_stages > 0 && plan.stages > 1;  // the loads fused with the first stage
  // The spectrum of the real row `src` (row b * H + h) in the sub-row buffers.
  auto transform = [&](const T* src, int64_t b) SSM_INLINE_LAMBDA {
    FftJob<T, Real> one = job;
    one.src = src;
    one.src_imag = nullptr;
    const RowPair rp = {b * job.H + h, -1, h};
    load_subrow(ex, fuse, plan.radix[0], len, xr, xi, tw,
                [&](int t) SSM_INLINE_LAMBDA { return load_input(one, rp, t); });
    for (int k = fuse ? 1 : 0; k < codelet_stages; ++k)
      exec_stage<false>(ex, plan.radix[k], len, static_cast<int>(plan.m[k]), static_cast<int>(plan.P[k]), xr, xi, tw);
    if constexpr (kTc)
      if (tc) ex.tc_blocks(len / kTcBlock, TcStep::kForward, xr, xi, nullptr, false);
  };
  for (int64_t b = b0; b < b1; ++b) {
    transform(job.src, b);
    ex.parallel_for(len, [&](int t) { us[t] = Cx<Real>{xr[pad(t)], xi[pad(t)]}; });
    transform(job.src_imag, b);
    ex.parallel_for(len, [&](int t) { acc[t] = acc[t] + cmul_conj(Cx<Real>{xr[pad(t)], xi[pad(t)]}, us[t]); });
  }
  ex.parallel_for(len, [&](int t) { emit(t, acc[t]); });
}

}  // namespace fft
}  // namespace ssm::cuda
