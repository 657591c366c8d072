#include "ops/checks.h"

#include <c10/util/Exception.h>

#include <sstream>

namespace ssm::ops {

std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  s << "(";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? ", " : "") << t.size(i);
  s << ")";
  return s.str();
}

namespace {

void check_defined(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": argument '", name, "' is an undefined tensor");
}

void check_same_device(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                       const at::Tensor& ref) {
  TORCH_CHECK(t.device() == ref.device(), op, ": argument '", name, "' is on ", t.device(), " but '", ref_name,
              "' is on ", ref.device(), "; all tensors must be on one device");
}

void check_same_dtype(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                      const at::Tensor& ref) {
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": argument '", name, "' has dtype ", t.scalar_type(),
              " but '", ref_name, "' has dtype ", ref.scalar_type(), "; all tensors must have one dtype");
}

}  // namespace

VandermondeSizes check_vandermonde(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  constexpr const char* op = "ssm::vandermonde";
  check_defined(op, "v", v);
  check_defined(op, "x", x);
  TORCH_CHECK(v.dim() == 2, op, ": argument 'v' must have shape (B, N), got ", v.dim(), "-d shape ", shape_str(v));
  TORCH_CHECK(x.dim() == 2, op, ": argument 'x' must have shape (B, N), got ", x.dim(), "-d shape ", shape_str(x));
  TORCH_CHECK(v.scalar_type() == at::kComplexFloat || v.scalar_type() == at::kComplexDouble, op,
              ": argument 'v' must be complex64 or complex128, got ", v.scalar_type());
  check_same_dtype(op, "x", x, "v", v);
  check_same_device(op, "x", x, "v", v);
  TORCH_CHECK(x.sizes() == v.sizes(), op, ": argument 'x' must have the shape of 'v' ", shape_str(v), ", got ",
              shape_str(x));
  TORCH_CHECK(v.size(1) >= 1, op, ": argument 'v' must have N >= 1 states, got shape ", shape_str(v));
  TORCH_CHECK(L >= 1, op, ": argument 'L' must be >= 1, got ", L);
  return {v.size(0), v.size(1), L};
}

VandermondeSizes check_vandermonde_backward(const at::Tensor& grad_out, const at::Tensor& v, const at::Tensor& x) {
  constexpr const char* op = "ssm::vandermonde_backward";
  check_defined(op, "grad_out", grad_out);
  TORCH_CHECK(grad_out.dim() == 2, op, ": argument 'grad_out' must have shape (B, L), got ", shape_str(grad_out));
  auto s = check_vandermonde(v, x, grad_out.size(1));
  TORCH_CHECK(grad_out.size(0) == s.B, op, ": argument 'grad_out' must have B = ", s.B, " rows, got shape ",
              shape_str(grad_out));
  const auto real = c10::toRealValueType(v.scalar_type());
  TORCH_CHECK(grad_out.scalar_type() == real, op, ": argument 'grad_out' must have dtype ", real, ", got ",
              grad_out.scalar_type());
  check_same_device(op, "grad_out", grad_out, "v", v);
  return s;
}

