// CPU implementation of ssm::fft_conv and its backward through LibTorch's FFT (MKL or pocketfft).
//
// Rows (b, h) are processed in small groups, each group running rfft -> spectral multiply -> irfft -> crop + skip
// while it is in cache. Measured on the 2-core development machine (B=16, H=256, L=4096, float32): one rfft pass
// over the whole (B*H, 2L) tensor takes 147 ms on one thread, the same pass in groups of 16-64 rows 29-33 ms.
#include "ops/fft_conv/fft_conv.h"
#include "ssm/ops/fft_conv.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/fft_irfft.h>
#include <ATen/ops/fft_rfft.h>
#include <ATen/ops/zeros.h>
#include <c10/util/complex.h>

#include <algorithm>

// A vectorization hint that also works inside the AT_DISPATCH macros' lambdas (a #pragma cannot).
#define SSM_SIMD _Pragma("omp simd")

namespace ssm::ops {
namespace {

// Rows per FFT call: one call costs ~30 us of set-up, so groups of fewer than ~16 rows lose to it (measured above).
constexpr int64_t kMaxRowsPerGroup = 32;

int64_t rows_per_group(int64_t rows) {
  const int64_t threads = at::get_num_threads();
  return std::clamp<int64_t>((rows + 2 * threads - 1) / (2 * threads), 1, kMaxRowsPerGroup);
}

// rfft of the (H, n) circular kernel: k at 0..Lk-1, k_rev[d] at n-1-d. (H, n/2+1) complex.
// a[i] *= b[i] (conj_b: conj(b[i])) over interleaved complex numbers; written out so that it vectorizes.
template <typename T>
void cmul_inplace(T* __restrict__ a, const T* __restrict__ b, int64_t count, bool conj_b) {
  const T sign = conj_b ? T(-1) : T(1);
SSM_SIMD
  for (int64_t i = 0; i < count; ++i) {
    const T ar = a[2 * i], ai = a[2 * i + 1], br = b[2 * i], bi = sign * b[2 * i + 1];
    a[2 * i] = ar * br - ai * bi;
    a[2 * i + 1] = ar * bi + ai * br;
  }
}

at::Tensor kernel_spectrum(const at::Tensor& k, const OptTensor& k_rev, int64_t n) {
  const int64_t H = k.size(0), Lk = k.size(1);
  at::Tensor kpad = at::zeros({H, n}, k.options());  // (H, n)
  kpad.narrow(1, 0, Lk).copy_(k);
  if (k_rev && k_rev->defined()) kpad.narrow(1, n - Lk, Lk).copy_(k_rev->flip({1}));
  return at::fft_rfft(kpad, n, -1);
}

}  // namespace

at::Tensor fft_conv_cpu(const at::Tensor& u_in, const at::Tensor& k, const OptTensor& D_in, const OptTensor& k_rev) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_fft_conv("ssm::fft_conv", u_in, k, D_in, k_rev);
  const int64_t n = fft_conv_size(s.L, s.Lk, s.has_k_rev);
  const int64_t R = s.B * s.H, L = s.L, H = s.H;
  const at::Tensor u = u_in.contiguous().view({R, L});  // (R, L)
  at::Tensor y = at::empty({s.B, s.H, s.L}, u.options());  // (B, H, L)
  if (R == 0) return y;
  const at::Tensor kf = kernel_spectrum(k, k_rev, n).contiguous();  // (H, F)
  const at::Tensor D = s.has_D ? D_in->contiguous() : at::Tensor();  // (H)
  const int64_t F = n / 2 + 1, group = rows_per_group(R);
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "ssm::fft_conv", [&] {
    using cplx = c10::complex<scalar_t>;
    const cplx* kfp = kf.const_data_ptr<cplx>();
    const scalar_t* up = u.const_data_ptr<scalar_t>();
    const scalar_t* Dp = s.has_D ? D.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, (R + group - 1) / group, 1, [&](int64_t gb, int64_t ge) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      at::AutoDispatchBelowADInplaceOrView no_autograd;
      for (int64_t g = gb; g < ge; ++g) {
        const int64_t r0 = g * group, c = std::min(group, R - r0);
        at::Tensor Uc = at::fft_rfft(u.narrow(0, r0, c), n, -1);  // (c, F)
        scalar_t* Up = reinterpret_cast<scalar_t*>(Uc.mutable_data_ptr());
        for (int64_t i = 0; i < c; ++i)
          cmul_inplace(Up + 2 * i * F, reinterpret_cast<const scalar_t*>(kfp + ((r0 + i) % H) * F), F, false);
        const at::Tensor Yc = at::fft_irfft(Uc, n, -1);  // (c, n)
        const scalar_t* Yp = Yc.const_data_ptr<scalar_t>();
        for (int64_t i = 0; i < c; ++i) {
          const int64_t r = r0 + i;
          const scalar_t d = Dp ? Dp[r % H] : scalar_t(0);
          const scalar_t* yr = Yp + i * n;
          const scalar_t* ur = up + r * L;
          scalar_t* out = yp + r * L;
SSM_SIMD
          for (int64_t l = 0; l < L; ++l) out[l] = yr[l] + d * ur[l];
        }
      }
    });
  });
  return y;
}

