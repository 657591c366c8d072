// The case table of ssm::selective_scan_2d (src/ops/common/cases.h).
#include "ops/common/cases.h"
#include "ssm/ops/selective_scan_2d.h"

#include <ATen/ATen.h>

#include <string>

namespace ssm::cases {
namespace {

Case shape(int64_t batch, int64_t V, int64_t T, int64_t dim, int64_t N, int64_t lag, bool reverse, bool D,
           unsigned uses) {
  Case c;
  c.label = "b" + std::to_string(batch) + "_V" + std::to_string(V) + "_T" + std::to_string(T) + "_d" +
            std::to_string(dim) + "_N" + std::to_string(N) + "_lag" + std::to_string(lag) + (reverse ? "_rev" : "") +
            (D ? "_D" : "");
  c.size = {{"batch", batch}, {"V", V}, {"T", T}, {"dim", dim}, {"N", N}, {"lag", lag}};
  c.option = {{"reverse", reverse ? "1" : "0"}, {"D", D ? "1" : "0"}};
  c.uses = uses;
  return c;
}

// Chimera-like inputs: dt in [0.01, 0.5] (softplus already applied), A_i = -(1..N) scaled per channel (A2, A3 twice
// as fast: the cross terms decay quicker than the diagonal ones), the rest normal.
std::vector<at::Tensor> inputs(const Case& c, at::ScalarType dt, at::Device device) {
  const int64_t batch = c.at("batch"), V = c.at("V"), T = c.at("T"), dim = c.at("dim"), N = c.at("N");
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::ScalarType sd = dt == at::kDouble ? at::kDouble : at::kFloat;
  auto act = [&](const at::Tensor& t) { return t.to(dt).to(device); };
  auto par = [&](const at::Tensor& t) { return t.to(sd).to(device); };
  auto A = [&](double speed) {
    return par(-(at::arange(1, N + 1, f64).unsqueeze(0) * (0.5 + at::rand({dim, 1}, f64))) * speed);
  };
  auto step = [&] { return act(0.01 + 0.49 * at::rand({batch, V, T, dim}, f64)); };
  auto normal = [&](at::IntArrayRef s) { return act(at::randn(s, f64)); };
  at::Tensor x = normal({batch, V, T, dim}), dt1 = step(), dt2 = step();
  std::vector<at::Tensor> in = {x, dt1, dt2, A(1), A(2), A(2), A(1)};
  for (int k = 0; k < 4; ++k) in.push_back(normal({batch, V, T, N}));
  in.push_back(c.flag("D") ? par(at::randn({dim}, f64)) : at::Tensor());
  return in;
}

std::optional<at::Tensor> opt(const at::Tensor& t) { return t.defined() ? std::optional<at::Tensor>(t) : std::nullopt; }

at::Tensor run(const Case& c, const std::vector<at::Tensor>& in) {
  return ssm::selective_scan_2d(in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9], in[10],
                                opt(in[11]), c.at("lag"), c.flag("reverse"));
}

// The recurrence cell by cell (t outer, variates inner) over (batch, dim, N) states; `in` on any dtype (the
// reference widens to float64, the baseline keeps it). Autograd-friendly: no in-place writes.
at::Tensor grid_loop(const Case& c, const std::vector<at::Tensor>& in) {
  const at::Tensor &x = in[0], &A1 = in[3], &A2 = in[4], &A3 = in[5], &A4 = in[6];
  const int64_t V = x.size(1), T = x.size(2), s = c.at("lag");
  const bool reverse = c.flag("reverse");
  // Per-(v, t) views, split once (an unbind's backward is one stack; indexing per cell would allocate a full-size
  // gradient per cell).
  auto cells = [&](const at::Tensor& t) {
    std::vector<std::vector<at::Tensor>> out;
    for (const auto& tv : t.unbind(1)) out.push_back(tv.unbind(1));
    return out;
  };
  const auto X = cells(x), D1 = cells(in[1]), D2 = cells(in[2]), B1 = cells(in[7]), B2 = cells(in[8]),
             C1 = cells(in[9]), C2 = cells(in[10]);
  std::vector<std::vector<at::Tensor>> H1(V, std::vector<at::Tensor>(T)), H2 = H1, Y = H1;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < V; ++i) {
      const int64_t v = reverse ? V - 1 - i : i, vq = reverse ? v + 1 : v - 1;
      const at::Tensor d1 = D1[v][t].unsqueeze(-1), d2 = D2[v][t].unsqueeze(-1);  // (batch, dim, 1)
      const at::Tensor xv = X[v][t].unsqueeze(-1);
      at::Tensor h1 = d1 * B1[v][t].unsqueeze(1) * xv, h2 = d2 * B2[v][t].unsqueeze(1) * xv;
      if (t >= s) h1 = h1 + at::exp(d1 * A1) * H1[v][t - s] + at::exp(d1 * A2) * H2[v][t - s];
      if (i > 0) h2 = h2 + at::exp(d2 * A3) * H1[vq][t] + at::exp(d2 * A4) * H2[vq][t];
      H1[v][t] = h1;
      H2[v][t] = h2;
      at::Tensor y = (h1 * C1[v][t].unsqueeze(1) + h2 * C2[v][t].unsqueeze(1)).sum(-1);
      if (in[11].defined()) y = y + in[11] * X[v][t];
      Y[v][t] = y;
    }
  std::vector<at::Tensor> rows;
  for (auto& yv : Y) rows.push_back(at::stack(yv, 1));
  return at::stack(rows, 1);  // (batch, V, T, dim)
}

