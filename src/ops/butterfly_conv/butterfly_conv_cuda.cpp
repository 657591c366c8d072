// CUDA glue of ssm::butterfly_conv: checks, buffers from the caching allocator, the pipelines of
// cuda/butterfly_conv/butterfly.cu (learned factors) and cuda/butterfly_conv/butterfly_fft*.cu (exact DFT). Without
// factors (the exact DFT): the codelet pipelines of cuda/butterfly_conv/butterfly_fft.h, orchestrated as on the CPU
// (src/ops/butterfly_conv/exact.h): kernel spectrum, then one pipeline over the rows of u that reads u once and writes
// y once when n <= 16384; du the same on dy with the conjugated spectrum; dk from the batch-reduced spectrum
// correlation. With learned factors: the forward runs the dense-matrix fused kernels (TF32 tensor cores for bf16/fp16
// or on request for float32), the backward (which must also produce the factors' gradients) the LibTorch-operator
// implementation (cuBLAS batched products).
#include "butterfly_conv/butterfly.h"
#include "ops/butterfly_conv/butterfly_conv.h"
#include "ops/butterfly_conv/exact.h"
#include "ops/fft_conv/conv_cuda.h"
#include "ssm/ops/butterfly_conv.h"

#include <ATen/TensorOperators.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/mul.h>
#include <ATen/ops/real.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAGuard.h>

#include <utility>