FftConvGrads fft_conv_backward_cpu(const at::Tensor& grad_in, const at::Tensor& u_in, const at::Tensor& k,
                                   const OptTensor& D_in, const OptTensor& k_rev, std::array<bool, 4> mask) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_fft_conv("ssm::fft_conv_backward", u_in, k, D_in, k_rev);
  check_fft_conv_grad(grad_in, u_in);
  const bool need_du = mask[0], need_k = mask[1] || (mask[3] && s.has_k_rev), need_D = mask[2] && s.has_D;
  const int64_t n = fft_conv_size(s.L, s.Lk, s.has_k_rev);
  const int64_t B = s.B, H = s.H, L = s.L, Lk = s.Lk, F = n / 2 + 1;
  const at::Tensor u = u_in.contiguous(), dy = grad_in.contiguous();  // (B, H, L)
  const at::Tensor D = s.has_D ? D_in->contiguous() : at::Tensor();
  at::Tensor du = need_du ? at::empty_like(u) : at::Tensor();                          // (B, H, L)
  at::Tensor gk = need_k ? at::zeros({H, F}, at::TensorOptions().dtype(                 // (H, F)
                                                c10::toComplexType(u.scalar_type())))
                         : at::Tensor();
  at::Tensor dD = need_D ? at::zeros({B, H}, u.options().dtype(at::kDouble)) : at::Tensor();  // (B, H) partials
  const at::Tensor kf = need_du ? kernel_spectrum(k, k_rev, n).contiguous() : at::Tensor();  // (H, F)

  // Each task owns a range of channels h and runs over every b, so that the batch sums of dk and dD need no locks.
  const int64_t hgroup = std::min(H, rows_per_group(B * H));
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "ssm::fft_conv_backward", [&] {
    using cplx = c10::complex<scalar_t>;
    at::parallel_for(0, (H + hgroup - 1) / hgroup, 1, [&](int64_t gb, int64_t ge) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      at::AutoDispatchBelowADInplaceOrView no_autograd;
      for (int64_t g = gb; g < ge; ++g) {
        const int64_t h0 = g * hgroup, c = std::min(hgroup, H - h0);
        for (int64_t b = 0; b < B; ++b) {
          const at::Tensor dyb = dy.select(0, b).narrow(0, h0, c);  // (c, L)
          const at::Tensor ub = u.select(0, b).narrow(0, h0, c);    // (c, L)
          at::Tensor DY = (need_du || need_k) ? at::fft_rfft(dyb, n, -1) : at::Tensor();  // (c, F)
          const cplx* DYp = DY.defined() ? DY.const_data_ptr<cplx>() : nullptr;
          if (need_k) {
            const at::Tensor U = at::fft_rfft(ub, n, -1);  // (c, F)
            const cplx* Up = U.const_data_ptr<cplx>();
            cplx* G = gk.mutable_data_ptr<cplx>() + h0 * F;
            const scalar_t* a = reinterpret_cast<const scalar_t*>(DYp);
            const scalar_t* x = reinterpret_cast<const scalar_t*>(Up);
            scalar_t* gp = reinterpret_cast<scalar_t*>(G);
SSM_SIMD
            for (int64_t i = 0; i < c * F; ++i) {  // G += DY conj(U)
              gp[2 * i] += a[2 * i] * x[2 * i] + a[2 * i + 1] * x[2 * i + 1];
              gp[2 * i + 1] += a[2 * i + 1] * x[2 * i] - a[2 * i] * x[2 * i + 1];
            }
          }
          if (need_D) {
            const scalar_t* a = dyb.const_data_ptr<scalar_t>();
            const scalar_t* x = ub.const_data_ptr<scalar_t>();
            double* out = dD.mutable_data_ptr<double>() + b * H + h0;
            for (int64_t i = 0; i < c; ++i) {
              double acc = 0;
              for (int64_t l = 0; l < L; ++l) acc += static_cast<double>(a[i * L + l]) * x[i * L + l];
              out[i] = acc;
            }
          }
          if (need_du) {
            // DY is not needed after this: correlate in place.
            cmul_inplace(reinterpret_cast<scalar_t*>(DY.mutable_data_ptr()),
                         reinterpret_cast<const scalar_t*>(kf.const_data_ptr<cplx>() + h0 * F), c * F, true);
            const at::Tensor X = at::fft_irfft(DY, n, -1);  // (c, n)
            const scalar_t* Xp = X.const_data_ptr<scalar_t>();
            const scalar_t* a = dyb.const_data_ptr<scalar_t>();
            const scalar_t* Dp = s.has_D ? D.const_data_ptr<scalar_t>() + h0 : nullptr;
            scalar_t* out = du.mutable_data_ptr<scalar_t>() + (b * H + h0) * L;
            for (int64_t i = 0; i < c; ++i) {
              const scalar_t d = Dp ? Dp[i] : scalar_t(0);
              for (int64_t l = 0; l < L; ++l) out[i * L + l] = Xp[i * n + l] + d * a[i * L + l];
            }
          }
        }
      }
    });
  });

  at::Tensor dk, dD_out, dk_rev;
  if (need_k) {
    const at::Tensor g = at::fft_irfft(gk, n, -1);  // (H, n): gradient of the circular kernel
    if (mask[1]) dk = g.narrow(1, 0, Lk).contiguous();
    if (mask[3] && s.has_k_rev) dk_rev = g.narrow(1, n - Lk, Lk).flip({1});
  }
  if (need_D) dD_out = dD.sum(0).to(u.scalar_type());
  return {du, dk, dD_out, dk_rev};
}

}  // namespace ssm::ops
