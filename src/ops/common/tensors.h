// Small tensor helpers for the backends' glue: raw pointers of optional tensors, and the CPU copies through which a
// CUDA entry point runs the CPU kernels where it has no kernel of its own.
#pragma once

#include <ATen/core/Tensor.h>

namespace ssm::ops {

// t's data, or null for an undefined tensor.
template <typename T>
const T* data_or_null(const at::Tensor& t) {
  return t.defined() ? t.const_data_ptr<T>() : nullptr;
}
template <typename T>
T* mutable_data_or_null(const at::Tensor& t) {
  return t.defined() ? t.mutable_data_ptr<T>() : nullptr;
}

// A CPU copy of t for the CPU kernels: bfloat16 and float16 widened to float32 (the CPU kernels' narrowest dtype).
inline at::Tensor cpu_copy(const at::Tensor& t) {
  if (!t.defined()) return t;
  const bool narrow = t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16;
  return narrow ? t.to(at::kCPU, at::kFloat) : t.cpu();
}
// A CPU result back on the device and in the dtype of `like`.
inline at::Tensor like_device_and_dtype(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t.to(like.device(), like.scalar_type()) : t;
}

}  // namespace ssm::ops
