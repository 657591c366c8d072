// Argument-check helpers shared by every op (each op's own checks live in its folder). Each failure is a c10::Error
// naming the op, the argument, what it got and what was expected. Sizes are read as int64_t (real tensors) or
// c10::SymInt (the Meta kernels under torch.compile with dynamic shapes), so that one check serves every backend.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/SymInt.h>

#include <string>
#include <type_traits>

namespace ssm::ops {

// "(2, 3, 7)"; symbolic sizes print as their expressions.
std::string shape_str(const at::Tensor& t);

// Size d of t as I: int64_t (t.size) or c10::SymInt (t.sym_size).
template <class I>
I dim_size(const at::Tensor& t, int64_t d) {
  if constexpr (std::is_same_v<I, c10::SymInt>)
    return t.sym_size(d);
  else
    return t.size(d);
}

void check_defined(const char* op, const char* name, const at::Tensor& t);
void check_same_device(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                       const at::Tensor& ref);
void check_same_dtype(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                      const at::Tensor& ref);
// `t` (named `name`) must match `ref` (named `ref_name`) in shape, dtype and device.
void check_same_as(const char* op, const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref);

}  // namespace ssm::ops
