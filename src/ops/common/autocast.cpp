// Autocast (mixed precision) for the ssm ops: under torch's autocast (CPU or CUDA, bfloat16 or float16) every ssm op
// runs in float32. Kernel generation, long convolutions and scans accumulate over thousands of positions (powers of
// exp(dt A), FFT sums, recurrent states): in bfloat16's 8-bit mantissa they would lose the signal, so, as the anchors
// keep their SSM parameters and scan states in float32, the ops take reduced-precision inputs as float32 and return
// float32 (the layers around them, e.g. linear maps, run in the reduced type). float64 inputs stay float64.
#include "ops/common/library.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace ssm::ops {
namespace {

c10::IValue to_fp32(const c10::IValue& v) {
  auto cast = [](const at::Tensor& t) {
    if (!t.defined()) return t;
    const at::ScalarType s = t.scalar_type();
    if (s == at::kBFloat16 || s == at::kHalf) return t.to(at::kFloat);
    if (s == at::kComplexHalf) return t.to(at::kComplexFloat);
    return t;
  };
  if (v.isTensor()) return cast(v.toTensor());
  if (v.isTensorList()) {
    c10::List<at::Tensor> out;
    for (const at::Tensor& t : v.toTensorList()) out.push_back(cast(t));
    return out;
  }
  if (v.isList()) {  // Tensor[]? arrives as a generic list when present
    const auto l = v.toListRef();
    bool tensors = !l.empty();
    for (const auto& e : l) tensors = tensors && e.isTensor();
    if (tensors) {
      c10::List<at::Tensor> out;
      for (const auto& e : l) out.push_back(cast(e.toTensor()));
      return out;
    }
  }
  return v;
}

void autocast_fp32(const c10::OperatorHandle& op, torch::jit::Stack* stack) {
  const size_t n = op.schema().arguments().size();
  for (size_t i = stack->size() - n; i < stack->size(); ++i) (*stack)[i] = to_fp32((*stack)[i]);
  c10::impl::ExcludeDispatchKeyGuard no_autocast(
      c10::DispatchKeySet({c10::DispatchKey::AutocastCPU, c10::DispatchKey::AutocastCUDA}));
  op.callBoxed(stack);
}

// The ops a model calls (their forward/backward halves run below autograd, after the cast).
constexpr const char* kAutocastOps[] = {"vandermonde", "fft_conv", "butterfly_conv", "diag_scan", "selective_scan",
                                        "selective_scan_2d"};

}  // namespace
}  // namespace ssm::ops

SSM_LIBRARY_IMPL(AutocastCPU, m) {
  for (const char* op : ssm::ops::kAutocastOps)
    m.impl(op, torch::CppFunction::makeFromBoxedFunction<&ssm::ops::autocast_fp32>());
}
SSM_LIBRARY_IMPL(AutocastCUDA, m) {
  for (const char* op : ssm::ops::kAutocastOps)
    m.impl(op, torch::CppFunction::makeFromBoxedFunction<&ssm::ops::autocast_fp32>());
}
