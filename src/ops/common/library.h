// What every op's folder uses to register with the dispatcher and to call an op: the registration macros (each op's
// file adds its schemas with SSM_LIBRARY_FRAGMENT and its kernels with SSM_LIBRARY_IMPL, so no central file lists the
// ops), the typed op lookup, the Autograd kernel of the backward ops, and the CPU kernels' denormal guard.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <cstdint>
#include <optional>

namespace ssm::ops {

using OptTensor = std::optional<at::Tensor>;
using OptTensorList = std::optional<at::TensorList>;

// The typed handle of the op `name` ("ssm::fft_conv"); each op keeps it in one function-local static
// (<op>_handle() in its folder) that its C++ API and its autograd both call.
template <class Sig>
c10::TypedOperatorHandle<Sig> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").template typed<Sig>();
}

// Autograd kernel of every *_backward op: the backward ops compute first derivatives and have none of their own, so
// when one is called with grad mode on and an input that requires grad (a second derivative: backward with
// create_graph=True, torch.autograd.grad of a gradient) it raises an error naming the op and the argument instead of
// returning a result that autograd would treat as constant; otherwise it runs the backend kernel.
void no_second_derivative(const c10::OperatorHandle& op, c10::DispatchKeySet keys, torch::jit::Stack* stack);

namespace detail {

// One static object per SSM_LIBRARY_* block. A second copy of libssm_ops loaded into a process (from another path)
// finds the ssm namespace registered by the first: it then registers nothing (torch would abort the process on a
// second definition), warns once naming both files, and every call runs the first copy's kernels. Hidden, so that
// the second copy's objects never bind to the first copy's code.
class __attribute__((visibility("hidden"))) LibraryInit {
 public:
  LibraryInit(torch::Library::Kind kind, void (*init)(torch::Library&), std::optional<c10::DispatchKey> key,
              const char* file, uint32_t line);

 private:
  std::optional<torch::Library> lib_;
};

}  // namespace detail

// The dispatch state in which a backend kernel (every CPU and CUDA entry point) makes its own ATen calls: a thread's
// default key sets (BackendSelect included, autocast excluded), with autograd and ADInplaceOrView excluded. A kernel
// is entered with its caller's thread-local key sets, and under a TorchDispatchMode (FlopCounterMode, torch.compile's
// tracing) those exclude the Conjugate, Negative and ZeroTensor fallbacks: a lazy conj() or neg view inside the
// kernel would then be read as if unconjugated.
class KernelDispatchScope {
 public:
  KernelDispatchScope()
      : guard_(c10::default_included_set,
               c10::default_excluded_set | c10::autograd_dispatch_keyset_with_ADInplaceOrView) {}

 private:
  c10::impl::ForceDispatchKeyGuard guard_;
};

// Flush-to-zero and denormals-are-zero for the calling thread while in scope (restored after). The CPU kernels run
// under it inside every parallel task: products that decay into float denormals (exp(x l) powers of S4D's
// Re(dt A) < 0 modes at long L, decaying scans) otherwise cost ~100 cycles each. A denormal is below 1.2e-38
// (float32) or 2.2e-308 (float64), far under the precision of any output that also holds a normal term.
class FlushDenormals {
 public:
  FlushDenormals();
  ~FlushDenormals();
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
  uint32_t saved_ = 0;
};

}  // namespace ssm::ops

#define SSM_LIBRARY_FRAGMENT(m) SSM_LIBRARY_FRAGMENT_(m, C10_UID)
#define SSM_LIBRARY_FRAGMENT_(m, uid)                                                                        \
  static void C10_CONCATENATE(ssm_fragment_init_, uid)(torch::Library&);                                   \
  static const ::ssm::ops::detail::LibraryInit C10_CONCATENATE(ssm_fragment_, uid)(                       \
      torch::Library::FRAGMENT, &C10_CONCATENATE(ssm_fragment_init_, uid), std::nullopt, __FILE__, __LINE__); \
  void C10_CONCATENATE(ssm_fragment_init_, uid)(torch::Library & m)

#define SSM_LIBRARY_IMPL(key, m) SSM_LIBRARY_IMPL_(key, m, C10_UID)
#define SSM_LIBRARY_IMPL_(key, m, uid)                                                                        \
  static void C10_CONCATENATE(ssm_impl_init_, uid)(torch::Library&);                                        \
  static const ::ssm::ops::detail::LibraryInit C10_CONCATENATE(ssm_impl_, uid)(                             \
      torch::Library::IMPL, &C10_CONCATENATE(ssm_impl_init_, uid), c10::DispatchKey::key, __FILE__, __LINE__); \
  void C10_CONCATENATE(ssm_impl_init_, uid)(torch::Library & m)
