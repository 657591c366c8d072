// CPU glue of ssm::selective_scan: checks, contiguous inputs, buffers, and the tasks (batch row, B/C group, block of
// channels) that run the kernels of cpu/selective_scan_kernel.h in parallel.
#include "ops/common/tensors.h"
#include "ops/selective_scan/cpu/selective_scan_kernel.h"
#include "ops/selective_scan/selective_scan.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <vector>

namespace ssm::ops {
namespace {

static_assert(cpu::kSelectiveScanChunk == kSelectiveScanCheckpointEvery, "CPU chunk and checkpoint layout agree");

at::Tensor contig(const at::Tensor& t) { return t.defined() ? t.contiguous() : t; }

struct Plan {
  int64_t dpg, blocks, block_size;  // channels per group, blocks per group, channels per block
};

// Enough tasks to keep every thread busy (4 per thread), each at least a few channels long.
Plan plan(const SelectiveScanSizes<>& s) {
  const int64_t dpg = s.dim / s.G, threads = at::get_num_threads();
  const int64_t rows = std::max<int64_t>(1, s.batch * s.G);
  const int64_t blocks = std::clamp<int64_t>((4 * threads + rows - 1) / rows, 1, dpg);
  const int64_t block_size = (dpg + blocks - 1) / blocks;
  return {dpg, (dpg + block_size - 1) / block_size, block_size};
}

template <typename T>
cpu::SelectiveScanArgs<T> kernel_args(const SelectiveScanInputs& in, const SelectiveScanSizes<>& s) {
  return {data_or_null<T>(in.u),
          data_or_null<T>(in.delta),
          data_or_null<T>(in.A),
          data_or_null<T>(in.B),
          data_or_null<T>(in.C),
          data_or_null<T>(in.D),
          data_or_null<T>(in.z),
          data_or_null<T>(in.delta_bias),
          data_or_null<T>(in.h0),
          data_or_null<int64_t>(in.lengths),
          s.batch,
          s.dim,
          s.L,
          s.N,
          s.G,
          s.b_fixed,
          s.c_fixed,
          in.delta_softplus,
          s.chunks};
}

SelectiveScanInputs contiguous_inputs(const SelectiveScanInputs& in) {
  return {contig(in.u), contig(in.delta),      contig(in.A),      contig(in.B),  contig(in.C),      contig(in.D),
          contig(in.z), contig(in.delta_bias), in.delta_softplus, contig(in.h0), contig(in.lengths)};
}

// Runs f(b, g, d_begin, d_end, block, scratch) for every task in parallel.
template <typename T, typename F>
void for_tasks(const SelectiveScanSizes<>& s, const Plan& p, F f) {
  const int64_t tasks = s.batch * s.G * p.blocks;
  at::parallel_for(0, tasks, 1, [&](int64_t begin, int64_t end) {
    const FlushDenormals no_denormals;  // see ops/common/library.h
    std::vector<T> scratch(cpu::selective_scan_scratch(s.N, p.block_size));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t block = task % p.blocks, bg = task / p.blocks, g = bg % s.G, b = bg / s.G;
      const int64_t d_begin = g * p.dpg + block * p.block_size;
      const int64_t d_end = std::min(d_begin + p.block_size, (g + 1) * p.dpg);
      if (d_begin < d_end) f(b, g, d_begin, d_end, block, scratch.data());
    }
  });
}

}  // namespace

SelectiveScanFwd selective_scan_fwd_cpu(const SelectiveScanInputs& in_raw, bool want_checkpoints) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_selective_scan("ssm::selective_scan", in_raw);
  check_lengths_values("ssm::selective_scan", in_raw.lengths, s.L);
  const SelectiveScanInputs in = contiguous_inputs(in_raw);
  const auto so = in.u.options().dtype(s.state_dtype);
  at::Tensor out = at::empty({s.batch, s.dim, s.L}, in.u.options());
  at::Tensor last = at::empty({s.batch, s.dim, s.N}, so);
  at::Tensor checkpoints = want_checkpoints ? at::empty({s.batch, s.dim, s.chunks, s.N}, so) : at::Tensor();
  const Plan p = plan(s);
  AT_DISPATCH_FLOATING_TYPES(in.u.scalar_type(), "ssm::selective_scan", [&] {
    const auto args = kernel_args<scalar_t>(in, s);
    const cpu::SelectiveScanFwdOut<scalar_t> o{mutable_data_or_null<scalar_t>(out),
                                               mutable_data_or_null<scalar_t>(last),
                                               mutable_data_or_null<scalar_t>(checkpoints)};
    const auto fwd = cpu::selective_scan_kernels<scalar_t>().fwd;
    for_tasks<scalar_t>(s, p, [&](int64_t b, int64_t g, int64_t d0, int64_t d1, int64_t, scalar_t* scratch) {
      fwd(args, o, b, g, d0, d1, scratch);
    });
  });
  return {out, last, checkpoints};
}

