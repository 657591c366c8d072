// The public C++ API (include/ssm/ops.h): thin calls through the dispatcher.
#include "ssm/ops.h"

#include "ops/fft_conv_common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>

#include <algorithm>

namespace ssm {

at::Tensor vandermonde(const at::Tensor& v, const at::Tensor& x, int64_t L) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::vandermonde", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, int64_t)>();
  return op.call(v, x, L);
}

at::Tensor fft_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                    const std::optional<at::Tensor>& k_rev) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::fft_conv", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                         const std::optional<at::Tensor>&)>();
  return op.call(u, k, D, k_rev);
}

at::Tensor butterfly_conv(const at::Tensor& u, const at::Tensor& k, const std::optional<at::Tensor>& D,
                          const std::optional<at::Tensor>& k_rev, const std::optional<at::TensorList>& factors) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::butterfly_conv", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&,
                                         const std::optional<at::Tensor>&, const std::optional<at::TensorList>&)>();
  return op.call(u, k, D, k_rev, factors);
}

at::Tensor diag_scan(const at::Tensor& a, const at::Tensor& b, bool reverse, const std::optional<at::Tensor>& h0) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("ssm::diag_scan", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, bool, const std::optional<at::Tensor>&)>();
  return op.call(a, b, reverse, h0);
}

int64_t fft_conv_size(int64_t L, int64_t Lk, bool bidirectional) {
  TORCH_CHECK(L >= 1 && Lk >= 1, "ssm::fft_conv_size: L and Lk must be >= 1, got L = ", L, ", Lk = ", Lk);
  // At least 2: cuFFT plans no transform of length 1.
  const int64_t target = std::max<int64_t>(2, L + Lk - (bidirectional ? 0 : 1));
  int64_t best = 1;
  while (best < target) best *= 2;  // a power of two always qualifies
  for (int64_t p7 = 1; p7 < best; p7 *= 7)
    for (int64_t p5 = p7; p5 < best; p5 *= 5)
      for (int64_t p3 = p5; p3 < best; p3 *= 3) {
        int64_t m = p3;
        while (m < target) m *= 2;
        best = std::min(best, m);
      }
  return best;
}

const char* version() { return "0.1.0"; }

bool built_with_cuda() {
#ifdef SSM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace ssm
