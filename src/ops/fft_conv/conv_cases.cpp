#include "ops/fft_conv/conv_cases.h"

#include "ssm/ops/fft_conv.h"

#include <algorithm>
#include <cmath>

namespace ssm::cases {

Case conv_case(int64_t B, int64_t H, int64_t L, int64_t Lk, bool D, bool k_rev, unsigned uses) {
  Case c;
  c.label = "B" + std::to_string(B) + "_H" + std::to_string(H) + "_L" + std::to_string(L) + "_Lk" +
            std::to_string(Lk) + (D ? "_D" : "") + (k_rev ? "_krev" : "");
  c.size = {{"B", B}, {"H", H}, {"L", L}, {"Lk", Lk}};
  c.option = {{"D", D ? "1" : "0"}, {"k_rev", k_rev ? "1" : "0"}};
  c.uses = uses;
  return c;
}

std::vector<at::Tensor> conv_inputs(const Case& c, at::ScalarType dtype, at::Device device) {
  const int64_t B = c.at("B"), H = c.at("H"), L = c.at("L"), Lk = c.at("Lk");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor decay = at::exp(-at::arange(Lk, f64) / std::max<int64_t>(1, Lk / 4));
  auto to = [&](const at::Tensor& t) { return t.to(dtype).to(device); };
  return {to(at::randn({B, H, L}, f64)), to(at::randn({H, Lk}, f64) * decay),
          c.flag("D") ? to(at::randn({H}, f64)) : at::Tensor(),
          c.flag("k_rev") ? to(at::randn({H, Lk}, f64) * decay) : at::Tensor()};
}

at::Tensor conv_reference(const Case& c, const std::vector<at::Tensor>& in) {
  const at::Tensor u = wide(in[0]).contiguous(), k = wide(in[1]).contiguous();
  const at::Tensor D = wide(in[2]), kr = in[3].defined() ? wide(in[3]).contiguous() : at::Tensor();
  const int64_t B = u.size(0), H = u.size(1), L = u.size(2), Lk = k.size(1);
  at::Tensor y = at::zeros({B, H, L}, u.options());  // (B, H, L)
  const double* up = u.data_ptr<double>();
  const double* kp = k.data_ptr<double>();
  const double* krp = kr.defined() ? kr.data_ptr<double>() : nullptr;
  const double* Dp = D.defined() ? D.contiguous().data_ptr<double>() : nullptr;
  double* yp = y.data_ptr<double>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const double* ur = up + (b * H + h) * L;
      double* yr = yp + (b * H + h) * L;
      for (int64_t l = 0; l < L; ++l) {
        double acc = 0;
        for (int64_t j = std::max<int64_t>(0, l - Lk + 1); j <= l; ++j) acc += kp[h * Lk + (l - j)] * ur[j];
        if (krp != nullptr)
          for (int64_t j = l + 1; j < std::min(L, l + 1 + Lk); ++j) acc += krp[h * Lk + (j - l - 1)] * ur[j];
        if (Dp != nullptr) acc += Dp[h] * ur[l];
        yr[l] = acc;
      }
    }
  return y;
}

Counts conv_counts(const Case& c, at::ScalarType dtype) {
  const double B = c.at("B"), H = c.at("H"), L = c.at("L"), Lk = c.at("Lk"), es = c10::elementSize(dtype);
  const bool bidir = c.flag("k_rev");
  const double n = static_cast<double>(ssm::fft_conv_size(c.at("L"), c.at("Lk"), bidir));
  const double rows = B * H, kbytes = H * Lk * (bidir ? 2.0 : 1.0) * es + H * es;
  const double fft = 2.5 * n * std::log2(n);
  Counts k;
  k.bytes_fwd = 2 * rows * L * es + kbytes;
  k.bytes_fb = k.bytes_fwd + 3 * rows * L * es + kbytes;
  k.flops_fwd = rows * (2 * fft + 3 * n + 2.0 * L);
  k.flops_fb = k.flops_fwd + rows * (3 * fft + 6 * n + 4.0 * L);
  return k;
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
  if (k_rev && k_rev->defined())  // y[l] += sum_{j>l} k_rev[j-l-1] u[j]: k_rev[d] sits at circular index n-1-d.
    kernel = at::constant_pad_nd(k, {0, n - Lk}) + at::constant_pad_nd(k_rev->flip({-1}), {n - Lk, 0});
  const at::Tensor k_f = at::fft_rfft(kernel, n);               // (H, n/2+1)
  const at::Tensor u_f = at::fft_rfft(u, n);                    // (B, H, n/2+1)
  at::Tensor y = at::fft_irfft(u_f * k_f, n).narrow(-1, 0, L);  // (B, H, L)
  if (D && D->defined()) y = y + u * D->unsqueeze(-1);
  return y;
}

std::string conv_python_args(const Case& c, const std::string& extra) {
  return std::string("[\"t0\", \"t1\", ") + (c.flag("D") ? "\"t2\"" : "null") + ", " +
         (c.flag("k_rev") ? "\"t3\"" : "null") + extra + "]";
}

}  // namespace ssm::cases
