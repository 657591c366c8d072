// The case table of ssm::diag_scan (src/ops/common/cases.h).
#include "ops/common/cases.h"

#include "ssm/ops/diag_scan.h"

#include <ATen/ATen.h>

#include <string>

namespace ssm::cases {
namespace {

Case shape(int64_t B, int64_t L, int64_t P, bool varying, bool reverse, bool h0, unsigned uses) {
  Case c;
  c.label = "B" + std::to_string(B) + "_L" + std::to_string(L) + "_P" + std::to_string(P) +
            (varying ? "_varying" : "_invariant") + (reverse ? "_reverse" : "") + (h0 ? "_h0" : "");
  c.size = {{"B", B}, {"L", L}, {"P", P}};
  c.option = {{"varying", varying ? "1" : "0"}, {"reverse", reverse ? "1" : "0"}, {"h0", h0 ? "1" : "0"}};
  c.uses = uses;
  return c;
}

// Stable random coefficients: |a| in [0.5, 0.99), like a discretized S5 (exp(dt Lambda), Re Lambda < 0); real a
// also negative at times. b and h0 normal.
std::vector<at::Tensor> inputs(const Case& c, at::ScalarType dt, at::Device device) {
  const int64_t B = c.at("B"), L = c.at("L"), P = c.at("P");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const bool cx = at::isComplexType(dt);
  const std::vector<int64_t> ashape = c.flag("varying") ? std::vector<int64_t>{B, L, P} : std::vector<int64_t>{P};
  const at::Tensor mag = 0.5 + 0.49 * at::rand(ashape, f64);
  const at::Tensor a = cx ? at::polar(mag, at::rand(ashape, f64) * 6.283185307179586)
                          : mag * at::where(at::rand(ashape, f64) < 0.2, -1.0, 1.0);
  auto normal = [&](at::IntArrayRef s) { return cx ? at::complex(at::randn(s, f64), at::randn(s, f64)) : at::randn(s, f64); };
  const at::Tensor b = normal({B, L, P});
  const at::Tensor h0 = c.flag("h0") ? normal({B, P}).to(dt).to(device) : at::Tensor();
  return {a.to(dt).to(device), b.to(dt).to(device), h0};
}

std::optional<at::Tensor> opt(const at::Tensor& t) { return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt; }

// The sequential loop in float64 / complex128.
at::Tensor reference(const Case& c, const std::vector<at::Tensor>& in) {
  const at::Tensor A = wide(in[0]), Bv = wide(in[1]);
  const int64_t L = Bv.size(1);
  const bool reverse = c.flag("reverse");
  at::Tensor x = at::empty_like(Bv);
  at::Tensor state = in[2].defined() ? wide(in[2]) : at::zeros({Bv.size(0), Bv.size(2)}, Bv.options());
  for (int64_t s = 0; s < L; ++s) {
    const int64_t l = reverse ? L - 1 - s : s;
    state = (A.dim() == 3 ? A.select(1, l) : A.unsqueeze(0)) * state + Bv.select(1, l);
    x.select(1, l).copy_(state);
  }
  return x;
}

// What S5 users write without a scan kernel in an eager framework: a per-step loop, stacked.
at::Tensor step_loop(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = at::zeros({b.size(0), b.size(2)}, b.options());  // (B, P)
  std::vector<at::Tensor> xs;
  for (int64_t l = 0; l < b.size(1); ++l) {
    x = (a.dim() == 3 ? a.select(1, l) : a) * x + b.select(1, l);
    xs.push_back(x);
  }
  return at::stack(xs, 1);  // (B, L, P)
}

OpTable make() {
  OpTable t;
  t.op = "diag_scan";
  const unsigned ref = kReference | kCuda;
  for (const bool reverse : {false, true})
    for (const bool h0 : {false, true}) {
      const unsigned py = !reverse || h0 ? kPython : 0;
      t.cases.push_back(shape(1, 1, 1, false, reverse, h0, ref | kGradient | py));
      t.cases.push_back(shape(2, 7, 3, false, reverse, h0, ref | kGradient | py));
      t.cases.push_back(shape(2, 7, 3, true, reverse, h0, ref | kGradient | py));
      t.cases.push_back(shape(3, 1000, 17, reverse, reverse, h0, ref));
      t.cases.push_back(shape(1, 4099, 64, true, reverse, h0, ref));
      t.cases.push_back(shape(5, 33, 130, false, reverse, h0, ref));
    }
  t.cases.push_back(shape(8, 16384, 256, false, false, true, kCuda));
  t.cases.push_back(shape(2, 4099, 300, false, true, true, kCuda));
  t.cases.push_back(shape(8, 4096, 64, false, false, false, kBench));
  t.cases.push_back(shape(8, 16384, 256, false, false, false, kBenchCuda));
  for (auto& c : t.cases)
    if (c.uses & (kBench | kBenchCuda)) c.option["dtype"] = "complex64";
  t.cpu_dtypes = {at::kComplexDouble, at::kDouble, at::kComplexFloat, at::kFloat};
  t.cuda_dtypes = {at::kComplexFloat, at::kComplexDouble, at::kFloat};
  t.inputs = inputs;
  t.run = [](const Case& c, const std::vector<at::Tensor>& in) {
    return ssm::diag_scan(in[0], in[1], c.flag("reverse"), opt(in[2]));
  };
  t.reference = reference;
  // float64: rounding of L-step recurrences with |a| < 1 (errors do not grow): 1e-12. float32: 1e-5 of the state's
  // size, 10x for the gradients (sums over steps and batch for a time-invariant a).
  t.tolerance = [](const Case&, at::ScalarType dt, bool) {
    return dt == at::kDouble || dt == at::kComplexDouble ? 1e-11 : 1e-4;
  };
  t.counts = [](const Case& c, at::ScalarType dt) {
    const double n = static_cast<double>(c.at("B") * c.at("L") * c.at("P")), es = c10::elementSize(dt);
    Counts k;
    k.bytes_fwd = 2 * n * es;
    k.bytes_fb = k.bytes_fwd + 3 * n * es;  // backward: read g and x, write db
    k.flops_fwd = 8 * n;
    k.flops_fb = k.flops_fwd + 16 * n;
    return k;
  };
  t.impls = [](const Case&, const std::vector<at::Tensor>& in) {
    return std::vector<Impl>{{"libtorch", [in] { return step_loop(in[0], in[1]); }}};
  };
  t.python_args = [](const Case& c) {
    return std::string("[\"t0\", \"t1\", ") + (c.flag("reverse") ? "true" : "false") + ", " +
           (c.flag("h0") ? "\"t2\"" : "null") + "]";
  };
  return t;
}

const Registrar registrar(make);

}  // namespace
}  // namespace ssm::cases
