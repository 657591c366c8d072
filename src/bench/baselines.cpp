#include "bench/baselines.h"

#include <ATen/ATen.h>

namespace ssm::bench {

at::Tensor vandermonde_materialized(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  const at::Tensor l = at::arange(L, x.options().dtype(c10::toRealValueType(x.scalar_type())));  // (L)
  const at::Tensor powers = at::exp(x.unsqueeze(-1) * l);                                         // (B, N, L)
  return 2 * at::real(at::einsum("bn,bnl->bl", {v, powers}));                                     // (B, L)
}

at::Tensor fft_conv_chain(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                          const std::optional<at::Tensor>& k_rev) {
  if (u.scalar_type() == at::kBFloat16 || u.scalar_type() == at::kHalf) {
    // cuFFT through ATen takes no bfloat16: a user computes in float32 and casts back.
    const auto f = [](const std::optional<at::Tensor>& t) {
      return t && t->defined() ? std::optional<at::Tensor>(t->to(at::kFloat)) : std::nullopt;
    };
    return fft_conv_chain(u.to(at::kFloat), k.to(at::kFloat), f(D), f(k_rev)).to(u.scalar_type());
  }
  const int64_t L = u.size(-1), Lk = k.size(-1), n = 2 * L;
  at::Tensor kernel = k;  // (H, Lk)
  if (k_rev && k_rev->defined()) {
    // y[l] += sum_{j>l} k_rev[j-l-1] u[j]: k_rev[d] sits at circular index n-1-d.
    kernel = at::constant_pad_nd(k, {0, n - Lk}) + at::constant_pad_nd(k_rev->flip({-1}), {n - Lk, 0});
  }
  const at::Tensor k_f = at::fft_rfft(kernel, n);                       // (H, n/2+1)
  const at::Tensor u_f = at::fft_rfft(u, n);                            // (B, H, n/2+1)
  at::Tensor y = at::fft_irfft(u_f * k_f, n).narrow(-1, 0, L);          // (B, H, L)
  if (D && D->defined()) y = y + u * D->unsqueeze(-1);
  return y;
}

at::Tensor diag_scan_loop(const at::Tensor& a, const at::Tensor& b) {
  const int64_t L = b.size(1);
  at::Tensor x = at::zeros({b.size(0), b.size(2)}, b.options());  // (B, P)
  std::vector<at::Tensor> xs;
  xs.reserve(L);
  for (int64_t l = 0; l < L; ++l) {
    x = (a.dim() == 3 ? a.select(1, l) : a) * x + b.select(1, l);
    xs.push_back(x);
  }
  return at::stack(xs, 1);  // (B, L, P)
}

}  // namespace ssm::bench
