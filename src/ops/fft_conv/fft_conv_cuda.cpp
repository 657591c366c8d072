// CUDA glue of ssm::fft_conv: checks, buffers from the caching allocator, cuFFT plans, the pointwise kernels of
// cuda/fft_conv/fft_conv.cu. Forward: pad u -> R2C -> multiply by the kernel spectrum (1/n folded in) -> C2R -> crop + D u.
// Backward recomputes the spectra instead of saving them (less memory, and on the GPU a transform costs about what
// storing and re-reading a spectrum would).
#include "fft_conv/fft_conv.h"
#include "ops/fft_conv/fft_conv.h"
#include "ssm/ops/fft_conv.h"
#include "ops/fft_conv/conv_cuda.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <c10/cuda/CUDAGuard.h>

namespace ssm::ops {
namespace {

constexpr const char* kOp = "ssm::fft_conv";

// One real FFT of `rows` rows of length n through the plan cache, with its work area from the caching allocator.
void run_fft(const at::Tensor& in, const at::Tensor& out, int64_t rows, int64_t n, bool inverse) {
  const int device = in.get_device();
  size_t work_bytes = 0;
  int st = cuda::fft_work_size(device, n, rows, inverse, &work_bytes);
  TORCH_CHECK(st == 0, "ssm::fft_conv: cuFFT plan (n = ", n, ", batch = ", rows, ") failed: ",
              cuda::fft_error_string(st));
  at::Tensor work = at::empty({static_cast<int64_t>(work_bytes)}, in.options().dtype(at::kByte));
  st = cuda::fft_exec(device, n, rows, inverse, in.data_ptr(), out.data_ptr(), work.data_ptr(),
                      at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(st == 0, "ssm::fft_conv: cuFFT execution (n = ", n, ", batch = ", rows, ") failed: ",
              cuda::fft_error_string(st));
}

// Spectrum of the circular kernel (H, n/2+1), complex64.
at::Tensor kernel_spectrum(const at::Tensor& k, const OptTensor& k_rev, const cuda::ConvShape& s,
                           cuda::ConvDtype dt) {
  const auto f32 = k.options().dtype(at::kFloat);
  at::Tensor kpad = at::empty({s.H, s.n}, f32);  // (H, n)
  const void* krev = (k_rev && k_rev->defined()) ? k_rev->const_data_ptr() : nullptr;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  check_cuda(cuda::conv_pad_kernel(k.const_data_ptr(), krev, kpad.mutable_data_ptr<float>(), s, dt, stream), kOp,
             "kernel padding");
  at::Tensor kf = at::empty({s.H, s.n / 2 + 1}, k.options().dtype(at::kComplexFloat));  // (H, F)
  run_fft(kpad, kf, s.H, s.n, false);
  return kf;
}

// R2C spectrum of (rows, L) rows zero-padded to n: (rows, n/2+1) complex64.
at::Tensor row_spectrum(const at::Tensor& x, const cuda::ConvShape& s, cuda::ConvDtype dt, at::Tensor& pad) {
  const int64_t rows = s.B * s.H;
  check_cuda(cuda::conv_pad_rows(x.const_data_ptr(), pad.mutable_data_ptr<float>(), rows, s.L, s.n, dt,
                                 at::cuda::getCurrentCUDAStream()), kOp,
             "input padding");
  at::Tensor spec = at::empty({rows, s.n / 2 + 1}, x.options().dtype(at::kComplexFloat));  // (rows, F)
  run_fft(pad, spec, rows, s.n, false);
  return spec;
}

struct Prepared {
  cuda::ConvShape shape;
  cuda::ConvDtype dt;
  at::Tensor u, k, D, k_rev;  // contiguous
};

// s: the sizes check_fft_conv returned (the checks run before the device guard, since u may be a CPU tensor).
Prepared prepare(const FftConvSizes<>& s, const at::Tensor& u, const at::Tensor& k, const OptTensor& D,
                 const OptTensor& k_rev) {
  Prepared p;
  p.shape = {s.B, s.H, s.L, s.Lk, fft_conv_size(s.L, s.Lk, s.has_k_rev)};
  p.dt = conv_dtype(u.scalar_type(), kOp);
  p.u = u.contiguous();
  p.k = k.contiguous();
  if (s.has_D) p.D = D->contiguous();
  if (s.has_k_rev) p.k_rev = k_rev->contiguous();
  return p;
}

}  // namespace

at::Tensor fft_conv_cuda(const at::Tensor& u_in, const at::Tensor& k_in, const OptTensor& D_in,
                         const OptTensor& k_rev_in) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto sizes = check_fft_conv("ssm::fft_conv", u_in, k_in, D_in, k_rev_in);
  const c10::cuda::CUDAGuard guard(u_in.device());
  const Prepared p = prepare(sizes, u_in, k_in, D_in, k_rev_in);
  const auto& s = p.shape;
  const int64_t rows = s.B * s.H, F = s.n / 2 + 1;
  at::Tensor y = at::empty_like(p.u);  // (B, H, L)
  if (rows == 0) return y;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const at::Tensor kf = kernel_spectrum(p.k, p.k_rev, s, p.dt);              // (H, F)
  at::Tensor pad = at::empty({rows, s.n}, p.u.options().dtype(at::kFloat));  // (rows, n)
  at::Tensor U = row_spectrum(p.u, s, p.dt, pad);                            // (rows, F)
  check_cuda(cuda::conv_spectral_mul(reinterpret_cast<const float2*>(U.const_data_ptr()),
                                     reinterpret_cast<const float2*>(kf.const_data_ptr()),
                                     reinterpret_cast<float2*>(U.mutable_data_ptr()), rows, s.H, F,
                                     1.0f / static_cast<float>(s.n), false, stream), kOp,
             "spectral product");
  run_fft(U, pad, rows, s.n, true);  // pad now holds the circular convolution (rows, n)
  check_cuda(cuda::conv_crop_skip(pad.const_data_ptr<float>(), p.u.const_data_ptr(),
                                  p.D.defined() ? p.D.const_data_ptr() : nullptr, y.mutable_data_ptr(), s, p.dt,
                                  stream), kOp,
             "crop and skip");
  return y;
}

FftConvGrads fft_conv_backward_cuda(const at::Tensor& grad_in, const at::Tensor& u_in, const at::Tensor& k_in,
                                    const OptTensor& D_in, const OptTensor& k_rev_in, std::array<bool, 4> mask) {
  const KernelDispatchScope dispatch_scope;  // see ops/common/library.h
  const auto sizes = check_fft_conv("ssm::fft_conv_backward", u_in, k_in, D_in, k_rev_in);
  check_fft_conv_grad(grad_in, u_in);
  const c10::cuda::CUDAGuard guard(u_in.device());
  const Prepared p = prepare(sizes, u_in, k_in, D_in, k_rev_in);
  const auto& s = p.shape;
  const bool has_k_rev = p.k_rev.defined();
  const bool need_du = mask[0], need_D = mask[2] && p.D.defined();
  const bool need_k = mask[1] || (mask[3] && has_k_rev);
  const int64_t rows = s.B * s.H, F = s.n / 2 + 1;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const at::Tensor dy = grad_in.contiguous();
  at::Tensor du, dk, dD, dk_rev;
  if (need_D) {
    dD = at::empty_like(p.D);
    check_cuda(cuda::conv_skip_grad(dy.const_data_ptr(), p.u.const_data_ptr(), dD.mutable_data_ptr(), s, p.dt,
                                    stream), kOp,
               "skip gradient");
  }
  if (!(need_du || need_k) || rows == 0) {
    if (need_du) du = at::zeros_like(p.u);
    if (mask[1]) dk = at::zeros_like(p.k);
    if (mask[3] && has_k_rev) dk_rev = at::zeros_like(p.k_rev);
    return {du, dk, dD, dk_rev};
  }
  at::Tensor pad = at::empty({rows, s.n}, p.u.options().dtype(at::kFloat));  // (rows, n)
  at::Tensor DY = row_spectrum(dy, s, p.dt, pad);                            // (rows, F)
  if (need_k) {
    at::Tensor U = row_spectrum(p.u, s, p.dt, pad);                                   // (rows, F)
    at::Tensor G = at::empty({s.H, F}, p.u.options().dtype(at::kComplexFloat));       // (H, F)
    check_cuda(cuda::conv_batch_correlate(reinterpret_cast<const float2*>(DY.const_data_ptr()),
                                          reinterpret_cast<const float2*>(U.const_data_ptr()),
                                          reinterpret_cast<float2*>(G.mutable_data_ptr()), s,
                                          1.0f / static_cast<float>(s.n), stream), kOp,
               "kernel-gradient reduction");
    at::Tensor g = at::empty({s.H, s.n}, p.u.options().dtype(at::kFloat));  // (H, n)
    run_fft(G, g, s.H, s.n, true);
    if (mask[1]) dk = at::empty_like(p.k);
    if (mask[3] && has_k_rev) dk_rev = at::empty_like(p.k_rev);
    check_cuda(cuda::conv_extract_kernel_grad(g.const_data_ptr<float>(), dk.defined() ? dk.mutable_data_ptr() : nullptr,
                                              dk_rev.defined() ? dk_rev.mutable_data_ptr() : nullptr, s, p.dt,
                                              stream), kOp,
               "kernel-gradient crop");
  }
  if (need_du) {
    const at::Tensor kf = kernel_spectrum(p.k, p.k_rev, s, p.dt);  // (H, F)
    check_cuda(cuda::conv_spectral_mul(reinterpret_cast<const float2*>(DY.const_data_ptr()),
                                       reinterpret_cast<const float2*>(kf.const_data_ptr()),
                                       reinterpret_cast<float2*>(DY.mutable_data_ptr()), rows, s.H, F,
                                       1.0f / static_cast<float>(s.n), true, stream), kOp,
               "spectral correlation");
    run_fft(DY, pad, rows, s.n, true);
    du = at::empty_like(p.u);
    check_cuda(cuda::conv_crop_skip(pad.const_data_ptr<float>(), dy.const_data_ptr(),
                                    p.D.defined() ? p.D.const_data_ptr() : nullptr, du.mutable_data_ptr(), s, p.dt,
                                    stream), kOp,
               "crop and skip");
  }
  return {du, dk, dD, dk_rev};
}

}  // namespace ssm::ops
