// The variants of ssm::butterfly_conv's exact-DFT pipelines (and of its learned path on CUDA), as one value: what each
// field selects is described at its declaration. Set from the environment variable SSM_BUTTERFLY, read at every call
// and checked as a whole: comma-separated key=value pairs, e.g. SSM_BUTTERFLY=rows=single,schedule=staged. Unset or
// empty: every field's default. An unknown key, a bad value, or one of the variables this replaced
// (SSM_BUTTERFLY_ROWS, _SCHEDULE, _BF16, _FLOAT32, _CHUNK_BYTES) is an error naming the field and its allowed values.
#pragma once

#include <cstdint>
#include <string>

namespace ssm::ops {

struct ButterflyOptions {
  // How the real rows of a convolution travel through the complex pipeline.
  //   auto (default): real where that plan is available, else single. No output depends on another sample.
  //   real:   one real row of n as one complex row of n / 2 (cuda::fft::FftJob::real_rows; needs n even and the plan of
  //           n / 2 in one pass over a sub-row, else single);
  //   single: one real row per complex row of n (imaginary part zero);
  //   paired: two real rows of a channel (samples b, b + 1) as one complex row of n -- half the transforms of single,
  //           but each sample's rounding then reaches its neighbour (a NaN in one turns both to NaN; a sample 1e4
  //           times larger raises its neighbour's relative error about 1e4-fold). Opt-in, for benchmarks.
  enum class Rows { kAuto, kReal, kSingle, kPaired } rows = Rows::kAuto;
  // kAuto: the device's (CUDA fused; CPU staged, whose stages run on SIMD vectors). fused: a sub-row's first stage
  // fused with its loads and stores, its last with the spectrum product (on the CPU: the CUDA kernels' scalar code,
  // each parallel step's items in reverse order -- a check of the GPU schedule); staged: every stage one pass.
  enum class Schedule { kAuto, kFused, kStaged } schedule = Schedule::kAuto;
  // bf16 storage on CUDA: every stage on CUDA cores in float32 (default), or tensor_cores: sub-rows that end in two
  // radix-16 stages run them and the spectrum product as warp-level bf16 matrix products (cuda/butterfly_conv/
  // butterfly_fft_tc.h). The CPU ignores it.
  bool bf16_tensor_cores = false;
  // float32 storage with learned factors on CUDA: CUDA cores (default) or 3xTF32 tensor cores.
  bool float32_tensor_cores = false;
  // Work-area bytes per chunk of rows of a multi-pass pipeline; 0 (default): the device's (half the GPU's L2, 8 MiB on
  // the CPU).
  int64_t chunk_bytes = 0;
};

// The options in force: SSM_BUTTERFLY parsed and checked (errors name the field and the allowed values).
ButterflyOptions butterfly_options();
// Parses a value of SSM_BUTTERFLY ("" gives the defaults).
ButterflyOptions parse_butterfly_options(const std::string& spec);

}  // namespace ssm::ops
