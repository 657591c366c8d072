// CPU implementation of ssm::vandermonde and ssm::vandermonde_backward: threads over (row, chunk of l), kernels in
// src/ops/vandermonde/cpu/vandermonde_kernel.h. Extra memory: O(B N) scratch and partial sums, never a (B, N, L) tensor.
#include "ops/vandermonde/cpu/vandermonde_kernel.h"
#include "ops/vandermonde/vandermonde.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/complex.h>

#include <algorithm>
#include <vector>

namespace ssm::ops {
namespace {


// Chunks per row so that B * chunks gives every thread several tasks, without more chunks than the row has.
int64_t chunks_per_row(int64_t B, int64_t L) {
  const int64_t tasks_wanted = 4 * static_cast<int64_t>(at::get_num_threads());
  const int64_t max_chunks = (L + kVandermondeCpuChunk - 1) / kVandermondeCpuChunk;
  return std::clamp<int64_t>((tasks_wanted + B - 1) / B, 1, max_chunks);
}

}  // namespace

at::Tensor vandermonde_cpu(const at::Tensor& v_in, const at::Tensor& x_in, int64_t L) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_vandermonde(v_in, x_in, L);
  const at::Tensor v = v_in.contiguous(), x = x_in.contiguous();
  at::Tensor out = at::empty({s.B, L}, v.options().dtype(c10::toRealValueType(v.scalar_type())));  // (B, L)
  if (s.B == 0) return out;
  const int64_t chunks = chunks_per_row(s.B, L);
  const int64_t chunk_len = (L + chunks - 1) / chunks;
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "ssm::vandermonde", [&] {
    const auto kernels = cpu::vandermonde_kernels<scalar_t>();
    const cpu::VandermondeFwdArgs<scalar_t> args{reinterpret_cast<const scalar_t*>(v.const_data_ptr()),
                                                 reinterpret_cast<const scalar_t*>(x.const_data_ptr()),
                                                 out.mutable_data_ptr<scalar_t>(), s.N, L};
    at::parallel_for(0, s.B * chunks, 1, [&](int64_t begin, int64_t end) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      std::vector<scalar_t> scratch(4 * s.N);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b = t / chunks, l0 = (t % chunks) * chunk_len;
        kernels.fwd(args, b, l0, std::min(L, l0 + chunk_len), scratch.data());
      }
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> vandermonde_backward_cpu(const at::Tensor& grad_in, const at::Tensor& v_in,
                                                            const at::Tensor& x_in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto s = check_vandermonde_backward(grad_in, v_in, x_in);
  const at::Tensor grad = grad_in.contiguous(), v = v_in.contiguous(), x = x_in.contiguous();
  at::Tensor dv = at::empty_like(v, at::MemoryFormat::Contiguous);  // (B, N)
  at::Tensor dx = at::empty_like(x, at::MemoryFormat::Contiguous);  // (B, N)
  if (s.B == 0) return {dv, dx};
  const int64_t L = s.L, N = s.N;
  const int64_t chunks = chunks_per_row(s.B, L);
  const int64_t chunk_len = (L + chunks - 1) / chunks;
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "ssm::vandermonde_backward", [&] {
    const auto kernels = cpu::vandermonde_kernels<scalar_t>();
    const cpu::VandermondeBwdArgs<scalar_t> args{grad.const_data_ptr<scalar_t>(),
                                                 reinterpret_cast<const scalar_t*>(x.const_data_ptr()), N, L};
    std::vector<double> partial(static_cast<size_t>(s.B * chunks * 4 * N), 0.0);  // (B, chunks, N, 4)
    at::parallel_for(0, s.B * chunks, 1, [&](int64_t begin, int64_t end) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      std::vector<scalar_t> scratch(8 * N);
      for (int64_t t = begin; t < end; ++t) {
        const int64_t b = t / chunks, l0 = (t % chunks) * chunk_len;
        kernels.bwd(args, b, l0, std::min(L, l0 + chunk_len), partial.data() + t * 4 * N, scratch.data());
      }
    });
    using cplx = c10::complex<scalar_t>;
    const cplx* vp = v.const_data_ptr<cplx>();
    cplx* dvp = dv.mutable_data_ptr<cplx>();
    cplx* dxp = dx.mutable_data_ptr<cplx>();
    at::parallel_for(0, s.B, 16, [&](int64_t begin, int64_t end) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      for (int64_t b = begin; b < end; ++b) {
        for (int64_t n = 0; n < N; ++n) {
          double a[4] = {0, 0, 0, 0};
          for (int64_t c = 0; c < chunks; ++c) {
            const double* p = partial.data() + ((b * chunks + c) * N + n) * 4;
            for (int i = 0; i < 4; ++i) a[i] += p[i];
          }
          // dv = 2 sum_l g conj(e);  dx = 2 conj(v) sum_l l g conj(e)
          const c10::complex<double> sv(a[0], a[1]), sl(a[2], a[3]);
          const c10::complex<double> vb(vp[b * N + n].real(), vp[b * N + n].imag());
          dvp[b * N + n] = cplx(2.0 * sv);
          dxp[b * N + n] = cplx(2.0 * std::conj(vb) * sl);
        }
      }
    });
  });
  return {dv, dx};
}

}  // namespace ssm::ops
