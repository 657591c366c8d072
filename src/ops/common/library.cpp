// The ssm namespace's shared pieces: registration guard, library facts, the backward ops' Autograd kernel, the
// denormal guard.
#include "ops/common/library.h"

#include "ssm/ops/library.h"

#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>

#include <dlfcn.h>

#include <string>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace ssm::ops {
namespace {

// The file this copy of the library was loaded from.
std::string this_library_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&this_library_path), &info) != 0 && info.dli_fname != nullptr)
    return info.dli_fname;
  return "(unknown path)";
}

// Decided once, by this copy's first registration block (before it has registered anything): ssm ops already in the
// dispatcher were registered by another copy.
bool this_copy_registers() {
  static const bool registers = [] {
    for (const auto& name : c10::Dispatcher::singleton().getAllOpNames()) {
      if (name.name.rfind("ssm::", 0) != 0) continue;
      std::string first = "another copy";
      if (auto h = c10::Dispatcher::singleton().findSchema({"ssm::library_path", ""}))
        first = h->typed<std::string()>().call();
      TORCH_WARN("ssm: the ssm ops are already registered by ", first, "; this copy (", this_library_path(),
                 ") registers nothing and every call runs the first copy's kernels. Load one libssm_ops per process.");
      return false;
    }
    return true;
  }();
  return registers;
}

}  // namespace

namespace detail {

LibraryInit::LibraryInit(torch::Library::Kind kind, void (*init)(torch::Library&), std::optional<c10::DispatchKey> key,
                         const char* file, uint32_t line) {
  if (!this_copy_registers()) return;
  lib_.emplace(kind, "ssm", key, file, line);
  init(*lib_);
}

}  // namespace detail

void no_second_derivative(const c10::OperatorHandle& op, c10::DispatchKeySet keys, torch::jit::Stack* stack) {
  const auto& args = op.schema().arguments();
  if (at::GradMode::is_enabled()) {
    for (size_t i = 0; i < args.size(); ++i) {
      const c10::IValue& v = (*stack)[stack->size() - args.size() + i];
      bool requires_grad = v.isTensor() && v.toTensor().requires_grad();
      if (v.isTensorList())
        for (const at::Tensor& t : v.toTensorVector()) requires_grad = requires_grad || t.requires_grad();
      TORCH_CHECK(!requires_grad, op.schema().name(), " is not differentiable: a second derivative of an ssm op is ",
                  "not supported (argument '", args[i].name(), "' requires grad while grad mode is on, as in ",
                  "backward(create_graph=True) or torch.autograd.grad of a gradient)");
    }
  }
  op.redispatchBoxed(keys & c10::after_autograd_keyset, stack);
}

#if defined(__x86_64__) || defined(__i386__)
FlushDenormals::FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ (bit 15), DAZ (6)
FlushDenormals::~FlushDenormals() { _mm_setcsr(saved_); }
#else
FlushDenormals::FlushDenormals() {}
FlushDenormals::~FlushDenormals() {}
#endif

}  // namespace ssm::ops

namespace ssm {

const char* version() { return SSM_VERSION; }

const char* torch_version_built() { return SSM_TORCH_VERSION; }

const char* cuda_version_built() { return SSM_CUDA_VERSION; }

bool built_with_cuda() {
#ifdef SSM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace ssm

SSM_LIBRARY_FRAGMENT(m) {
  // The file of the copy that registered the ops (what a second copy's warning names).
  m.def("library_path() -> str", [] { return ssm::ops::this_library_path(); });
  // What this copy was built as and against: "ssm <version>; torch <version>; cuda <version or none>".
  m.def("build_info() -> str", [] {
    const std::string cuda = ssm::cuda_version_built();
    return std::string("ssm ") + ssm::version() + "; torch " + ssm::torch_version_built() + "; cuda " +
           (cuda.empty() ? "none" : cuda);
  });
}
