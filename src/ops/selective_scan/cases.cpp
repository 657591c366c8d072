// The case table of ssm::selective_scan (src/ops/common/cases.h). The table's output is out and last_state, flattened
// and concatenated (last_state in out's place when out is narrower), so that the generic tests check both and the
// gradient tests take a loss on both.
#include "ops/common/cases.h"
#include "ssm/ops/selective_scan.h"

#include <ATen/ATen.h>

#include <string>

namespace ssm::cases {
namespace {

// bc: "varying" (batch, N, L), "grouped" (batch, G, N, L), "fixed" (dim, N). opts: letters for the optional inputs
// present: D, z, b (delta_bias), s (delta_softplus), h (h0), l (lengths).
Case shape(int64_t batch, int64_t dim, int64_t L, int64_t N, const std::string& bc, int64_t G, const std::string& opts,
           unsigned uses) {
  Case c;
  c.label = "b" + std::to_string(batch) + "_d" + std::to_string(dim) + "_L" + std::to_string(L) + "_N" +
            std::to_string(N) + "_" + bc + (bc == "grouped" ? std::to_string(G) : "") +
            (opts.empty() ? "" : "_" + opts);
  c.size = {{"batch", batch}, {"dim", dim}, {"L", L}, {"N", N}, {"G", G}};
  c.option = {{"bc", bc}};
  for (const char k : std::string("Dzbshl"))
    c.option[std::string(1, k)] = opts.find(k) != std::string::npos ? "1" : "0";
  c.uses = uses;
  return c;
}

at::Tensor bc_tensor(const Case& c, at::TensorOptions f64) {
  const int64_t batch = c.at("batch"), dim = c.at("dim"), L = c.at("L"), N = c.at("N");
  const std::string bc = c.choice("bc");
  if (bc == "fixed") return at::randn({dim, N}, f64);
  if (bc == "grouped") return at::randn({batch, c.at("G"), N, L}, f64);
  return at::randn({batch, N, L}, f64);
}

// Mamba-like inputs: A = -(1..N) scaled per channel (S4D-real), dt in about [0.01, 0.5] (softplus of delta + bias, or
// delta itself when positive), the rest normal; lengths uniform in [1, L] with the first row full.
std::vector<at::Tensor> inputs(const Case& c, at::ScalarType dt, at::Device device) {
  const int64_t batch = c.at("batch"), dim = c.at("dim"), L = c.at("L"), N = c.at("N");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::ScalarType sd = dt == at::kDouble ? at::kDouble : at::kFloat;
  const bool softplus = c.flag("s");
  at::Tensor u = at::randn({batch, dim, L}, f64);
  at::Tensor delta =
      softplus ? at::randn({batch, dim, L}, f64) * 0.5 - 2.0 : 0.01 + 0.49 * at::rand({batch, dim, L}, f64);
  at::Tensor A = -(at::arange(1, N + 1, f64).unsqueeze(0) * (0.5 + at::rand({dim, 1}, f64)));
  at::Tensor B = bc_tensor(c, f64), C = bc_tensor(c, f64);
  auto act = [&](const at::Tensor& t) { return t.to(dt).to(device); };
  auto par = [&](const at::Tensor& t) { return t.to(sd).to(device); };
  at::Tensor D = c.flag("D") ? par(at::randn({dim}, f64)) : at::Tensor();
  at::Tensor z = c.flag("z") ? act(at::randn({batch, dim, L}, f64)) : at::Tensor();
  at::Tensor bias = c.flag("b") ? par(at::randn({dim}, f64) * 0.3) : at::Tensor();
  at::Tensor h0 = c.flag("h") ? par(at::randn({batch, dim, N}, f64)) : at::Tensor();
  at::Tensor lengths;
  if (c.flag("l")) {
    lengths = at::randint(1, L + 1, {batch}, at::TensorOptions().dtype(at::kLong));
    lengths[0] = L;
    lengths = lengths.to(device);
  }
  return {act(u), act(delta), par(A), act(B), act(C), D, z, bias, h0, lengths};
}

std::optional<at::Tensor> opt(const at::Tensor& t) { return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt; }

at::Tensor joined(const at::Tensor& out, const at::Tensor& last) {
  const auto wide = last.scalar_type();
  return at::cat({out.reshape(-1).to(wide), last.reshape(-1)});
}

at::Tensor run(const Case& c, const std::vector<at::Tensor>& in) {
  auto [out, last] = ssm::selective_scan(in[0], in[1], in[2], in[3], in[4], opt(in[5]), opt(in[6]), opt(in[7]),
                                         c.flag("s"), opt(in[8]), opt(in[9]));
  return joined(out, last);
}

// B or C as (batch, dim, N, L), widened.
at::Tensor per_channel(const at::Tensor& t, int64_t batch, int64_t dim, int64_t L) {
  const at::Tensor w = wide(t);
  if (w.dim() == 2) return w.unsqueeze(0).unsqueeze(-1).expand({batch, dim, w.size(1), L});
  if (w.dim() == 3) return w.unsqueeze(1).expand({batch, dim, w.size(1), L});
  return w.repeat_interleave(dim / w.size(1), 1);
}

// The sequential recurrence in float64, step by step over (batch, dim, N) states.
at::Tensor reference(const Case& c, const std::vector<at::Tensor>& in) {
  const at::Tensor u = wide(in[0]), A = wide(in[2]);
  const int64_t batch = u.size(0), dim = u.size(1), L = u.size(2);
  at::Tensor dt = wide(in[1]);
  if (in[7].defined()) dt = dt + wide(in[7]).view({1, dim, 1});
  if (c.flag("s")) dt = at::softplus(dt);
  const at::Tensor B = per_channel(in[3], batch, dim, L), C = per_channel(in[4], batch, dim, L);
  at::Tensor x = in[8].defined() ? wide(in[8]) : at::zeros({batch, dim, A.size(1)}, u.options());
  const at::Tensor lengths = in[9].defined() ? in[9].cpu() : at::full({batch}, L, at::TensorOptions().dtype(at::kLong));
  at::Tensor out = at::zeros_like(u);
  for (int64_t t = 0; t < L; ++t) {
    const at::Tensor dtt = dt.select(2, t).unsqueeze(-1);  // (batch, dim, 1)
    const at::Tensor xn = at::exp(dtt * A) * x + dtt * B.select(3, t) * u.select(2, t).unsqueeze(-1);
    at::Tensor y = (xn * C.select(3, t)).sum(-1);
    if (in[5].defined()) y = y + wide(in[5]) * u.select(2, t);
    if (in[6].defined()) y = y * at::silu(wide(in[6]).select(2, t));
    const at::Tensor valid = (lengths > t).view({batch, 1});
    out.select(2, t).copy_(at::where(valid, y, 0.0));
    x = at::where(valid.unsqueeze(-1), xn, x);
  }
  return joined(out, x);
}

// What a CPU user of Mamba has today (the recipe of mamba_ssm's selective_scan_ref, written here in LibTorch):
// exp(dt A) and dt B u materialized as (batch, dim, L, N) tensors, then a loop over L, stacked.
at::Tensor mamba_reference_loop(const Case& c, const std::vector<at::Tensor>& in) {
  const at::Tensor &u = in[0], &A = in[2];
  const int64_t batch = u.size(0), dim = u.size(1), L = u.size(2);
  at::Tensor dt = in[1];
  if (in[7].defined()) dt = dt + in[7].view({1, dim, 1});
  if (c.flag("s")) dt = at::softplus(dt);
  const at::Tensor dA = at::exp(at::einsum("bdl,dn->bdln", {dt, A}));
  TORCH_CHECK(in[3].dim() == 3 && in[4].dim() == 3,
              "the LibTorch baseline of selective_scan takes B and C as "
              "(batch, N, L): case ",
              c.label);
  const at::Tensor &B = in[3], &C = in[4];
  const at::Tensor dBu = at::einsum("bdl,bnl,bdl->bdln", {dt, B, u});
  at::Tensor x = at::zeros({batch, dim, A.size(1)}, u.options());
  std::vector<at::Tensor> ys;
  // unbind, not indexing per step: its backward stacks the step gradients once (indexing allocates a full-size
  // gradient per step, which made this baseline 400x slower than the op instead of ~10x).
  const auto dAs = dA.unbind(2), dBus = dBu.unbind(2), Cs = C.unbind(2);
  for (int64_t t = 0; t < L; ++t) {
    x = dAs[t] * x + dBus[t];
    ys.push_back(at::einsum("bdn,bn->bd", {x, Cs[t]}));
  }
  at::Tensor y = at::stack(ys, 2);
  if (in[5].defined()) y = y + u * in[5].view({1, dim, 1});
  if (in[6].defined()) y = y * at::silu(in[6]);
  return joined(y, x);
}

OpTable make() {
  OpTable t;
  t.op = "selective_scan";
  const unsigned all = kReference | kCuda | kGradient;
  const unsigned py = kPython;
  // Ragged shapes: L = 1, L not a multiple of the chunk (64), N = 1, G > 1, fixed B and C, every optional input.
  t.cases.push_back(shape(1, 1, 1, 1, "varying", 1, "", all | py));
  t.cases.push_back(shape(2, 3, 7, 4, "varying", 1, "Dzbs", all | py));
  t.cases.push_back(shape(2, 4, 9, 3, "grouped", 2, "Dzbshl", all | py));
  t.cases.push_back(shape(2, 3, 6, 2, "fixed", 1, "Dh", all | py));
  t.cases.push_back(shape(3, 2, 70, 2, "varying", 1, "zhl", all));
  t.cases.push_back(shape(2, 2, 130, 1, "grouped", 2, "sbl", all));
  t.cases.push_back(shape(2, 5, 5, 3, "varying", 1, "l", all | py));
  t.cases.push_back(shape(3, 16, 1000, 16, "varying", 1, "Dzbsh", kReference | kCuda));
  t.cases.push_back(shape(2, 12, 513, 8, "grouped", 3, "Dzbshl", kReference | kCuda));
  t.cases.push_back(shape(2, 24, 200, 5, "fixed", 1, "Dzl", kReference | kCuda));
  t.cases.push_back(shape(2, 64, 4100, 16, "varying", 1, "Dzbshl", kCuda));
  // The CUDA kernel's state layouts: W = 16 lanes (N <= 16), 32 lanes with 1, 2, 4 and 8 states each.
  t.cases.push_back(shape(3, 6, 200, 24, "varying", 1, "Dzbsh", kCuda));
  t.cases.push_back(shape(2, 8, 150, 40, "grouped", 2, "Dzbsl", kCuda));
  t.cases.push_back(shape(2, 4, 100, 128, "fixed", 1, "Dh", kCuda));
  t.cases.push_back(shape(2, 3, 70, 256, "varying", 1, "zbsl", kCuda));
  // The CPU target of the selective-scans issue, and the Mamba paper's GPU shapes in bfloat16 and float32.
  t.cases.push_back(shape(8, 256, 1024, 16, "varying", 1, "Dzbs", kBenchCpu));
  for (const char* dt : {"bfloat16", "float32"}) {
    Case a = shape(8, 2048, 2048, 16, "varying", 1, "Dzbs", kBenchCuda);
    Case b = shape(4, 1024, 16384, 16, "varying", 1, "Dzbs", kBenchCuda);
    for (Case* x : {&a, &b}) {
      x->option["dtype"] = dt;
      x->label += std::string("_") + dt;
      t.cases.push_back(*x);
    }
  }
  t.cpu_dtypes = {at::kDouble, at::kFloat};
  t.cuda_dtypes = {at::kFloat, at::kBFloat16, at::kHalf};
  t.inputs = inputs;
  t.run = run;
  t.reference = reference;
  // float64: rounding over L steps of a contracting recurrence: 1e-11. float32: 1e-5 relative to the largest state,
  // 20x for gradients (sums over L and batch). bfloat16 / float16 inputs: the inputs are rounded once (both sides see
  // the same values) but out is stored in that dtype: 1e-2.
  t.tolerance = [](const Case&, at::ScalarType dt, bool) {
    if (dt == at::kDouble) return 1e-11;
    if (dt == at::kFloat) return 2e-4;
    return 2e-2;
  };
  t.counts = [](const Case& c, at::ScalarType dt) {
    const double batch = c.at("batch"), dim = c.at("dim"), L = c.at("L"), N = c.at("N");
    const double es = c10::elementSize(dt), act = batch * dim * L,
                 bc = c.choice("bc") == "fixed" ? dim * N : batch * c.at("G") * N * L;
    Counts k;
    // Forward: read u, delta, z, B, C; write out. Backward: also read dout, write du, ddelta, dz, dB, dC.
    k.bytes_fwd = es * (4 * act + 2 * bc);
    k.bytes_fb = k.bytes_fwd + es * (5 * act + 4 * bc);
    k.flops_fwd = act * N * 6;  // exp counted as one: a x + dtu B, C x
    k.flops_fb = k.flops_fwd + act * N * 20;
    return k;
  };
  t.impls = [](const Case& c, const std::vector<at::Tensor>& in) {
    return std::vector<Impl>{{"libtorch", [c, in] { return mamba_reference_loop(c, in); }}};
  };
  t.python_args = [](const Case& c) {
    auto arg = [&](const char* k, const char* name) {
      return c.flag(k) ? std::string("\"") + name + "\"" : std::string("null");
    };
    return std::string("[\"t0\", \"t1\", \"t2\", \"t3\", \"t4\", ") + arg("D", "t5") + ", " + arg("z", "t6") + ", " +
           arg("b", "t7") + ", " + (c.flag("s") ? "true" : "false") + ", " + arg("h", "t8") + ", " + arg("l", "t9") +
           "]";
  };
  return t;
}

const Registrar registrar(make);

}  // namespace
}  // namespace ssm::cases