namespace ssm::ops {
namespace {

constexpr const char* kOp = "ssm::butterfly_conv";

struct Setup {
  ButterflyConvSizes s;
  cuda::ButterflyPlan plan;
  cuda::ConvShape shape;
  cuda::ConvDtype dt;
  at::Tensor u, k, D, k_rev;
  std::vector<at::Tensor> learned;  // contiguous factors, when given
  cuda::ButterflyFactors Fl, Fe;    // learned (or exact) and exact
  at::Tensor work;                  // (B*H or H rows, n) complex64 when n needs the multi-pass scheme
  bool float32_tensor_cores = false;  // SSM_BUTTERFLY=float32=tensor_cores
};

cuda::ButterflyFactors factor_set(const std::vector<at::Tensor>& F, bool per_channel) {
  cuda::ButterflyFactors f;
  for (size_t i = 0; i < F.size(); ++i) f.F[i] = reinterpret_cast<const float2*>(F[i].const_data_ptr());
  f.per_channel = per_channel;
  return f;
}

// sizes: what check_butterfly_conv returned (the checks run before the device guard, since u may be a CPU tensor).
Setup prepare(ButterflyConvSizes sizes, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
              const OptTensor& k_rev, const OptTensorList& factors) {
  Setup st;
  st.s = std::move(sizes);
  const auto& s = st.s;
  st.plan = butterfly_plan(s.n, s.stages);
  st.shape = {s.B, s.H, s.L, s.Lk, s.n};
  st.float32_tensor_cores = butterfly_options().float32_tensor_cores;
  st.dt = conv_dtype(u.scalar_type(), kOp);
  st.u = u.contiguous();
  st.k = k.contiguous();
  if (s.has_D) st.D = D->contiguous();
  if (s.has_k_rev) st.k_rev = k_rev->contiguous();
  st.Fe = factor_set(exact_dft_factors(s.n, at::kComplexFloat, u.device()), false);
  if (s.has_factors) {
    for (const auto& F : *factors) st.learned.push_back(F.contiguous());
    st.Fl = factor_set(st.learned, s.per_channel);
  } else {
    st.Fl = st.Fe;
  }
  int first = 0;
  check_cuda(cuda::butterfly_first_fused_stage(st.plan, &first), kOp, "querying shared memory");
  if (first > 0) st.work = at::empty({std::max(s.B * s.H, s.H), s.n}, u.options().dtype(at::kComplexFloat));
  return st;
}

float2* ptr(const at::Tensor& t) { return t.defined() ? reinterpret_cast<float2*>(t.data_ptr()) : nullptr; }

cuda::ButterflyPipeline pipeline(const Setup& st, int64_t rows) {
  cuda::ButterflyPipeline p;
  p.plan = st.plan;
  p.rows = rows;
  p.H = st.s.H;
  p.dtype = st.dt;
  p.work = ptr(st.work);
  p.float32_tensor_cores = st.float32_tensor_cores;
  return p;
}

// Spectrum (rows, n) complex64 in digit order of real rows x (rows, len) of the pipeline's dtype, through fwd.
at::Tensor spectrum(const Setup& st, const at::Tensor& x, int64_t rows, int64_t len, cuda::ConvDtype dt,
                    const cuda::ButterflyFactors& fwd) {
  at::Tensor out = at::empty({rows, st.s.n}, x.options().dtype(at::kComplexFloat));
  cuda::ButterflyPipeline p = pipeline(st, rows);
  p.dtype = dt;
  p.src.in = x.const_data_ptr();
  p.src.len = len;
  p.fwd = fwd;
  p.spectrum_out = ptr(out);
  check_cuda(cuda::butterfly_run(p, at::cuda::getCurrentCUDAStream()), kOp, "spectrum pipeline");
  return out;
}

// The kernel spectrum (H, n) through fwd.
at::Tensor kernel_spectrum(const Setup& st, const cuda::ButterflyFactors& fwd) {
  at::Tensor kpad = at::empty({st.s.H, st.s.n}, st.k.options().dtype(at::kFloat));  // (H, n)
  check_cuda(cuda::conv_pad_kernel(st.k.const_data_ptr(), st.k_rev.defined() ? st.k_rev.const_data_ptr() : nullptr,
                                   kpad.mutable_data_ptr<float>(), st.shape, st.dt,
                                   at::cuda::getCurrentCUDAStream()), kOp,
             "kernel padding");
  return spectrum(st, kpad, st.s.H, st.s.n, cuda::ConvDtype::kFloat32, fwd);
}

// out = Re(adj^H stages (spec * x-spectrum)) / n + D x: the convolution pipeline over the B*H rows of x.
void convolve(const Setup& st, const at::Tensor& x, const at::Tensor& spec,
              const cuda::ButterflyFactors& fwd, const cuda::ButterflyFactors& adj, const at::Tensor& out) {
  cuda::ButterflyPipeline p = pipeline(st, st.s.B * st.s.H);
  p.src.in = x.const_data_ptr();
  p.src.len = st.s.L;
  p.dst.out = out.mutable_data_ptr();
  p.dst.len = st.s.L;
  p.skip = x.const_data_ptr();
  p.D = st.D.defined() ? st.D.const_data_ptr() : nullptr;
  p.fwd = fwd;
  p.adj = adj;
  p.spectrum = ptr(spec);
  p.scale = 1.f / static_cast<float>(st.s.n);
  check_cuda(cuda::butterfly_run(p, at::cuda::getCurrentCUDAStream()), kOp, "convolution pipeline");
}

// ---- without factors: the exact-DFT pipelines (codelet stages), orchestrated as on the CPU --------------------------
struct CudaRunner {
  cudaStream_t stream;
  bool fused_ends(const ButterflyOptions& o) const { return o.schedule != ButterflyOptions::Schedule::kStaged; }
  bool tensor_cores(const ButterflyOptions& o) const { return o.bf16_tensor_cores; }
  template <typename X>
  void operator()(const cuda::fft::FftJob<X, float>& job) const {
    check_cuda(cuda::butterfly_fft_run(job, stream), kOp, "exact-DFT pipeline");
  }
  bool needs_work(const cuda::ButterflyPlan& plan) const {
    int first = 0;
    check_cuda(cuda::butterfly_fft_first_subrow_stage(plan, &first), kOp, "querying shared memory");
    return first > 0;
  }
  int64_t cache_bytes() const {
    int64_t bytes = 0;
    check_cuda(cuda::butterfly_fft_cache_bytes(&bytes), kOp, "querying the L2 cache size");
    return bytes;
  }
  int64_t correlation_splits(const cuda::ButterflyPlan& plan, int64_t B, int64_t H) const {
    int64_t splits = 0;
    check_cuda(cuda::butterfly_fft_correlation_splits(plan, B, H, &splits), kOp, "querying the device");
    return splits;
  }
  template <typename X>
  void correlate_fused(const cuda::fft::FftJob<X, float>& job, cuda::fft::Cx<float>* partials, int64_t splits) const {
    check_cuda(cuda::butterfly_fft_correlate_fused(job, partials, splits, stream), kOp, "kernel-gradient correlation");
  }
  void fill_twiddles(cuda::fft::Cx<float>* table, int64_t n) const {
    check_cuda(cuda::butterfly_fft_twiddles(table, n, stream), kOp, "twiddle table");
  }
  void correlate(const cuda::fft::Cx<float>* U, const cuda::fft::Cx<float>* G, cuda::fft::Cx<float>* GK,
                 const cuda::ButterflyPlan& plan, int64_t B, int64_t H) const {
    check_cuda(cuda::butterfly_fft_correlate(U, G, GK, plan, B, H, stream), kOp, "spectrum correlation");
  }
};

template <typename T>
using CudaFft = ButterflyFft<T, float, CudaRunner>;

template <typename T>
at::Tensor fft_kernel_spectrum(const CudaFft<T>& f, const at::Tensor& k, const at::Tensor& k_rev, cuda::ConvDtype dt) {
  const auto& s = f.s;
  at::Tensor kpad = at::empty({s.H, s.n}, k.options().dtype(at::kFloat));  // (H, n)
  const cuda::ConvShape shape{s.B, s.H, s.L, s.Lk, s.n};
  check_cuda(cuda::conv_pad_kernel(k.const_data_ptr(), k_rev.defined() ? k_rev.const_data_ptr() : nullptr,
                                   kpad.mutable_data_ptr<float>(), shape, dt, f.runner.stream),
             kOp, "kernel padding");
  return f.template spectrum<float>(kpad, s.H, s.n);
}

template <typename T>
at::Tensor fft_forward(const ButterflyConvSizes& s, const at::Tensor& u, const at::Tensor& k, const at::Tensor& D,
                       const at::Tensor& k_rev, cuda::ConvDtype dt) {
  const CudaFft<T> f(s, {at::cuda::getCurrentCUDAStream()}, u.options());
  at::Tensor y = at::empty_like(u);  // (B, H, L)
  if (s.B > 0) f.convolve(u, fft_kernel_spectrum(f, k, k_rev, dt), false, D, y);
  return y;
}

template <typename T>
ButterflyConvGrads fft_backward(const ButterflyConvSizes& s, const at::Tensor& g, const at::Tensor& u,
                                const at::Tensor& k, const at::Tensor& D, const at::Tensor& k_rev, cuda::ConvDtype dt,
                                std::array<bool, 5> mask) {
  const CudaFft<T> f(s, {at::cuda::getCurrentCUDAStream()}, u.options());
  at::Tensor du, dk, dD, dk_rev;
  if (mask[0]) {
    du = at::empty_like(u);  // (B, H, L)
    f.convolve(g, fft_kernel_spectrum(f, k, k_rev, dt), true, D, du);
  }
  if (mask[1] || (mask[3] && s.has_k_rev)) {
    const at::Tensor kg = f.kernel_grad(g, u);  // (H, n) float: gradient of the circular kernel
    if (mask[1]) dk = kg.narrow(1, 0, s.Lk).to(u.scalar_type()).contiguous();
    if (mask[3] && s.has_k_rev) dk_rev = kg.narrow(1, s.n - s.Lk, s.Lk).flip({1}).to(u.scalar_type());
  }
  if (mask[2] && s.has_D) dD = (g.to(at::kFloat) * u.to(at::kFloat)).sum(at::IntArrayRef{0, 2}).to(u.scalar_type());
  return {du, dk, dD, dk_rev, {}};
}

#define SSM_FFT_DTYPE_DISPATCH(dt, CALL)                       \
  switch (dt) {                                                \
    case cuda::ConvDtype::kFloat32: return CALL(float);        \
    case cuda::ConvDtype::kBFloat16: return CALL(__nv_bfloat16); \
    case cuda::ConvDtype::kFloat16: return CALL(__half);       \
  }                                                            \
  TORCH_INTERNAL_ASSERT(false, "unreachable dtype")

at::Tensor opt_contiguous(const OptTensor& t) { return t.has_value() && t->defined() ? t->contiguous() : at::Tensor(); }

}  // namespace

at::Tensor butterfly_conv_cuda(const at::Tensor& u, const at::Tensor& k, const OptTensor& D, const OptTensor& k_rev,
                               const OptTensorList& factors) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  auto sizes = check_butterfly_conv("ssm::butterfly_conv", u, k, D, k_rev, factors);
  const c10::cuda::CUDAGuard guard(u.device());
  if (!sizes.has_factors) {
    const cuda::ConvDtype dt = conv_dtype(u.scalar_type(), kOp);
    const at::Tensor uc = u.contiguous(), kc = k.contiguous(), Dc = opt_contiguous(D), kr = opt_contiguous(k_rev);
#define SSM_CALL(T) fft_forward<T>(sizes, uc, kc, Dc, kr, dt)
    SSM_FFT_DTYPE_DISPATCH(dt, SSM_CALL);
#undef SSM_CALL
  }
  const Setup st = prepare(std::move(sizes), u, k, D, k_rev, factors);
  at::Tensor y = at::empty_like(st.u);
  if (st.s.B == 0) return y;
  const at::Tensor Khat = kernel_spectrum(st, st.Fl);
  convolve(st, st.u, Khat, st.Fl, st.Fe, y);
  return y;
}