FftConvSizes check_fft_conv(const char* op, const at::Tensor& u, const at::Tensor& k,
                            const std::optional<at::Tensor>& D, const std::optional<at::Tensor>& k_rev) {
  check_defined(op, "u", u);
  check_defined(op, "k", k);
  TORCH_CHECK(u.dim() == 3, op, ": argument 'u' must have shape (B, H, L), got ", u.dim(), "-d shape ",
              shape_str(u));
  TORCH_CHECK(k.dim() == 2, op, ": argument 'k' must have shape (H, Lk), got ", k.dim(), "-d shape ", shape_str(k));
  const auto dt = u.scalar_type();
  if (u.is_cuda()) {
    TORCH_CHECK(dt == at::kFloat || dt == at::kBFloat16 || dt == at::kHalf, op,
                ": argument 'u' must be float32, bfloat16 or float16 on CUDA, got ", dt);
  } else {
    TORCH_CHECK(dt == at::kFloat || dt == at::kDouble, op, ": argument 'u' must be float32 or float64 on ",
                u.device(), ", got ", dt);
  }
  check_same_dtype(op, "k", k, "u", u);
  check_same_device(op, "k", k, "u", u);
  const int64_t B = u.size(0), H = u.size(1), L = u.size(2), Lk = k.size(1);
  TORCH_CHECK(k.size(0) == H, op, ": argument 'k' must have H = ", H, " rows like u ", shape_str(u), ", got k ",
              shape_str(k));
  TORCH_CHECK(L >= 1, op, ": argument 'u' must have length L >= 1, got shape ", shape_str(u));
  TORCH_CHECK(Lk >= 1 && Lk <= L, op, ": argument 'k' must have length 1 <= Lk <= L = ", L, ", got k ", shape_str(k));
  const bool has_D = D.has_value() && D->defined();
  const bool has_k_rev = k_rev.has_value() && k_rev->defined();
  if (has_D) {
    TORCH_CHECK(D->dim() == 1 && D->size(0) == H, op, ": argument 'D' must have shape (H) = (", H, "), got ",
                shape_str(*D));
    check_same_dtype(op, "D", *D, "u", u);
    check_same_device(op, "D", *D, "u", u);
  }
  if (has_k_rev) {
    TORCH_CHECK(k_rev->sizes() == k.sizes(), op, ": argument 'k_rev' must have the shape of 'k' ", shape_str(k),
                ", got ", shape_str(*k_rev));
    check_same_dtype(op, "k_rev", *k_rev, "u", u);
    check_same_device(op, "k_rev", *k_rev, "u", u);
  }
  return {B, H, L, Lk, has_D, has_k_rev};
}

void check_fft_conv_grad(const at::Tensor& grad_y, const at::Tensor& u) {
  constexpr const char* op = "ssm::fft_conv_backward";
  check_defined(op, "grad_y", grad_y);
  TORCH_CHECK(grad_y.sizes() == u.sizes(), op, ": argument 'grad_y' must have the shape of 'u' ", shape_str(u),
              ", got ", shape_str(grad_y));
  check_same_dtype(op, "grad_y", grad_y, "u", u);
  check_same_device(op, "grad_y", grad_y, "u", u);
}

DiagScanSizes check_diag_scan(const char* op, const at::Tensor& a, const at::Tensor& b,
                              const std::optional<at::Tensor>& h0) {
  check_defined(op, "a", a);
  check_defined(op, "b", b);
  TORCH_CHECK(b.dim() == 3, op, ": argument 'b' must have shape (B, L, P), got ", b.dim(), "-d shape ", shape_str(b));
  const auto dt = b.scalar_type();
  TORCH_CHECK(dt == at::kFloat || dt == at::kDouble || dt == at::kComplexFloat || dt == at::kComplexDouble, op,
              ": argument 'b' must be float32, float64, complex64 or complex128, got ", dt);
  check_same_dtype(op, "a", a, "b", b);
  check_same_device(op, "a", a, "b", b);
  const int64_t B = b.size(0), L = b.size(1), P = b.size(2);
  TORCH_CHECK(L >= 1 && P >= 1, op, ": argument 'b' must have L >= 1 and P >= 1, got shape ", shape_str(b));
  const bool varying = a.dim() == 3;
  TORCH_CHECK((a.dim() == 1 && a.size(0) == P) || (varying && a.sizes() == b.sizes()), op,
              ": argument 'a' must have shape (P) = (", P, ") or the shape of 'b' ", shape_str(b), ", got ",
              shape_str(a));
  const bool has_h0 = h0.has_value() && h0->defined();
  if (has_h0) {
    TORCH_CHECK(h0->dim() == 2 && h0->size(0) == B && h0->size(1) == P, op, ": argument 'h0' must have shape (B, P) = (",
                B, ", ", P, "), got ", shape_str(*h0));
    check_same_dtype(op, "h0", *h0, "b", b);
    check_same_device(op, "h0", *h0, "b", b);
  }
  return {B, L, P, varying, has_h0};
}

void check_same_as(const char* op, const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref) {
  check_defined(op, name, t);
  TORCH_CHECK(t.sizes() == ref.sizes(), op, ": argument '", name, "' must have the shape of '", ref_name, "' ",
              shape_str(ref), ", got ", shape_str(t));
  check_same_dtype(op, name, t, ref_name, ref);
  check_same_device(op, name, t, ref_name, ref);
}

}  // namespace ssm::ops
