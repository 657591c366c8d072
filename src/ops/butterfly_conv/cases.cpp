// The case table of ssm::butterfly_conv (src/ops/common/cases.h): fft_conv's cases and the butterfly's own sizes
// (the CPU's one-piece sub-row limit and the CUDA fused limit, around which the pipelines change scheme), without
// factors (the exact pipelines) and with the exact DFT matrices as shared or per-channel factors (the learned path).
#include "ops/butterfly_conv/exact.h"
#include "ops/fft_conv/conv_cases.h"

#include "ssm/ops/butterfly_conv.h"
#include "ssm/ops/fft_conv.h"

#include <cstdlib>

namespace ssm::cases {
namespace {

Case with_factors(Case c, const std::string& kind) {
  c.option["factors"] = kind;
  c.label += "_factors_" + kind;
  return c;
}

// {u, k, D, k_rev, factors...}: the exact DFT factors of the case's plan, shared (r, r) or per channel (H, r, r).
std::vector<at::Tensor> inputs(const Case& c, at::ScalarType dtype, at::Device device) {
  auto in = conv_inputs(c, dtype, device);
  const std::string kind = c.choice("factors");
  if (kind.empty()) return in;
  const int64_t n = ssm::fft_conv_size(c.at("L"), c.at("Lk"), c.flag("k_rev"));
  const auto cdt = dtype == at::kDouble ? at::kComplexDouble : at::kComplexFloat;
  for (const auto& F : ssm::butterfly_dft_factors(n, cdt, kind == "per_channel" ? c.at("H") : 0))
    in.push_back(F.to(device));
  return in;
}

at::Tensor run(const Case& c, const std::vector<at::Tensor>& in) {
  if (in.size() == 4) return ssm::butterfly_conv(in[0], in[1], opt(in[2]), opt(in[3]));
  return ssm::butterfly_conv(in[0], in[1], opt(in[2]), opt(in[3]), at::TensorList(in).slice(4));
}

// Every implementation beside "ssm" (the default: no factors, the device's schedule and row layout), each setting
// SSM_BUTTERFLY as a whole (it stays set through the backward; the next impl resets it):
//   paired: two samples' rows per complex row (half the transforms; samples not independent);
//   on a GPU: staged (schedule=staged), unchunked (multi-pass work area at once, from L = 16K), tc (bf16 on tensor
//   cores, bf16 only);
//   learned: the exact DFT matrices as factors (the dense stages of a learned-butterfly layer, factor gradients not
//   requested), and learned-tc on a GPU in float32 (3xTF32);
//   fft_conv, then the LibTorch rfft chain (the baseline).
std::vector<Impl> impls(const Case& c, const std::vector<at::Tensor>& in) {
  const bool gpu = in[0].is_cuda();
  const int64_t L = c.at("L");
  auto exact = [in](const char* options) -> std::function<at::Tensor()> {
    return [in, options] {
      setenv("SSM_BUTTERFLY", options, 1);
      return ssm::butterfly_conv(in[0], in[1], opt(in[2]), opt(in[3]));
    };
  };
  std::vector<Impl> out = {{"paired", exact("rows=paired")}};
  if (gpu) out.emplace_back("staged", exact("schedule=staged"));
  if (gpu && L >= 16384) out.emplace_back("unchunked", exact("chunk_bytes=1000000000000"));
  if (gpu && in[0].scalar_type() == at::kBFloat16) out.emplace_back("tc", exact("bf16=tensor_cores"));
  const int64_t n = ssm::fft_conv_size(L, c.at("Lk"), c.flag("k_rev"));
  std::vector<at::Tensor> factors = ssm::butterfly_dft_factors(n, at::kComplexFloat);
  for (auto& f : factors) f = f.to(in[0].device());
  auto learned = [in, factors](const char* options) -> std::function<at::Tensor()> {
    return [in, factors, options] {
      setenv("SSM_BUTTERFLY", options, 1);
      return ssm::butterfly_conv(in[0], in[1], opt(in[2]), opt(in[3]), at::TensorList(factors));
    };
  };
  out.emplace_back("learned", learned("float32=cuda_cores"));
  if (gpu && in[0].scalar_type() == at::kFloat) out.emplace_back("learned-tc", learned("float32=tensor_cores"));
  out.emplace_back("fft_conv", [in] { return ssm::fft_conv(in[0], in[1], opt(in[2]), opt(in[3])); });
  out.emplace_back("libtorch", [in] { return fft_conv_chain(in[0], in[1], opt(in[2]), opt(in[3])); });
  return out;
}

OpTable make() {
  OpTable t;
  t.op = "butterfly_conv";
  const unsigned ref = kReference | kCuda;
  for (const auto& [D, kr] : std::vector<std::pair<bool, bool>>{{false, false}, {true, true}, {false, true}}) {
    t.cases.push_back(conv_case(1, 1, 1, 1, D, kr, ref | kGradient | kPython));
    t.cases.push_back(conv_case(2, 3, 7, 3, D, kr, ref | kGradient | kPython));
    t.cases.push_back(conv_case(3, 4, 257, 200, D, kr, ref));
  }
  // n = L + Lk with k_rev. CPU: real rows need n / 2 <= kButterflyCpuSubrowMax in one piece (n = 2 max: real rows in
  // one pass; n = 2 max + 2: tile passes, single rows); CUDA: rows up to kButterflyMaxFused in one fused pass.
  const int64_t cpu = ops::kButterflyCpuSubrowMax, gpu = cuda::kButterflyMaxFused;
  for (const auto& c :
       {conv_case(1, 5, 100, 1, true, true, ref), conv_case(2, 2, 1000, 1000, true, true, ref),
        conv_case(1, 2, 4096, 4096, true, true, ref), conv_case(2, 33, 129, 65, true, true, ref),
        conv_case(1, 3, 2731, 1500, true, false, ref), conv_case(3, 2, cpu / 2, cpu / 2, true, true, ref),
        conv_case(1, 2, cpu, cpu, true, true, ref), conv_case(3, 1, cpu + 1, cpu + 1, true, true, ref),
        conv_case(2, 2, gpu / 2, gpu / 2, true, true, kCuda), conv_case(3, 2, gpu / 2 + 1, gpu / 2 + 1, true, true, kCuda),
        conv_case(2, 3, 7000, 7000, true, true, kCuda), conv_case(1, 1, 1 << 20, 1 << 20, true, true, kCuda),
        conv_case(4, 300, 100, 100, true, true, kCuda)})
    t.cases.push_back(c);
  for (const std::string kind : {"shared", "per_channel"})
    for (const auto& c : {conv_case(2, 3, 7, 3, true, true, ref | kGradient | kPython),
                          conv_case(3, 4, 257, 200, true, false, ref), conv_case(1, 2, 4096, 4096, true, true, ref),
                          conv_case(2, 2, gpu / 2 + 1, gpu / 2 + 1, true, true, kCuda)})
      t.cases.push_back(with_factors(c, kind));
  // Bench: about 4M (CPU) or 64M (GPU) elements of u per case, L = 1K .. 64K (CPU) or 1K .. 1M (GPU).
  for (const bool on_gpu : {false, true})
    for (const std::string dtype : on_gpu ? std::vector<std::string>{"float32", "bfloat16"}
                                          : std::vector<std::string>{"float32"})
      for (int64_t lg = 10; lg <= (on_gpu ? 20 : 16); lg += 2) {
        const int64_t L = int64_t{1} << lg, rows = std::max<int64_t>(1, (int64_t{1} << (on_gpu ? 26 : 22)) / L);
        const int64_t H = std::min<int64_t>(rows, 256), B = std::max<int64_t>(1, rows / H);
        Case c = conv_case(B, H, L, L, true, false, on_gpu ? kBenchCuda : kBenchCpu);
        c.option["dtype"] = dtype;
        c.label += "_" + dtype;
        t.cases.push_back(c);
      }
  t.cpu_dtypes = {at::kDouble, at::kFloat};
  t.cuda_dtypes = {at::kFloat, at::kBFloat16, at::kHalf};
  t.inputs = inputs;
  t.run = run;
  t.reference = conv_reference;
  // As fft_conv: the exact pipelines round like an FFT (float32 codelets 1e-7 log n); the learned path's dense
  // products a little more (1e-4 in float32; TF32 stages on CUDA for bf16 / f16 storage, whose own rounding
  // dominates: 3e-2 / 5e-3).
  t.tolerance = [](const Case&, at::ScalarType dt, bool) {
    switch (dt) {
      case at::kDouble: return 1e-9;
      case at::kBFloat16: return 3e-2;
      case at::kHalf: return 1e-2;
      default: return 1e-4;
    }
  };
  t.counts = conv_counts;
  t.impls = impls;
  t.python_args = [](const Case& c) {
    if (c.choice("factors").empty()) return conv_python_args(c);
    // factors: a list of the tensors after t3
    const int64_t n = ssm::fft_conv_size(c.at("L"), c.at("Lk"), c.flag("k_rev"));
    std::string list;
    for (size_t i = 0; i < ssm::butterfly_radices(n).size(); ++i) list += (i ? ", \"t" : "\"t") + std::to_string(4 + i) + "\"";
    return conv_python_args(c, ", [" + list + "]");
  };
  return t;
}

const Registrar registrar(make);

}  // namespace
}  // namespace ssm::cases
