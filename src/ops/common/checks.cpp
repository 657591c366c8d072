#include "ops/common/checks.h"

#include <c10/util/Exception.h>

#include <sstream>

namespace ssm::ops {

std::string shape_str(const at::Tensor& t) {
  std::ostringstream s;
  s << "(";
  for (int64_t i = 0; i < t.dim(); ++i) s << (i ? ", " : "") << t.sym_size(i);
  s << ")";
  return s.str();
}

void check_defined(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined(), op, ": argument '", name, "' is an undefined tensor");
}

void check_same_device(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                       const at::Tensor& ref) {
  TORCH_CHECK(t.device() == ref.device(), op, ": argument '", name, "' is on ", t.device(), " but '", ref_name,
              "' is on ", ref.device(), "; all tensors must be on one device");
}

void check_same_dtype(const char* op, const char* name, const at::Tensor& t, const char* ref_name,
                      const at::Tensor& ref) {
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), op, ": argument '", name, "' has dtype ", t.scalar_type(),
              " but '", ref_name, "' has dtype ", ref.scalar_type(), "; all tensors must have one dtype");
}

void check_same_as(const char* op, const char* name, const at::Tensor& t, const char* ref_name, const at::Tensor& ref) {
  check_defined(op, name, t);
  TORCH_CHECK(t.sym_sizes() == ref.sym_sizes(), op, ": argument '", name, "' must have the shape of '", ref_name,
              "' ", shape_str(ref), ", got ", shape_str(t));
  check_same_dtype(op, name, t, ref_name, ref);
  check_same_device(op, name, t, ref_name, ref);
}

}  // namespace ssm::ops