SelectiveScanGrads selective_scan_bwd_cpu(const at::Tensor& grad_out, const at::Tensor& grad_last,
                                          const SelectiveScanInputs& in_raw, const at::Tensor& checkpoints_in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const char* op = "ssm::selective_scan_backward";
  const auto s = check_selective_scan_backward(op, grad_out, grad_last, in_raw, checkpoints_in);
  check_lengths_values(op, in_raw.lengths, s.L);
  const auto so = in_raw.u.options().dtype(s.state_dtype);
  const SelectiveScanInputs in = contiguous_inputs(in_raw);
  const at::Tensor g_out = contig(grad_out), g_last = contig(grad_last), checkpoints = checkpoints_in.contiguous();
  const Plan p = plan(s);
  const auto ao = in.u.options();
  // Positions past lengths[b] keep the zeros.
  at::Tensor du = at::zeros({s.batch, s.dim, s.L}, ao), ddelta = at::zeros({s.batch, s.dim, s.L}, ao);
  at::Tensor dz = in.z.defined() ? at::zeros({s.batch, s.dim, s.L}, ao) : at::Tensor();
  at::Tensor dA = at::empty({s.batch, s.dim, s.N}, so);
  auto bc_grad = [&](bool fixed) {
    return fixed ? at::empty({s.batch, s.dim, s.N}, ao) : at::zeros({p.blocks, s.batch, s.G, s.N, s.L}, ao);
  };
  at::Tensor dB = bc_grad(s.b_fixed), dC = bc_grad(s.c_fixed);
  at::Tensor dD = in.D.defined() ? at::empty({s.batch, s.dim}, so) : at::Tensor();
  at::Tensor dbias = in.delta_bias.defined() ? at::empty({s.batch, s.dim}, so) : at::Tensor();
  at::Tensor dh0 = in.h0.defined() ? at::empty({s.batch, s.dim, s.N}, so) : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(in.u.scalar_type(), "ssm::selective_scan_backward", [&] {
    const auto args = kernel_args<scalar_t>(in, s);
    const cpu::SelectiveScanBwdArgs<scalar_t> o{
        data_or_null<scalar_t>(g_out),          data_or_null<scalar_t>(g_last),
        data_or_null<scalar_t>(checkpoints),    mutable_data_or_null<scalar_t>(du),
        mutable_data_or_null<scalar_t>(ddelta), mutable_data_or_null<scalar_t>(dA),
        mutable_data_or_null<scalar_t>(dB),     mutable_data_or_null<scalar_t>(dC),
        mutable_data_or_null<scalar_t>(dD),     mutable_data_or_null<scalar_t>(dz),
        mutable_data_or_null<scalar_t>(dbias),  mutable_data_or_null<scalar_t>(dh0)};
    const auto bwd = cpu::selective_scan_kernels<scalar_t>().bwd;
    for_tasks<scalar_t>(s, p, [&](int64_t b, int64_t g, int64_t d0, int64_t d1, int64_t block, scalar_t* scratch) {
      bwd(args, o, b, g, d0, d1, block, scratch);
    });
  });
  // The partial sums: over batch for the parameters, over channel blocks for input-dependent B and C.
  auto finish_bc = [&](const at::Tensor& d, const at::Tensor& like) { return d.sum(0).reshape(like.sizes()); };
  return {du,
          ddelta,
          dA.sum(0),
          finish_bc(dB, in.B),
          finish_bc(dC, in.C),
          dD.defined() ? dD.sum(0) : dD,
          dz,
          dbias.defined() ? dbias.sum(0) : dbias,
          dh0};
}

}  // namespace ssm::ops

SSM_LIBRARY_IMPL(CPU, m) {
  using namespace ssm::ops;
  m.impl("selective_scan", &selective_scan_entry<&selective_scan_fwd_cpu>);
  m.impl("selective_scan_fwd", &selective_scan_fwd_entry<&selective_scan_fwd_cpu>);
  m.impl("selective_scan_backward", &selective_scan_backward_entry<&selective_scan_bwd_cpu>);
}
