// ssm::butterfly_conv through LibTorch operators: each butterfly stage is one batched complex matrix product (BLAS
// cgemm/zgemm on the CPU, cuBLAS on CUDA) plus a twiddle multiply. The stage algebra is described in butterfly_conv.h.
//
// Rows are processed in chunks of about kChunkElements complex numbers so that a chunk's intermediates stay in cache
// on the CPU (and bounded in memory on CUDA); CPU chunks run in parallel.
#include "ops/butterfly_conv/butterfly_conv.h"

#include "ssm/ops/fft_conv.h"
#include "ssm/ops/butterfly_conv.h"

#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/ones_like.h>
#include <ATen/ops/polar.h>
#include <ATen/ops/real.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <tuple>

namespace ssm::ops {

namespace {

// Complex elements per chunk tensor. CPU: 2^17 (1 MiB of complex64) measured fastest among 2^15, 2^17 and 2^19 for
// B=50, H=64, L=784 on the 2-core development machine (fwd+bwd 95 ms against 131 and 129 ms).
constexpr int64_t kChunkElementsCpu = int64_t{1} << 17;
constexpr int64_t kChunkElementsGpu = int64_t{1} << 24;

// Twiddles of every stage, (r, m) each, cached per (n, dtype, device): computing them costs about one transform.
std::vector<at::Tensor> twiddles(const std::vector<ButterflyStage>& stages, at::ScalarType cdt, at::Device device) {
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int, std::string>, std::vector<at::Tensor>> cache;
  const int64_t n = stages.front().r * stages.front().m;
  const auto key = std::make_tuple(n, static_cast<int>(cdt), device.str());
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  if (cache.size() >= 32) cache.clear();
  at::AutoDispatchBelowADInplaceOrView no_autograd;
  std::vector<at::Tensor> tw;
  for (const auto& st : stages) {
    const int64_t N = st.r * st.m;
    const auto o = at::TensorOptions().dtype(at::kLong);
    const at::Tensor aj = at::arange(st.r, o).unsqueeze(1) * at::arange(st.m, o).unsqueeze(0) % N;  // (r, m)
    const at::Tensor angle = aj.to(at::kDouble) * (-2.0 * M_PI / static_cast<double>(N));
    tw.push_back(at::polar(at::ones_like(angle), angle).to(cdt).to(device));
  }
  cache.emplace(key, tw);
  return tw;
}

// The factor of stage k for channels [h0, h0 + hc): (r, r) shared, or the (hc, r, r) slice.
at::Tensor factor_slice(const at::Tensor& F, int64_t h0, int64_t hc) {
  return F.dim() == 3 ? F.narrow(0, h0, hc) : F;
}

// M (r, r) or (Hc, r, r) applied along the radix axis of X (Bc, Hc, n) viewed as (Bc, Hc, P, r, m): returns
// (Bc, Hc, n) contiguous, multiplied by the twiddles tw (r, m) when given. Both forms work on the data as it lies, with
// no permutation: for m > 1 one broadcast batch of (r, r) @ (r, m) products; for m = 1 (the last stage) X M^T over
// rows of r. Measured (docs/benchmarks.md): permuting the radix axis to the front and back instead made the CPU
// path about 3x slower.
at::Tensor apply_stage(const at::Tensor& X, const at::Tensor& M, const ButterflyStage& st, const at::Tensor& tw) {
  const int64_t Bc = X.size(0), Hc = X.size(1);
  const bool pc = M.dim() == 3;
  if (st.m == 1) {
    const at::Tensor Xm = X.view({Bc, Hc, st.P, st.r});
    return at::matmul(Xm, pc ? M.transpose(1, 2).unsqueeze(0) : M.t()).view({Bc, Hc, -1});
  }
  at::Tensor Y = at::matmul(pc ? M.unsqueeze(0).unsqueeze(2) : M, X.view({Bc, Hc, st.P, st.r, st.m}));
  if (tw.defined()) Y.mul_(tw);
  return Y.view({Bc, Hc, -1});
}

// sum over rows and positions of G X^H for stage st (the gradient of its matrix), shaped like the matrix.
at::Tensor stage_matrix_grad(const at::Tensor& G, const at::Tensor& X, const ButterflyStage& st, bool pc) {
  const int64_t Bc = X.size(0), Hc = X.size(1);
  if (st.m == 1) {
    if (!pc) return at::mm(G.view({-1, st.r}).t(), X.view({-1, st.r}).conj());
    const at::Tensor Gm = G.view({Bc, Hc, st.P, st.r}), Xm = X.view({Bc, Hc, st.P, st.r});
    return at::matmul(Gm.transpose(-1, -2), Xm.conj()).sum(0);  // (Hc, r, r)
  }
  const at::Tensor Y = at::matmul(G.view({Bc, Hc, st.P, st.r, st.m}),
                                  X.view({Bc, Hc, st.P, st.r, st.m}).transpose(-1, -2).conj());  // (Bc, Hc, P, r, r)
  return pc ? Y.sum(at::IntArrayRef{0, 2}) : Y.sum(at::IntArrayRef{0, 1, 2});
}

// Forward stages on X (Bc, Hc, n) complex: the butterfly transform in digit-reversed order. When `saved` is given,
// the input of every stage is appended to it (for factor gradients).
at::Tensor forward_stages(at::Tensor X, const std::vector<at::Tensor>& F, const std::vector<ButterflyStage>& stages,
                          const std::vector<at::Tensor>& tw, std::vector<at::Tensor>* saved) {
  for (size_t k = 0; k < stages.size(); ++k) {
    if (saved) saved->push_back(X);
    X = apply_stage(X, F[k], stages[k], stages[k].m > 1 ? tw[k] : at::Tensor());
  }
  return X;
}

// The adjoint (conjugate transpose) of forward_stages applied to Z (Bc, Hc, n): the stages in reverse order with
// conjugated twiddles and F^H. With saved inputs and grads, adds each factor's gradient sum(G X^H) to grads[k]
// (shape of F[k]).
at::Tensor adjoint_stages(at::Tensor Z, const std::vector<at::Tensor>& F, const std::vector<ButterflyStage>& stages,
                          const std::vector<at::Tensor>& tw, const std::vector<at::Tensor>* saved,
                          std::vector<at::Tensor>* grads) {
  const int64_t Bc = Z.size(0), Hc = Z.size(1);
  for (size_t kk = stages.size(); kk-- > 0;) {
    const auto& st = stages[kk];
    if (st.m > 1) Z = (Z.view({Bc, Hc, st.P, st.r, st.m}) * tw[kk].conj()).view({Bc, Hc, -1});
    // Z is now the gradient before the twiddle.
    if (grads) (*grads)[kk].add_(stage_matrix_grad(Z, (*saved)[kk], st, F[kk].dim() == 3));
    Z = apply_stage(Z, F[kk].transpose(-2, -1).conj(), st, at::Tensor());
  }
  return Z;
}

// (Bc, Hc, Lx) real rows zero-padded to (Bc, Hc, n) complex.
at::Tensor pad_complex(const at::Tensor& x, int64_t n, at::ScalarType cdt) {
  at::Tensor X = at::zeros({x.size(0), x.size(1), n}, x.options().dtype(cdt));
  at::real(X).narrow(2, 0, x.size(2)).copy_(x);
  return X;
}

// The circular kernel of length n as (1, H, n) complex: k at 0..Lk-1, k_rev[d] at n-1-d.
at::Tensor kernel_pad(const at::Tensor& k, const OptTensor& k_rev, int64_t n, at::ScalarType cdt) {
  at::Tensor X = at::zeros({1, k.size(0), n}, k.options().dtype(cdt));
  at::Tensor re = at::real(X).select(0, 0);
  re.narrow(1, 0, k.size(1)).copy_(k);
  if (k_rev && k_rev->defined()) re.narrow(1, n - k.size(1), k.size(1)).add_(k_rev->flip({1}));
  return X;
}

struct Setup {
  at::ScalarType cdt, compute;  // complex and real compute dtypes
  std::vector<at::Tensor> Fl, Fe, tw;  // factors of the learned (or exact) transform, exact factors, twiddles
  int64_t hc, bc;                      // chunk sizes over channels and batch
};

Setup setup(const ButterflyConvSizes& s, const at::Tensor& u, const OptTensorList& factors) {
  Setup st;
  st.compute = u.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  st.cdt = st.compute == at::kDouble ? at::kComplexDouble : at::kComplexFloat;
  st.Fe = exact_dft_factors(s.n, st.cdt, u.device());
  if (s.has_factors)
    st.Fl.assign(factors->begin(), factors->end());
  else
    st.Fl = st.Fe;
  st.tw = twiddles(s.stages, st.cdt, u.device());
  const int64_t budget = u.is_cuda() ? kChunkElementsGpu : kChunkElementsCpu;
  st.hc = std::clamp<int64_t>(budget / s.n, 1, s.H);
  if (!u.is_cuda()) {  // at least two channel blocks per thread: the backward parallelizes over them
    const int64_t threads = at::get_num_threads();
    st.hc = std::min(st.hc, std::max<int64_t>(1, (s.H + 2 * threads - 1) / (2 * threads)));
  }
  st.bc = std::clamp<int64_t>(budget / (s.n * st.hc), 1, s.B);
  return st;
}

std::vector<at::Tensor> slice_all(const std::vector<at::Tensor>& F, int64_t h0, int64_t hc) {
  std::vector<at::Tensor> out;
  for (const auto& f : F) out.push_back(factor_slice(f, h0, hc));
  return out;
}

}  // namespace

at::Tensor butterfly_conv_aten(const at::Tensor& u_in, const at::Tensor& k_in, const OptTensor& D_in,
                               const OptTensor& k_rev_in, const OptTensorList& factors) {
  const auto s = check_butterfly_conv("ssm::butterfly_conv", u_in, k_in, D_in, k_rev_in, factors);
  at::AutoDispatchBelowADInplaceOrView no_autograd;
  const Setup st = setup(s, u_in, factors);
  const at::Tensor u = u_in.to(st.compute).contiguous();
  const at::Tensor k = k_in.to(st.compute);
  const OptTensor k_rev = s.has_k_rev ? OptTensor(k_rev_in->to(st.compute)) : std::nullopt;
  const at::Tensor D = s.has_D ? D_in->to(st.compute) : at::Tensor();
  at::Tensor y = at::empty({s.B, s.H, s.L}, u.options());
  if (s.B == 0) return y.to(u_in.scalar_type());
  const at::Tensor Khat = forward_stages(kernel_pad(k, k_rev, s.n, st.cdt), st.Fl, s.stages, st.tw, nullptr);
  const int64_t nh = (s.H + st.hc - 1) / st.hc, nb = (s.B + st.bc - 1) / st.bc;
  const double inv_n = 1.0 / static_cast<double>(s.n);
  auto chunk = [&](int64_t c) {
    const int64_t h0 = (c % nh) * st.hc, hc = std::min(st.hc, s.H - h0);
    const int64_t b0 = (c / nh) * st.bc, bc = std::min(st.bc, s.B - b0);
    const at::Tensor uc = u.narrow(0, b0, bc).narrow(1, h0, hc);
    const at::Tensor U = forward_stages(pad_complex(uc, s.n, st.cdt), slice_all(st.Fl, h0, hc), s.stages, st.tw,
                                        nullptr);
    const at::Tensor W = adjoint_stages(U * Khat.narrow(1, h0, hc), st.Fe, s.stages, st.tw, nullptr, nullptr);
    at::Tensor yc = at::real(W).narrow(2, 0, s.L) * inv_n;
    if (s.has_D) yc.add_(uc * D.narrow(0, h0, hc).view({1, hc, 1}));
    y.narrow(0, b0, bc).narrow(1, h0, hc).copy_(yc);
  };
  if (u.is_cuda()) {
    for (int64_t c = 0; c < nh * nb; ++c) chunk(c);
  } else {
    at::parallel_for(0, nh * nb, 1, [&](int64_t cb, int64_t ce) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      at::AutoDispatchBelowADInplaceOrView guard;
      for (int64_t c = cb; c < ce; ++c) chunk(c);
    });
  }
  return y.to(u_in.scalar_type());
}