ButterflyConvGrads butterfly_conv_backward_cuda(const at::Tensor& grad_y, const at::Tensor& u, const at::Tensor& k,
                                                const OptTensor& D, const OptTensor& k_rev,
                                                const OptTensorList& factors, std::array<bool, 5> mask) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  if (factors.has_value()) return butterfly_conv_backward_aten(grad_y, u, k, D, k_rev, factors, mask);
  auto sizes = check_butterfly_conv("ssm::butterfly_conv_backward", u, k, D, k_rev, factors);
  check_same_as("ssm::butterfly_conv_backward", "grad_y", grad_y, "u", u);
  const c10::cuda::CUDAGuard guard(u.device());
  if (sizes.B == 0)
    return {mask[0] ? at::empty_like(u) : at::Tensor(), mask[1] ? at::zeros_like(k) : at::Tensor(),
            mask[2] && sizes.has_D ? at::zeros_like(*D) : at::Tensor(),
            mask[3] && sizes.has_k_rev ? at::zeros_like(*k_rev) : at::Tensor(), {}};
  const cuda::ConvDtype dt = conv_dtype(u.scalar_type(), kOp);
  const at::Tensor g = grad_y.contiguous(), uc = u.contiguous(), kc = k.contiguous(), Dc = opt_contiguous(D),
                   kr = opt_contiguous(k_rev);
#define SSM_CALL(T) fft_backward<T>(sizes, g, uc, kc, Dc, kr, dt, mask)
  SSM_FFT_DTYPE_DISPATCH(dt, SSM_CALL);
#undef SSM_CALL
}

}  // namespace ssm::ops
