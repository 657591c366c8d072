// The 2-D selective scan's kernel params (cuda/selective_scan_2d/selective_scan_2d_body.h) from tensors: one home
// for the CUDA glue (selective_scan_2d_cuda.cpp) and the host test of the kernel bodies
// (tests/ops/selective_scan_2d/test_selective_scan_2d_body.cpp). Host code; no CUDA header.
#pragma once

#include "ops/selective_scan_2d/selective_scan_2d.h"
#include "selective_scan_2d/selective_scan_2d_body.h"

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include <algorithm>

namespace ssm::ops {

// The inputs made contiguous (the kernels index them densely), kept alive beside the params that point into them.
struct Scan2dKernelInputs {
  at::Tensor x, dt1, dt2, B1, B2, C1, C2, A1, A2, A3, A4, D;
  int64_t lag;
  bool reverse;
};

inline Scan2dKernelInputs scan2d_kernel_inputs(const Scan2dInputs& in) {
  auto c = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  return {c(in.x),  c(in.dt1), c(in.dt2), c(in.B1), c(in.B2), c(in.C1), c(in.C2),
          c(in.A1), c(in.A2),  c(in.A3),  c(in.A4), c(in.D),  in.lag,   in.reverse_variates};
}

// Everything but y and the workspace.
inline cuda::Scan2dParams scan2d_params(const Scan2dKernelInputs& k) {
  cuda::Scan2dParams p{};
  p.x = k.x.const_data_ptr();
  p.dt1 = k.dt1.const_data_ptr();
  p.dt2 = k.dt2.const_data_ptr();
  p.B1 = k.B1.const_data_ptr();
  p.B2 = k.B2.const_data_ptr();
  p.C1 = k.C1.const_data_ptr();
  p.C2 = k.C2.const_data_ptr();
  p.A1 = k.A1.const_data_ptr<float>();
  p.A2 = k.A2.const_data_ptr<float>();
  p.A3 = k.A3.const_data_ptr<float>();
  p.A4 = k.A4.const_data_ptr<float>();
  p.D = k.D.defined() ? k.D.const_data_ptr<float>() : nullptr;
  p.batch = k.x.size(0);
  p.V = k.x.size(1);
  p.T = k.x.size(2);
  p.dim = k.x.size(3);
  p.N = k.B1.size(3);
  p.lag = k.lag;
  p.slots = std::min(k.lag + 1, p.T);
  p.reverse = k.reverse;
  return p;
}

// The backward's outputs: dx, ddt1, ddt2 like x (every element written); dB*, dC*, dA*, dD float32 zeros (sums).
struct Scan2dKernelGrads {
  at::Tensor dx, ddt1, ddt2, dA1, dA2, dA3, dA4, dB1, dB2, dC1, dC2, dD;
};

// The outputs allocated, and the backward's params pointing into them and into grad_y (contiguous, like x); the
// caller sets workspace, ch0 and channels.
inline cuda::Scan2dBwdParams scan2d_bwd_params(const Scan2dKernelInputs& k, const at::Tensor& grad_y,
                                               Scan2dKernelGrads& g) {
  const auto fo = k.x.options().dtype(at::kFloat);
  const int64_t dim = k.x.size(3), N = k.B1.size(3), T = k.x.size(2);
  g.dx = at::empty_like(k.x);
  g.ddt1 = at::empty_like(k.x);
  g.ddt2 = at::empty_like(k.x);
  for (at::Tensor* t : {&g.dA1, &g.dA2, &g.dA3, &g.dA4}) *t = at::zeros({dim, N}, fo);
  for (at::Tensor* t : {&g.dB1, &g.dB2, &g.dC1, &g.dC2}) *t = at::zeros(k.B1.sizes(), fo);
  g.dD = k.D.defined() ? at::zeros({dim}, fo) : at::Tensor();
  cuda::Scan2dBwdParams q{};
  q.grad_y = grad_y.const_data_ptr();
  q.dx = g.dx.mutable_data_ptr();
  q.ddt1 = g.ddt1.mutable_data_ptr();
  q.ddt2 = g.ddt2.mutable_data_ptr();
  q.dB1 = g.dB1.mutable_data_ptr<float>();
  q.dB2 = g.dB2.mutable_data_ptr<float>();
  q.dC1 = g.dC1.mutable_data_ptr<float>();
  q.dC2 = g.dC2.mutable_data_ptr<float>();
  q.dA1 = g.dA1.mutable_data_ptr<float>();
  q.dA2 = g.dA2.mutable_data_ptr<float>();
  q.dA3 = g.dA3.mutable_data_ptr<float>();
  q.dA4 = g.dA4.mutable_data_ptr<float>();
  q.dD = g.dD.defined() ? g.dD.mutable_data_ptr<float>() : nullptr;
  q.hist = cuda::scan2d_bwd_hist(k.lag, T);
  q.chunk = cuda::scan2d_bwd_chunk(q.hist, T);
  return q;
}

}  // namespace ssm::ops
