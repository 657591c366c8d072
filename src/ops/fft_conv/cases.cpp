// The case table of ssm::fft_conv (src/ops/common/cases.h).
#include "ops/fft_conv/conv_cases.h"

#include "ssm/ops/fft_conv.h"

namespace ssm::cases {
namespace {

OpTable make() {
  OpTable t;
  t.op = "fft_conv";
  const unsigned ref = kReference | kCuda;
  // Every optional-input combination on small shapes; Lk = 1, Lk = L, Lk < L; lengths whose FFT size is a power of
  // two (4096 + 4096 - 1 -> 8192), 7-smooth but not a power (2731) and a prime length (257).
  for (const auto& [D, kr] : std::vector<std::pair<bool, bool>>{{false, false}, {true, false}, {true, true}, {false, true}}) {
    t.cases.push_back(conv_case(1, 1, 1, 1, D, kr, ref | kGradient | kPython));
    t.cases.push_back(conv_case(2, 3, 7, 7, D, kr, ref | kGradient | kPython));
    t.cases.push_back(conv_case(2, 3, 11, 6, D, kr, ref | kGradient));
    t.cases.push_back(conv_case(2, 3, 7, 3, D, kr, ref));
    t.cases.push_back(conv_case(3, 4, 257, 200, D, kr, ref));
  }
  for (const auto& c : {conv_case(1, 5, 100, 1, true, true, ref), conv_case(2, 2, 1000, 1000, true, true, ref),
                        conv_case(1, 2, 4096, 4096, true, true, ref), conv_case(2, 33, 129, 65, true, true, ref),
                        conv_case(1, 3, 2731, 1500, true, false, ref), conv_case(2, 2, 65536, 65536, true, true, ref),
                        conv_case(4, 300, 100, 100, true, true, kCuda), conv_case(16, 256, 4096, 4096, true, false, kBench),
                        conv_case(16, 256, 4096, 4096, true, true, kBench),
                        conv_case(16, 256, 16384, 16384, true, false, kBenchCuda)})
    t.cases.push_back(c);
  Case bf16 = conv_case(16, 256, 4096, 4096, true, false, kBenchCuda);
  bf16.option["dtype"] = "bfloat16";
  bf16.label += "_bfloat16";
  t.cases.push_back(bf16);
  t.cpu_dtypes = {at::kDouble, at::kFloat};
  t.cuda_dtypes = {at::kFloat, at::kBFloat16, at::kHalf};
  t.inputs = conv_inputs;
  t.run = [](const Case&, const std::vector<at::Tensor>& in) { return ssm::fft_conv(in[0], in[1], opt(in[2]), opt(in[3])); };
  t.reference = conv_reference;
  // float64: FFT rounding, about 1e-15 log n of the output's scale. float32: 2e-5 (cuFFT and pocketfft round like
  // 1e-7 log n; gradients sum over the batch: 5x). bf16 / f16 storage: the inputs' and outputs' own rounding
  // (2^-8 = 4e-3 relative for bf16, 2^-11 for f16) times a few terms: 3e-2 / 5e-3.
  t.tolerance = [](const Case&, at::ScalarType dt, bool) {
    switch (dt) {
      case at::kDouble: return 1e-10;
      case at::kBFloat16: return 3e-2;
      case at::kHalf: return 5e-3;
      default: return 1e-4;
    }
  };
  t.counts = conv_counts;
  t.impls = [](const Case&, const std::vector<at::Tensor>& in) {
    return std::vector<Impl>{{"libtorch", [in] { return fft_conv_chain(in[0], in[1], opt(in[2]), opt(in[3])); }}};
  };
  t.python_args = [](const Case& c) { return conv_python_args(c); };
  return t;
}

const Registrar registrar(make);

}  // namespace
}  // namespace ssm::cases