ButterflyConvGrads butterfly_conv_backward_aten(const at::Tensor& grad_in, const at::Tensor& u_in,
                                                const at::Tensor& k_in, const OptTensor& D_in,
                                                const OptTensor& k_rev_in, const OptTensorList& factors,
                                                std::array<bool, 5> mask) {
  const auto s = check_butterfly_conv("ssm::butterfly_conv_backward", u_in, k_in, D_in, k_rev_in, factors);
  check_same_as("ssm::butterfly_conv_backward", "grad_y", grad_in, "u", u_in);
  at::AutoDispatchBelowADInplaceOrView no_autograd;
  const Setup st = setup(s, u_in, factors);
  const bool need_du = mask[0], need_dD = mask[2] && s.has_D, need_F = mask[4] && s.has_factors;
  const bool need_dk = mask[1] || (mask[3] && s.has_k_rev);
  const bool need_GK = need_dk || need_F;
  const at::Tensor u = u_in.to(st.compute).contiguous(), g = grad_in.to(st.compute).contiguous();
  const at::Tensor k = k_in.to(st.compute);
  const OptTensor k_rev = s.has_k_rev ? OptTensor(k_rev_in->to(st.compute)) : std::nullopt;
  const at::Tensor D = s.has_D ? D_in->to(st.compute) : at::Tensor();

  std::vector<at::Tensor> saved_k;
  const at::Tensor Khat =
      forward_stages(kernel_pad(k, k_rev, s.n, st.cdt), st.Fl, s.stages, st.tw, need_F ? &saved_k : nullptr);
  at::Tensor du = need_du ? at::empty_like(u) : at::Tensor();
  at::Tensor GK = need_GK ? at::zeros({1, s.H, s.n}, u.options().dtype(st.cdt)) : at::Tensor();
  at::Tensor dD = need_dD ? at::zeros({s.B, s.H}, u.options().dtype(at::kDouble)) : at::Tensor();
  const int64_t nh = (s.H + st.hc - 1) / st.hc;
  // Factor gradients: per channel, each task writes its own channels; shared, each task its own partial sum.
  std::vector<at::Tensor> dF;
  std::vector<std::vector<at::Tensor>> partial(need_F && !s.per_channel ? nh : 0);
  if (need_F)
    for (const auto& F : *factors) dF.push_back(at::zeros_like(F));
  for (auto& p : partial)
    for (const auto& F : *factors) p.push_back(at::zeros_like(F));
  const double inv_n = 1.0 / static_cast<double>(s.n);

  auto task = [&](int64_t t) {  // channels [h0, h0 + hc), every batch chunk
    const int64_t h0 = t * st.hc, hc = std::min(st.hc, s.H - h0);
    const auto Fl = slice_all(st.Fl, h0, hc);
    std::vector<at::Tensor> grads;
    if (need_F) grads = s.per_channel ? slice_all(dF, h0, hc) : partial[t];
    const at::Tensor Kc = Khat.narrow(1, h0, hc);
    for (int64_t b0 = 0; b0 < s.B; b0 += st.bc) {
      const int64_t bc = std::min(st.bc, s.B - b0);
      const at::Tensor gc = g.narrow(0, b0, bc).narrow(1, h0, hc), uc = u.narrow(0, b0, bc).narrow(1, h0, hc);
      if (need_dD)
        dD.narrow(0, b0, bc).narrow(1, h0, hc).copy_((gc.to(at::kDouble) * uc.to(at::kDouble)).sum(2));
      if (!need_du && !need_GK) continue;
      // Gradient of the spectrum product: (S g) / n, S the exact transform (adjoint of the exact inverse).
      const at::Tensor Gz = forward_stages(pad_complex(gc, s.n, st.cdt), st.Fe, s.stages, st.tw, nullptr) * inv_n;
      std::vector<at::Tensor> saved_u;
      at::Tensor U;
      if (need_GK) U = forward_stages(pad_complex(uc, s.n, st.cdt), Fl, s.stages, st.tw, need_F ? &saved_u : nullptr);
      if (need_du || need_F) {
        const at::Tensor X = adjoint_stages(Gz * Kc.conj(), Fl, s.stages, st.tw, need_F ? &saved_u : nullptr,
                                            need_F ? &grads : nullptr);
        if (need_du) {
          at::Tensor dc = at::real(X).narrow(2, 0, s.L).clone();
          if (s.has_D) dc.add_(gc * D.narrow(0, h0, hc).view({1, hc, 1}));
          du.narrow(0, b0, bc).narrow(1, h0, hc).copy_(dc);
        }
      }
      if (need_GK) GK.narrow(1, h0, hc).add_((Gz * U.conj()).sum(0, /*keepdim=*/true));
    }
  };
  if (u.is_cuda()) {
    for (int64_t t = 0; t < nh; ++t) task(t);
  } else {
    at::parallel_for(0, nh, 1, [&](int64_t tb, int64_t te) {
      const FlushDenormals no_denormals;  // see ops/common/library.h
      at::AutoDispatchBelowADInplaceOrView guard;
      for (int64_t t = tb; t < te; ++t) task(t);
    });
  }
  for (const auto& p : partial)
    for (size_t i = 0; i < p.size(); ++i) dF[i].add_(p[i]);

  at::Tensor dk, dk_rev, dD_out;
  if (need_GK) {
    const at::Tensor Xk = adjoint_stages(GK, st.Fl, s.stages, st.tw, need_F ? &saved_k : nullptr, need_F ? &dF : nullptr);
    if (need_dk) {
      const at::Tensor kg = at::real(Xk).select(0, 0);  // (H, n): gradient of the circular kernel
      if (mask[1]) dk = kg.narrow(1, 0, s.Lk).to(k_in.scalar_type()).contiguous();
      if (mask[3] && s.has_k_rev) dk_rev = kg.narrow(1, s.n - s.Lk, s.Lk).flip({1}).to(k_in.scalar_type()).contiguous();
    }
  }
  if (need_dD) dD_out = dD.sum(0).to(u_in.scalar_type());
  if (need_du) du = du.to(u_in.scalar_type());
  if (!need_F) dF.clear();
  return {du, dk, dD_out, dk_rev, dF};
}

}  // namespace ssm::ops
