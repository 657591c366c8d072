// ssm::selective_scan inside the ops library: argument checks, the backends, the op handles.
#pragma once

#include "ops/common/checks.h"
#include "ops/common/library.h"

#include <array>
#include <tuple>

namespace ssm::ops {

// The state before every kSelectiveScanChunk-th step is saved by the forward pass for the backward (both backends use
// this chunk, so that the Meta kernel knows the shape): checkpoints (batch, dim, ceil(L / 64), N).
constexpr int64_t kSelectiveScanCheckpointEvery = 64;

// The op's arguments, in schema order (the optional ones undefined when absent).
struct SelectiveScanInputs {
  at::Tensor u, delta, A, B, C, D, z, delta_bias;
  bool delta_softplus = false;
  at::Tensor h0, lengths;
};
SelectiveScanInputs selective_scan_inputs(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                          const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                          const OptTensor& z, const OptTensor& delta_bias, bool delta_softplus,
                                          const OptTensor& h0, const OptTensor& lengths);

// Sizes of a checked call; I = int64_t, or c10::SymInt in the Meta kernels. G: groups of B and C (1 when neither is
// grouped); b_fixed / c_fixed: (dim, N) instead of input-dependent.
template <class I = int64_t>
struct SelectiveScanSizes {
  I batch, dim, L, N, G, chunks;
  bool b_fixed, c_fixed;
  at::ScalarType state_dtype;  // of A, D, delta_bias, h0, last_state: float64 for float64 inputs, else float32
};
// Shapes, dtypes and devices (the values of `lengths` are checked by the backends: check_lengths_values).
template <class I = int64_t>
SelectiveScanSizes<I> check_selective_scan(const char* op, const SelectiveScanInputs& in);
// The inputs as check_selective_scan, and the backward's own: grad_out like u, grad_last_state (batch, dim, N) and
// checkpoints (batch, dim, chunks, N) in the state dtype, on u's device.
template <class I = int64_t>
SelectiveScanSizes<I> check_selective_scan_backward(const char* op, const at::Tensor& grad_out,
                                                    const at::Tensor& grad_last, const SelectiveScanInputs& in,
                                                    const at::Tensor& checkpoints);
// 1 <= lengths[b] <= L for every b (reads the values: a device synchronization on CUDA).
void check_lengths_values(const char* op, const at::Tensor& lengths, int64_t L);

// out, last_state, checkpoints (undefined unless want_checkpoints).
using SelectiveScanFwd = std::tuple<at::Tensor, at::Tensor, at::Tensor>;
// du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dh0 (undefined for absent inputs).
using SelectiveScanGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor,
                                      at::Tensor, at::Tensor, at::Tensor>;

SelectiveScanFwd selective_scan_fwd_cpu(const SelectiveScanInputs& in, bool want_checkpoints);
SelectiveScanGrads selective_scan_bwd_cpu(const at::Tensor& grad_out, const at::Tensor& grad_last,
                                          const SelectiveScanInputs& in, const at::Tensor& checkpoints);
#ifdef SSM_WITH_CUDA
SelectiveScanFwd selective_scan_fwd_cuda(const SelectiveScanInputs& in, bool want_checkpoints);
SelectiveScanGrads selective_scan_bwd_cuda(const at::Tensor& grad_out, const at::Tensor& grad_last,
                                           const SelectiveScanInputs& in, const at::Tensor& checkpoints);
#endif

// The dispatcher's signatures of ssm::selective_scan, ssm::selective_scan_fwd and ssm::selective_scan_backward around
// a backend's two functions (each backend registers these with its pair).
template <SelectiveScanFwd (*Fwd)(const SelectiveScanInputs&, bool)>
std::tuple<at::Tensor, at::Tensor> selective_scan_entry(const at::Tensor& u, const at::Tensor& delta,
                                                        const at::Tensor& A, const at::Tensor& B, const at::Tensor& C,
                                                        const OptTensor& D, const OptTensor& z,
                                                        const OptTensor& delta_bias, bool delta_softplus,
                                                        const OptTensor& h0, const OptTensor& lengths) {
  auto [out, last, unused] =
      Fwd(selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths), false);
  return {out, last};
}
template <SelectiveScanFwd (*Fwd)(const SelectiveScanInputs&, bool)>
SelectiveScanFwd selective_scan_fwd_entry(const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                          const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                          const OptTensor& z, const OptTensor& delta_bias, bool delta_softplus,
                                          const OptTensor& h0, const OptTensor& lengths) {
  return Fwd(selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths), true);
}
template <SelectiveScanGrads (*Bwd)(const at::Tensor&, const at::Tensor&, const SelectiveScanInputs&,
                                    const at::Tensor&)>
SelectiveScanGrads selective_scan_backward_entry(const OptTensor& grad_out, const OptTensor& grad_last,
                                                 const at::Tensor& u, const at::Tensor& delta, const at::Tensor& A,
                                                 const at::Tensor& B, const at::Tensor& C, const OptTensor& D,
                                                 const OptTensor& z, const OptTensor& delta_bias, bool delta_softplus,
                                                 const OptTensor& h0, const OptTensor& lengths,
                                                 const at::Tensor& checkpoints) {
  return Bwd(grad_out.value_or(at::Tensor()), grad_last.value_or(at::Tensor()),
             selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths), checkpoints);
}

}  // namespace ssm::ops
