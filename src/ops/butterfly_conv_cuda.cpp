// CUDA glue of ssm::butterfly_conv.
#include "ops/butterfly.h"

namespace ssm::ops {

at::Tensor butterfly_conv_cuda(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors) {
  return butterfly_conv_aten(u, k, D, k_rev, factors);
}

ButterflyConvGrads butterfly_conv_backward_cuda(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> output_mask) {
  return butterfly_conv_backward_aten(grad_y, u, k, D, k_rev, factors, output_mask);
}

}  // namespace ssm::ops
