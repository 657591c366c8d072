#include "layers/ptd.h"

#include "io/atomic_write.h"
#include "layers/hippo.h"

#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace ssm::layers {
namespace {

void finish(PtdResult& r) {
  torch::NoGradGuard g;
  const torch::Tensor M = r.A_H.to(torch::kComplexDouble) + r.E;
  auto [w, V] = torch::linalg_eig(M);
  r.Lambda = w;
  r.V = V;
  r.V_inv = torch::linalg_inv(V);
  const torch::Tensor s = torch::linalg_svdvals(V);
  r.kappa = (s[0] / s[-1]).item<double>();
  r.e_ratio = (torch::linalg_matrix_norm(r.E, 2) / torch::linalg_matrix_norm(r.A_H, 2)).item<double>();
  const torch::Tensor R = torch::matmul(V * w.unsqueeze(0), r.V_inv);
  r.reconstruction = (torch::linalg_norm(R - M) / torch::linalg_norm(M)).item<double>();
}

std::string cache_name(const PtdOptions& o) {
  std::ostringstream s;
  s.precision(10);
  s << "ptd-n" << o.n << "-lambda" << o.lambda << "-it" << o.iterations << "-lr" << o.lr << "-seed" << o.seed << ".pt";
  return s.str();
}

}  // namespace

at::Tensor hippo_legs_positive(int64_t n) { return -hippo_legs(n).first; }

PtdResult compute_ptd(const PtdOptions& o) {
  if (o.n < 1) throw std::invalid_argument("ptd: n must be >= 1, got " + std::to_string(o.n));
  if (o.iterations < 0) throw std::invalid_argument("ptd: iterations must be >= 0");
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  torch::AutoGradMode grad_on(true);  // callers may be building a model under NoGradGuard
  PtdResult r;
  r.A_H = hippo_legs_positive(o.n);
  const torch::Tensor AH = r.A_H.to(torch::kComplexDouble);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  // E as two real tensors: Adam then treats real and imaginary parts alike.
  torch::Tensor Er = (torch::rand({o.n, o.n}, gen, f64) * 0.1).requires_grad_(true);
  torch::Tensor Ei = (torch::rand({o.n, o.n}, gen, f64) * 0.1).requires_grad_(true);
  torch::optim::Adam adam({Er, Ei}, torch::optim::AdamOptions(o.lr));
  for (int64_t it = 0; it < o.iterations; ++it) {
    if (it > 0 && it % 100 == 0)
      for (auto& group : adam.param_groups()) {
        auto& opts = static_cast<torch::optim::AdamOptions&>(group.options());
        opts.lr(opts.lr() * 0.98);
      }
    const torch::Tensor E = torch::complex(Er, Ei);
    auto [w, V] = torch::linalg_eig(AH + E);
    const torch::Tensor s = torch::linalg_svdvals(V);
    const torch::Tensor kappa = s[0] / s[-1];
    const torch::Tensor loss = kappa * kappa + o.lambda * torch::linalg_norm(E);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
  r.E = torch::complex(Er.detach(), Ei.detach());
  finish(r);
  return r;
}

at::Tensor ptd_state_matrix(const PtdResult& r) {
  return torch::complex(-torch::abs(torch::real(r.Lambda)), -torch::imag(r.Lambda));
}

std::string default_cache_dir() {
  if (const char* c = std::getenv("SSM_CACHE")) return c;
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/ssm";
  return "/tmp/ssm-cache";
}

PtdResult ptd(const PtdOptions& o, const std::string& cache_dir) {
  if (cache_dir.empty()) return compute_ptd(o);
  const std::filesystem::path path = std::filesystem::path(cache_dir) / cache_name(o);
  if (std::filesystem::exists(path)) {
    try {
      torch::serialize::InputArchive ar;
      ar.load_from(path.string());
      PtdResult r;
      torch::Tensor E;
      ar.read("E", E);
      if (E.dim() == 2 && E.size(0) == o.n && E.size(1) == o.n && E.scalar_type() == torch::kComplexDouble) {
        r.A_H = hippo_legs_positive(o.n);
        r.E = E;
        finish(r);
        return r;
      }
    } catch (const c10::Error&) {
      // an unreadable cache file: recompute and replace it below
    }
  }
  PtdResult r = compute_ptd(o);
  std::filesystem::create_directories(path.parent_path());
  torch::serialize::OutputArchive ar;
  ar.write("E", r.E);
  io::write_atomically(path, [&](const std::string& tmp) { ar.save_to(tmp); });
  return r;
}

}  // namespace ssm::layers
