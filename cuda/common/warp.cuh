// Warp-level helpers of the kernels that give each channel a group of W lanes (the selective scans).
#pragma once

#include <cuda_runtime.h>

namespace ssm::cuda {

// The lanes of the calling thread's W-lane group (W a power of two <= 32), for the *_sync shuffles: a group whose
// channel is out of range leaves as a whole, so only the mask's lanes take part.
template <int W>
__device__ __forceinline__ unsigned group_mask() {
  return W == 32 ? 0xffffffffu : (((1u << W) - 1u) << ((threadIdx.x % 32) / W * W));
}

// The sum of v over the W lanes of the group, on every lane of it.
template <int W>
__device__ __forceinline__ float group_sum(float v, unsigned mask) {
#pragma unroll
  for (int o = W / 2; o > 0; o /= 2) v += __shfl_xor_sync(mask, v, o, W);
  return v;
}

}  // namespace ssm::cuda
