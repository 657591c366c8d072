// The case table of ssm::vandermonde (src/ops/common/cases.h).
#include "ops/common/cases.h"
#include "ops/vandermonde/vandermonde.h"

#include "ssm/ops/vandermonde.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

namespace ssm::cases {
namespace {

Case shape(int64_t B, int64_t N, int64_t L, unsigned uses, const std::string& decay = "") {
  Case c;
  c.label = "B" + std::to_string(B) + "_N" + std::to_string(N) + "_L" + std::to_string(L) + (decay.empty() ? "" : "_" + decay);
  c.size = {{"B", B}, {"N", N}, {"L", L}};
  if (!decay.empty()) c.option["decay"] = decay;
  c.uses = uses;
  return c;
}

// S4D-like inputs: x = dt A with A = -exp(a) / 2 + i b, dt log-uniform in [1e-3, 1e-1] per row ("slow": [1e-5, 5e-5],
// phases up to ~700 radians at L = 65536; "denormal": Re(x) uniform in [-0.05, -0.02], so exp(x l) passes through
// float32's denormals within L = 4096, S4D's regime at LRA lengths); v complex normal.
std::vector<at::Tensor> inputs(const Case& c, at::ScalarType dtype, at::Device device) {
  const int64_t B = c.at("B"), N = c.at("N");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const std::string decay = c.choice("decay");
  at::Tensor x;
  if (decay == "denormal") {
    x = at::complex(-0.05 + 0.03 * at::rand({B, N}, f64), 3.0 * at::rand({B, N}, f64));
  } else {
    const double lo = decay == "slow" ? 1e-5 : 1e-3, hi = decay == "slow" ? 5e-5 : 1e-1;
    const at::Tensor dt = at::exp(at::rand({B, 1}, f64) * (std::log(hi) - std::log(lo)) + std::log(lo));
    const at::Tensor re = -0.5 * at::exp(at::randn({B, N}, f64) * 0.5);
    const at::Tensor im = M_PI * at::arange(N, f64).unsqueeze(0) + at::randn({B, N}, f64);
    x = at::complex(re, im) * dt;
  }
  const at::Tensor v = at::complex(at::randn({B, N}, f64), at::randn({B, N}, f64));
  return {v.to(dtype).to(device), x.to(dtype).to(device)};
}

// out[b, l] = 2 Re sum_n v[b, n] exp(x[b, n] l), materialized in complex128.
at::Tensor reference(const Case& c, const std::vector<at::Tensor>& in) {
  const at::Tensor v = wide(in[0]), x = wide(in[1]);
  const at::Tensor l = at::arange(c.at("L"), at::TensorOptions().dtype(at::kDouble)).to(at::kComplexDouble);
  return 2 * at::real((v.unsqueeze(-1) * at::exp(x.unsqueeze(-1) * l)).sum(1));  // (B, L)
}

// The materialized kernel of state-spaces/s4 without its extension: exp(x l) as a (B, N, L) tensor, then a
// contraction with v.
at::Tensor materialized(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  const at::Tensor l = at::arange(L, x.options().dtype(c10::toRealValueType(x.scalar_type())));  // (L)
  return 2 * at::real(at::einsum("bn,bnl->bl", {v, at::exp(x.unsqueeze(-1) * l)}));             // (B, L)
}

OpTable make() {
  OpTable t;
  t.op = "vandermonde";
  const int64_t C = ops::kVandermondeCpuChunk;
  const unsigned ref = kReference | kCuda;
  t.cases = {shape(1, 1, 1, ref | kGradient | kPython), shape(1, 1, 17, ref), shape(3, 5, 7, ref | kPython),
             shape(2, 3, 7, kGradient), shape(3, 2, 300, kGradient | kPython), shape(2, 64, 1000, ref),
             // one CPU chunk, and one position past it
             shape(5, 7, C, ref), shape(3, 9, C + 1, ref), shape(4, 33, 4097, ref), shape(1, 1024, 300, ref),
             shape(2, 1024, 3000, kCuda), shape(300, 8, 100, kCuda), shape(2, 16, 65536, ref),
             shape(4, 64, 65536, ref, "slow"), shape(256, 32, 4096, kBench), shape(256, 32, 4096, kBench, "denormal"),
             shape(64, 64, 16384, kBenchCpu), shape(64, 64, 65536, kBenchCuda)};
  for (auto& c : t.cases)
    if (c.uses & (kBench | kBenchCpu | kBenchCuda)) c.option["dtype"] = "complex64";
  t.cpu_dtypes = {at::kComplexDouble, at::kComplexFloat};
  t.cuda_dtypes = {at::kComplexFloat, at::kComplexDouble};
  t.inputs = inputs;
  t.run = [](const Case& c, const std::vector<at::Tensor>& in) { return ssm::vandermonde(in[0], in[1], c.at("L")); };
  t.reference = reference;
  // complex128: rounding of N-term sums (1e-11). complex64: powers re-anchored every 64 steps keep the relative error
  // near 1e-6 at L = 65536 (1e-3 if only multiplied); 1e-4 leaves room for N = 1024 sums. "slow" decays test long
  // powers: the same bound. Gradients sum over L as well: 4x.
  t.tolerance = [](const Case& c, at::ScalarType dt, bool cuda) { return dt == at::kComplexDouble ? 1e-10 : 4e-4; };
  t.counts = [](const Case& c, at::ScalarType dt) {
    const double B = c.at("B"), N = c.at("N"), L = c.at("L"), cs = dt == at::kComplexFloat ? 8 : 16;
    Counts n;
    n.bytes_fwd = 2 * B * N * cs + B * L * cs / 2;
    n.bytes_fb = n.bytes_fwd + B * L * cs / 2 + 4 * B * N * cs;
    n.flops_fwd = 8.0 * B * N * L;
    n.flops_fb = n.flops_fwd + 16.0 * B * N * L;
    return n;
  };
  t.impls = [](const Case& c, const std::vector<at::Tensor>& in) {
    const int64_t L = c.at("L");
    return std::vector<Impl>{{"libtorch", [in, L] { return materialized(in[0], in[1], L); }}};
  };
  t.python_args = [](const Case& c) { return "[\"t0\", \"t1\", " + std::to_string(c.at("L")) + "]"; };
  return t;
}

const Registrar registrar(make);

}  // namespace
}  // namespace ssm::cases
