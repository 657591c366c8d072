// Elementwise math that the compiler vectorizes inside `#pragma omp simd` loops (no calls, no branches: selects),
// for the CPU kernels that need exp per state element (the selective scans). Free of torch headers. GCC vectorizes the
// selects only under -fno-trapping-math (set on the kernel files that include this).
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace ssm::cpu {

// exp(x) for float or double, to within ~2 ulp where the result is a normal number: x = k ln2 + r with |r| <= ln2 / 2
// (Cody-Waite split of ln2), exp(r) by its Taylor polynomial (degree 7 for float: truncation 5e-9; degree 13 for
// double: 4e-18), times 2^k built in the exponent bits. The few operations of the range limits are what it saves over
// a libm call: below the smallest normal result it returns that result (1.2e-38 for float; the kernels flush
// denormals anyway); between 127 ln2 (1023 ln2 for double) and the overflow point (float: 88.03 .. 88.72) it returns
// exp(88.03) = 1.7e38 instead of up to 3.4e38; above the overflow point +inf; NaN stays NaN.
template <typename T>
inline T vexp(T x) {
  if constexpr (sizeof(T) == 4) {
    constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693145751953125f, kLn2Lo = 1.428606765330187045e-6f;
    constexpr float kLo = -87.33654f, kTop = 88.02969f, kHi = 88.72283f;
    // NaN passes the clamps (comparisons with NaN are false) and makes p NaN, so the result is NaN.
    const float xc = x < kLo ? kLo : (x > kTop ? kTop : x);
    const float k = __builtin_rintf(xc * kLog2e);  // in [-126, 127]
    const float r = (xc - k * kLn2Hi) - k * kLn2Lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(k) + 127) << 23;
    float s;
    std::memcpy(&s, &bits, sizeof(s));
    const float v = p * s;
    return x > kHi ? std::numeric_limits<float>::infinity() : v;
  } else {
    constexpr double kLog2e = 1.4426950408889634074, kLn2Hi = 0.693147180369123816490,
                     kLn2Lo = 1.90821492927058770002e-10;
    constexpr double kLo = -708.3964185322641, kTop = 709.0895657128241, kHi = 709.782712893384;
    const double xc = x < kLo ? kLo : (x > kTop ? kTop : x);
    const double k = __builtin_rint(xc * kLog2e);  // in [-1022, 1023]
    const double r = (xc - k * kLn2Hi) - k * kLn2Lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const uint64_t bits = static_cast<uint64_t>(static_cast<int64_t>(k) + 1023) << 52;
    double s;
    std::memcpy(&s, &bits, sizeof(s));
    const double v = p * s;
    return x > kHi ? std::numeric_limits<double>::infinity() : v;
  }
}

// log1p(y) for y >= 0 (and y > -1), to within a few ulp: log(u) for u = 1 + y from its exponent and the series
// log(m) = 2 atanh((m - 1) / (m + 1)) on m in [sqrt(1/2), sqrt(2)), plus the rounding of u corrected, (y - (u - 1)) /
// u, so that tiny y keep full relative precision. +inf stays +inf; NaN stays NaN.
template <typename T>
inline T vlog1p(T y) {
  using I = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  constexpr int kMant = sizeof(T) == 4 ? 23 : 52;
  constexpr I kBias = sizeof(T) == 4 ? 127 : 1023;
  constexpr I kMantMask = (I(1) << kMant) - 1;
  const T u = T(1) + y;
  I bits;
  std::memcpy(&bits, &u, sizeof(T));
  I e = ((bits >> kMant) & ((I(1) << (sizeof(T) == 4 ? 8 : 11)) - 1)) - kBias;
  I mbits = (bits & kMantMask) | (kBias << kMant);
  T m;
  std::memcpy(&m, &mbits, sizeof(T));  // u = 2^e m, m in [1, 2)
  const bool big = m > T(1.4142135623730951);
  m = big ? m * T(0.5) : m;
  e = big ? e + 1 : e;
  const T s = (m - T(1)) / (m + T(1)), s2 = s * s;
  T p;
  if constexpr (sizeof(T) == 4) {
    p = T(1) / T(9);
    p = p * s2 + T(1) / T(7);
    p = p * s2 + T(1) / T(5);
    p = p * s2 + T(1) / T(3);
    p = p * s2 + T(1);
  } else {
    p = T(1) / T(19);
    for (int k = 17; k >= 1; k -= 2) p = p * s2 + T(1) / T(k);
  }
  const T log_u = static_cast<T>(e) * T(0.69314718055994530942) + T(2) * s * p;
  const T correction = (y - (u - T(1))) / u;
  T v = log_u + correction;
  v = u == T(1) ? y : v;
  v = y == std::numeric_limits<T>::infinity() ? y : v;
  return y != y ? y : v;
}

// softplus(x) = log(1 + exp(x)) (x itself above 20, as torch.nn.functional.softplus), and sigmoid(x).
template <typename T>
inline T vsoftplus(T x) {
  const T ax = x < T(0) ? -x : x;
  const T v = (x > T(0) ? x : T(0)) + vlog1p(vexp(-ax));
  return x > T(20) ? x : v;
}
template <typename T>
inline T vsigmoid(T x) {
  return T(1) / (T(1) + vexp(-x));
}

}  // namespace ssm::cpu
