// Helpers shared by the CPU and CUDA fft_conv implementations.
#pragma once

#include <cstdint>

namespace ssm {
// Smallest 2^a 3^b 5^c 7^d >= L + Lk - 1 (>= L + Lk with an anti-causal part): long enough that the circular
// convolution of that length equals the linear one on 0..L-1.
int64_t fft_conv_size(int64_t L, int64_t Lk, bool bidirectional);
}  // namespace ssm