at::Tensor reference(const Case& c, const std::vector<at::Tensor>& in) {
  std::vector<at::Tensor> w;
  for (const auto& t : in) w.push_back(wide(t));
  return grid_loop(c, w);
}

OpTable make() {
  OpTable t;
  t.op = "selective_scan_2d";
  const unsigned all = kReference | kCuda | kGradient;
  // Ragged: T = 1, V = 1, V = 2, N = 1, lag > 1, lag >= T, both variate directions, with and without D.
  t.cases.push_back(shape(1, 1, 1, 1, 1, 1, false, false, all | kPython));
  t.cases.push_back(shape(2, 1, 5, 3, 2, 1, false, true, all | kPython));
  t.cases.push_back(shape(2, 2, 6, 2, 3, 2, true, true, all | kPython));
  t.cases.push_back(shape(1, 3, 4, 2, 2, 5, false, false, all | kPython));
  t.cases.push_back(shape(2, 3, 7, 3, 2, 1, true, false, all | kPython));
  t.cases.push_back(shape(2, 4, 9, 2, 1, 3, false, true, all));
  t.cases.push_back(shape(2, 7, 96, 8, 16, 24, false, true, kReference | kCuda));
  t.cases.push_back(shape(3, 5, 50, 4, 5, 1, true, true, kReference | kCuda));
  t.cases.push_back(shape(2, 21, 336, 16, 16, 24, true, true, kCuda));
  t.cases.push_back(shape(4, 7, 720, 32, 16, 1, false, true, kCuda));
  // The CUDA kernel's lane layouts (16 lanes; 32 lanes with 1, 2, 4 states) and N past them (the CPU copies).
  t.cases.push_back(shape(2, 3, 30, 5, 24, 2, true, true, kCuda));
  t.cases.push_back(shape(2, 4, 20, 3, 40, 1, false, true, kCuda));
  t.cases.push_back(shape(1, 2, 15, 2, 100, 3, true, false, kCuda));
  t.cases.push_back(shape(1, 2, 10, 2, 200, 1, false, true, kCuda));
  // The CPU target of the selective-scans issue, and GPU rows at forecasting shapes (ETT's 7 variates at T = 96 and
  // 720, seasonal lag 24; ECL's 321 variates at T = 96), bfloat16 and float32.
  t.cases.push_back(shape(16, 7, 720, 64, 16, 1, false, true, kBenchCpu));
  for (const char* dt : {"bfloat16", "float32"}) {
    Case a = shape(32, 7, 96, 256, 16, 24, false, true, kBenchCuda);
    Case b = shape(32, 7, 720, 256, 16, 24, false, true, kBenchCuda);
    Case e = shape(16, 321, 96, 64, 16, 1, true, true, kBenchCuda);
    for (Case* x : {&a, &b, &e}) {
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
  // float64: rounding of a stable recurrence: 1e-10. float32: 1e-5 of the largest state, 30x for gradients summed over
  // the grid. bfloat16 / float16: y is stored in that dtype.
  t.tolerance = [](const Case&, at::ScalarType dt, bool) {
    if (dt == at::kDouble) return 1e-10;
    if (dt == at::kFloat) return 3e-4;
    return 2e-2;
  };
  t.counts = [](const Case& c, at::ScalarType dt) {
    const double cells = c.at("batch") * c.at("V") * c.at("T"), dim = c.at("dim"), N = c.at("N");
    const double es = c10::elementSize(dt);
    Counts k;
    // Forward: read x, dt1, dt2 (cells dim) and B1, B2, C1, C2 (cells N); write y. Backward: also read dy, write
    // dx, ddt1, ddt2, dB*, dC*.
    k.bytes_fwd = es * cells * (4 * dim + 4 * N);
    k.bytes_fb = k.bytes_fwd + es * cells * (7 * dim + 8 * N);
    k.flops_fwd = cells * dim * N * 16;  // 4 exp (counted as one each), 2 states, the output
    k.flops_fb = k.flops_fwd + cells * dim * N * 50;
    return k;
  };
  // The baseline is the cell loop a user would write, except on a GPU past 1,024 cells (V T), where its per-cell
  // launches would take minutes of the GPU check (ECL's 321 x 96 cells: about 15 launches per cell each way): those
  // rows report bandwidth only.
  t.impls = [](const Case& c, const std::vector<at::Tensor>& in) {
    if (in[0].is_cuda() && c.at("V") * c.at("T") > 1024) return std::vector<Impl>{};
    return std::vector<Impl>{{"libtorch", [c, in] { return grid_loop(c, in); }}};
  };
  t.python_args = [](const Case& c) {
    std::string a = "[";
    for (int i = 0; i < 11; ++i) a += "\"t" + std::to_string(i) + "\", ";
    return a + (c.flag("D") ? "\"t11\"" : "null") + ", " + std::to_string(c.at("lag")) + ", " +
           (c.flag("reverse") ? "true" : "false") + "]";
  };
  return t;
}

const Registrar registrar(make);

}  // namespace
}  // namespace ssm::cases
