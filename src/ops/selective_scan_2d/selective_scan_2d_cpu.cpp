// CPU glue of ssm::selective_scan_2d: checks, contiguous inputs, buffers, and the (batch row, channel block) tasks that
// run the kernels of cpu/selective_scan_2d_kernel.h in parallel, each with its own state buffers (forward: a ring of
// lag + 1 time steps; backward: 8 V T N 16 elements).
#include "ops/common/tensors.h"
#include "ops/selective_scan_2d/cpu/selective_scan_2d_kernel.h"
#include "ops/selective_scan_2d/selective_scan_2d.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <vector>

namespace ssm::ops {
namespace {

Scan2dInputs contiguous_inputs(const Scan2dInputs& in) {
  auto c = [](const at::Tensor& t) { return t.defined() ? t.contiguous() : t; };
  return {c(in.x),  c(in.dt1), c(in.dt2), c(in.A1), c(in.A2), c(in.A3), c(in.A4),
          c(in.B1), c(in.B2),  c(in.C1),  c(in.C2), c(in.D),  in.lag,   in.reverse_variates};
}

template <typename T>
cpu::Scan2dArgs<T> kernel_args(const Scan2dInputs& in, const Scan2dSizes<>& s) {
  return {data_or_null<T>(in.x),
          data_or_null<T>(in.dt1),
          data_or_null<T>(in.dt2),
          data_or_null<T>(in.A1),
          data_or_null<T>(in.A2),
          data_or_null<T>(in.A3),
          data_or_null<T>(in.A4),
          data_or_null<T>(in.B1),
          data_or_null<T>(in.B2),
          data_or_null<T>(in.C1),
          data_or_null<T>(in.C2),
          data_or_null<T>(in.D),
          s.batch,
          s.V,
          s.T,
          s.dim,
          s.N,
          in.lag,
          in.reverse_variates};
}

// Channels per task, a multiple of the kernel's lanes: enough tasks for every thread (4 each); a task's channels share
// one partial row of dB, dC.
int64_t channels_per_task(const Scan2dSizes<>& s) {
  constexpr int64_t W = cpu::kScan2dLanes;
  const int64_t threads = at::get_num_threads(), lane_blocks = (s.dim + W - 1) / W;
  const int64_t blocks =
      std::clamp<int64_t>((4 * threads + s.batch - 1) / std::max<int64_t>(s.batch, 1), 1, lane_blocks);
  return (lane_blocks + blocks - 1) / blocks * W;
}

// f(b, d0, block, scratch) for every row b and lane block d0 in parallel, tasks of `per` channels.
template <typename T, typename F>
void for_tasks(const Scan2dSizes<>& s, int64_t per, int64_t scratch_size, F f) {
  const int64_t blocks = (s.dim + per - 1) / per;
  at::parallel_for(0, s.batch * blocks, 1, [&](int64_t begin, int64_t end) {
    const FlushDenormals no_denormals;  // see ops/common/library.h
    std::vector<T> scratch(scratch_size);
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / blocks, block = task % blocks;
      for (int64_t d0 = block * per; d0 < std::min(s.dim, (block + 1) * per); d0 += cpu::kScan2dLanes)
        f(b, d0, block, scratch.data());
    }
  });
}

}  // namespace

at::Tensor selective_scan_2d_cpu_impl(const Scan2dInputs& in_raw) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan_2d("ssm::selective_scan_2d", in_raw);
  const Scan2dInputs in = contiguous_inputs(in_raw);
  at::Tensor y = at::empty({s.batch, s.V, s.T, s.dim}, in.x.options());
  AT_DISPATCH_FLOATING_TYPES(in.x.scalar_type(), "ssm::selective_scan_2d", [&] {
    const auto args = kernel_args<scalar_t>(in, s);
    const auto fwd = cpu::selective_scan_2d_kernels<scalar_t>().fwd;
    scalar_t* yp = y.mutable_data_ptr<scalar_t>();
    const int64_t scratch_size = cpu::selective_scan_2d_scratch(s.V, s.T, s.N, in.lag, false);
    for_tasks<scalar_t>(s, channels_per_task(s), scratch_size,
                        [&](int64_t b, int64_t d, int64_t, scalar_t* scratch) { fwd(args, yp, b, d, scratch); });
  });
  return y;
}

Scan2dGrads selective_scan_2d_backward_cpu_impl(const at::Tensor& grad_y, const Scan2dInputs& in_raw) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const char* op = "ssm::selective_scan_2d_backward";
  const auto s = check_selective_scan_2d_backward(op, grad_y, in_raw);
  const Scan2dInputs in = contiguous_inputs(in_raw);
  const at::Tensor g = grad_y.contiguous();
  const int64_t per = channels_per_task(s), blocks = (s.dim + per - 1) / per;
  const auto ao = in.x.options(), so = ao.dtype(s.state_dtype);
  auto act = [&] { return at::empty({s.batch, s.V, s.T, s.dim}, ao); };
  auto par = [&] { return at::empty({s.batch, s.dim, s.N}, so); };
  auto bc = [&] { return at::zeros({blocks, s.batch, s.V, s.T, s.N}, ao); };
  at::Tensor dx = act(), ddt1 = act(), ddt2 = act();
  at::Tensor dA1 = par(), dA2 = par(), dA3 = par(), dA4 = par();
  at::Tensor dB1 = bc(), dB2 = bc(), dC1 = bc(), dC2 = bc();
  at::Tensor dD = in.D.defined() ? at::empty({s.batch, s.dim}, so) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(in.x.scalar_type(), "ssm::selective_scan_2d_backward", [&] {
    const auto args = kernel_args<scalar_t>(in, s);
    const cpu::Scan2dBwdArgs<scalar_t> o{data_or_null<scalar_t>(g),
                                         mutable_data_or_null<scalar_t>(dx),
                                         mutable_data_or_null<scalar_t>(ddt1),
                                         mutable_data_or_null<scalar_t>(ddt2),
                                         mutable_data_or_null<scalar_t>(dA1),
                                         mutable_data_or_null<scalar_t>(dA2),
                                         mutable_data_or_null<scalar_t>(dA3),
                                         mutable_data_or_null<scalar_t>(dA4),
                                         mutable_data_or_null<scalar_t>(dB1),
                                         mutable_data_or_null<scalar_t>(dB2),
                                         mutable_data_or_null<scalar_t>(dC1),
                                         mutable_data_or_null<scalar_t>(dC2),
                                         mutable_data_or_null<scalar_t>(dD)};
    const auto bwd = cpu::selective_scan_2d_kernels<scalar_t>().bwd;
    const int64_t scratch_size = cpu::selective_scan_2d_scratch(s.V, s.T, s.N, in.lag, true);
    for_tasks<scalar_t>(s, per, scratch_size, [&](int64_t b, int64_t d, int64_t block, scalar_t* scratch) {
      bwd(args, o, b, d, block, scratch);
    });
  });
  return {dx,         ddt1,       ddt2,       dA1.sum(0), dA2.sum(0), dA3.sum(0),
          dA4.sum(0), dB1.sum(0), dB2.sum(0), dC1.sum(0), dC2.sum(0), dD.defined() ? dD.sum(0) : dD};
}

}  // namespace ssm::ops

SSM_LIBRARY_IMPL(CPU, m) {
  using namespace ssm::ops;
  m.impl("selective_scan_2d", &scan2d_entry<&selective_scan_2d_cpu_impl>);
  m.impl("selective_scan_2d_backward", &scan2d_backward_entry<&selective_scan_2d_backward_cpu_impl>);
}
