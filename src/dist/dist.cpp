#include "dist/dist.h"

#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/view_as_complex.h>
#include <ATen/ops/view_as_real.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Exception.h>

#ifdef SSM_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef SSM_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace ssm::dist {
namespace {

// An integer environment variable; `fallback` when unset. Anything but a whole number is an error naming it.
int env_int(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < lo || x > hi)
    throw std::runtime_error(std::string("environment variable ") + name + "=" + v + ": expected a whole number in [" +
                             std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}

}  // namespace

Env read_env() {
  Env e;
  e.world = env_int("WORLD_SIZE", 1, 1, 1 << 20);
  e.rank = env_int("RANK", 0, 0, 1 << 20);
  if (e.rank >= e.world)
    throw std::runtime_error("environment variable RANK=" + std::to_string(e.rank) + " is not below WORLD_SIZE=" +
                             std::to_string(e.world));
  e.local_world = env_int("LOCAL_WORLD_SIZE", e.world, 1, e.world);
  e.local_rank = env_int("LOCAL_RANK", e.rank % e.local_world, 0, 1 << 20);
  if (e.local_rank >= e.local_world)
    throw std::runtime_error("environment variable LOCAL_RANK=" + std::to_string(e.local_rank) +
                             " is not below LOCAL_WORLD_SIZE=" + std::to_string(e.local_world));
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.addr = a;
  e.port = env_int("MASTER_PORT", 29500, 1, 65535);
  if (e.world > 1 && (!std::getenv("MASTER_ADDR") || !std::getenv("MASTER_PORT")))
    throw std::runtime_error("WORLD_SIZE=" + std::to_string(e.world) +
                             " but MASTER_ADDR or MASTER_PORT is not set (torchrun sets both; ssm train --nproc N "
                             "sets them for one machine)");
  return e;
}

bool have_gloo() {
#ifdef SSM_HAVE_GLOO
  return true;
#else
  return false;
#endif
}

bool have_nccl() {
#ifdef SSM_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

std::pair<int64_t, int64_t> shard(int64_t n, int rank, int world) {
  const int64_t q = n / world, r = n % world;
  return {rank * q + std::min<int64_t>(rank, r), q + (rank < r ? 1 : 0)};
}

#ifdef SSM_HAVE_GLOO

struct Group::Impl {
  Env env;
  std::chrono::milliseconds timeout;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::Backend> pg;
  // The heartbeat: every second this rank's counter in the store goes up, on a connection of its own.
  std::thread heart;
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;

  c10::intrusive_ptr<c10d::TCPStore> client(std::chrono::milliseconds t) const {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.port);
    o.isServer = false;
    o.timeout = t;
    return c10::make_intrusive<c10d::TCPStore>(env.addr, o);
  }
  static std::string alive_key(int r) { return "ssm/alive/" + std::to_string(r); }
};

Group::Group(const Env& env, bool cuda, std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.env = env;
  s.timeout = timeout;
  const std::string where = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world) + ": ";
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(env.port);
    o.isServer = env.rank == 0;
    o.numWorkers = env.world;
    o.waitWorkers = true;
    o.timeout = timeout;
    s.store = c10::make_intrusive<c10d::TCPStore>(env.addr, o);
  } catch (const std::exception& e) {
    throw std::runtime_error(where + "cannot meet the other ranks at " + env.addr + ":" + std::to_string(env.port) +
                             " within " + std::to_string(timeout.count() / 1000) + " s (" + e.what() + ")");
  }
  try {
    if (cuda) {
#ifdef SSM_HAVE_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout;
      s.pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(s.store, env.rank, env.world, o);
#else
      throw std::runtime_error("this build has no NCCL process group (built without CUDA or without nccl.h)");
#endif
    } else {
      auto o = c10d::ProcessGroupGloo::Options::create(timeout);
      o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      s.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(s.store, env.rank, env.world, o);
    }
  } catch (const c10::Error& e) {
    throw std::runtime_error(where + "cannot start the " + (cuda ? "NCCL" : "Gloo") +
                             " process group: " + e.what_without_backtrace());
  }
  s.heart = std::thread([this] {
    Impl& s = *impl_;
    try {
      auto c = s.client(std::chrono::milliseconds(5000));
      for (int64_t beat = 0;; ++beat) {
        const std::string v = std::to_string(beat);
        c->set(Impl::alive_key(s.env.rank), std::vector<uint8_t>(v.begin(), v.end()));
        std::unique_lock<std::mutex> lock(s.mu);
        if (s.cv.wait_for(lock, std::chrono::seconds(1), [&] { return s.stop; })) return;
      }
    } catch (const std::exception&) {
      // The store is gone (rank 0 ended): the collectives report it.
    }
  });
}

Group::~Group() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->heart.joinable()) impl_->heart.join();
}

int Group::rank() const { return impl_->env.rank; }
int Group::world() const { return impl_->env.world; }

void Group::fail(const std::string& during, const std::string& why) {
  const Env& e = impl_->env;
  std::string who;
  try {
    auto c = impl_->client(std::chrono::milliseconds(3000));
    auto read = [&] {
      std::vector<std::string> v(e.world);
      for (int r = 0; r < e.world; ++r) {
        if (r == e.rank || !c->check({Impl::alive_key(r)})) continue;
        const auto b = c->get(Impl::alive_key(r));
        v[r].assign(b.begin(), b.end());
      }
      return v;
    };
    const auto a = read();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    const auto b = read();
    std::vector<int> stopped;
    for (int r = 0; r < e.world; ++r)
      if (r != e.rank && a[r] == b[r]) stopped.push_back(r);
    if (stopped.empty()) {
      who = "every other rank is still alive";
    } else {
      who = stopped.size() == 1 ? "rank " : "ranks ";
      for (size_t i = 0; i < stopped.size(); ++i) who += (i ? ", " : "") + std::to_string(stopped[i]);
      who += stopped.size() == 1 ? " stopped responding (it died or hangs)" : " stopped responding (they died or hang)";
    }
  } catch (const std::exception&) {
    who = "rank 0 stopped responding (its rendezvous store at " + e.addr + ":" + std::to_string(e.port) +
          " is gone: it died)";
  }
  throw std::runtime_error("rank " + std::to_string(e.rank) + " of " + std::to_string(e.world) + ": " + during +
                           " failed: " + who + " (" + why + ")");
}

namespace {

template <typename F>
void guarded(Group& g, const std::string& during, F f) {
  try {
    f();
  } catch (const c10::Error& e) {
    g.fail(during, e.what_without_backtrace());
  } catch (const std::runtime_error& e) {
    g.fail(during, e.what());
  }
}

}  // namespace

void Group::broadcast(std::vector<at::Tensor>& tensors) {
  guarded(*this, "broadcast", [&] {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      c10d::BroadcastOptions o;
      o.rootRank = 0;
      impl_->pg->broadcast(one, o)->wait();
    }
  });
}

void Group::allreduce_sum(std::vector<at::Tensor>& tensors) {
  guarded(*this, "all-reduce", [&] {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one = {t};
      impl_->pg->allreduce(one, c10d::AllreduceOptions())->wait();
    }
  });
}

std::vector<double> Group::sum(const std::vector<double>& values) {
  if (values.empty()) return {};
  at::Tensor t = at::tensor(values, at::kDouble);
  std::vector<at::Tensor> v = {t};
  allreduce_sum(v);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

std::string Group::broadcast_string(const std::string& s) {
  at::Tensor n = at::tensor({static_cast<int64_t>(s.size())}, at::kLong);
  std::vector<at::Tensor> v = {n};
  broadcast(v);
  at::Tensor bytes = at::zeros({n.item<int64_t>()}, at::kByte);
  if (rank() == 0 && !s.empty()) std::copy(s.begin(), s.end(), bytes.data_ptr<uint8_t>());
  if (bytes.numel() > 0) {
    v = {bytes};
    broadcast(v);
  }
  return std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), bytes.numel());
}

void Group::barrier() {
  guarded(*this, "barrier", [&] { impl_->pg->barrier(c10d::BarrierOptions())->wait(); });
}

std::unique_ptr<Group::Pending> Group::allreduce_async(at::Tensor flat) {
  struct Work : Pending {
    Group* g;
    std::vector<at::Tensor> t;
    c10::intrusive_ptr<c10d::Work> w;
    void wait() override {
      guarded(*g, "gradient all-reduce", [&] { w->wait(); });
    }
  };
  auto w = std::make_unique<Work>();
  w->g = this;
  w->t = {std::move(flat)};
  guarded(*this, "gradient all-reduce", [&] { w->w = impl_->pg->allreduce(w->t, c10d::AllreduceOptions()); });
  return w;
}

#else  // no c10d Gloo in this build

struct Group::Impl {};
Group::Group(const Env&, bool, std::chrono::milliseconds) {
  throw std::runtime_error("this build of ssm has no distributed training: it was built without Gloo's headers "
                           "(Debian: libgloo-dev; scripts/setup installs it)");
}
Group::~Group() = default;
int Group::rank() const { return 0; }
int Group::world() const { return 1; }
void Group::fail(const std::string& during, const std::string& why) { throw std::runtime_error(during + ": " + why); }
void Group::broadcast(std::vector<at::Tensor>&) {}
void Group::allreduce_sum(std::vector<at::Tensor>&) {}
std::vector<double> Group::sum(const std::vector<double>& v) { return v; }
std::string Group::broadcast_string(const std::string& s) { return s; }
void Group::barrier() {}
std::unique_ptr<Group::Pending> Group::allreduce_async(at::Tensor) { return nullptr; }

#endif

// ---- GradSync ---------------------------------------------------------------------------------------------------

namespace {
// A gradient as real numbers (complex parameters as (re, im) pairs), flat.
at::Tensor real_flat(const at::Tensor& t) {
  return (t.is_complex() ? at::view_as_real(t) : t).reshape({-1});
}
at::ScalarType real_type(const at::Tensor& t) {
  return t.is_complex() ? c10::toRealValueType(t.scalar_type()) : t.scalar_type();
}
}  // namespace

GradSync::GradSync(Group& g, std::vector<at::Tensor> params, int64_t bucket_bytes) : g_(g), params_(std::move(params)) {
  const int64_t n = static_cast<int64_t>(params_.size());
  bucket_of_.assign(n, -1);
  grads_.resize(n);
  // Reverse order: backward produces the last layers' gradients first. A bucket holds one real type.
  for (int64_t i = n - 1; i >= 0; --i) {
    const at::Tensor& p = params_[i];
    if (!p.requires_grad()) continue;
    const int64_t numel = p.numel() * (p.is_complex() ? 2 : 1);
    const int64_t bytes = numel * static_cast<int64_t>(c10::elementSize(real_type(p)));
    if (buckets_.empty() || buckets_.back().flat.scalar_type() != real_type(p) ||
        (buckets_.back().flat.numel() > 0 &&
         buckets_.back().flat.numel() * static_cast<int64_t>(buckets_.back().flat.element_size()) + bytes >
             bucket_bytes)) {
      Bucket b;
      b.flat = at::empty({0}, p.options().dtype(real_type(p)));
      buckets_.push_back(std::move(b));
    }
    Bucket& b = buckets_.back();
    b.offsets.push_back(b.flat.numel());
    b.params.push_back(i);
    b.flat = at::empty({b.flat.numel() + numel}, b.flat.options());
    bucket_of_[i] = static_cast<int64_t>(buckets_.size()) - 1;
    bytes_ += bytes;
  }
  // After the gradients, one flag per parameter: how many ranks had a gradient for it (none: it stays without one,
  // as in one process, and the optimizer skips it).
  for (auto& b : buckets_) {
    b.flags = b.flat.numel();
    b.flat = at::empty({b.flat.numel() + static_cast<int64_t>(b.params.size())}, b.flat.options());
    bytes_ += static_cast<int64_t>(b.params.size()) * static_cast<int64_t>(b.flat.element_size());
  }
  for (int64_t i = 0; i < n; ++i) {
    if (bucket_of_[i] < 0) continue;
    hooks_.push_back(static_cast<int64_t>(params_[i].register_hook([this, i](const at::Tensor& grad) {
      on_grad(i, grad);
    })));
  }
}

GradSync::~GradSync() {
  size_t h = 0;
  for (size_t i = 0; i < params_.size(); ++i)
    if (bucket_of_[i] >= 0) params_[i].remove_hook(static_cast<unsigned>(hooks_[h++]));
}

void GradSync::begin(double weight) {
  weight_ = weight;
  for (auto& g : grads_) g = at::Tensor();
  for (auto& b : buckets_) {
    b.ready = 0;
    b.work.reset();
  }
  next_ = 0;
  active_ = true;
}

void GradSync::on_grad(int64_t i, const at::Tensor& grad) {
  if (!active_) return;
  const int64_t bi = bucket_of_[i];
  Bucket& b = buckets_[bi];
  if (grads_[i].defined()) {  // a leaf's hook fires once per backward; twice would be a second backward
    grads_[i] = grads_[i] + grad;
    return;
  }
  grads_[i] = grad;
  if (++b.ready == static_cast<int64_t>(b.params.size())) launch_ready();
}

void GradSync::launch(Bucket& b) {
  for (size_t k = 0; k < b.params.size(); ++k) {
    const int64_t i = b.params[k];
    const int64_t numel = params_[i].numel() * (params_[i].is_complex() ? 2 : 1);
    at::Tensor dst = b.flat.narrow(0, b.offsets[k], numel);
    if (grads_[i].defined()) dst.copy_(real_flat(grads_[i].detach())).mul_(weight_);
    else dst.zero_();
    b.flat[b.flags + static_cast<int64_t>(k)].fill_(grads_[i].defined() ? 1 : 0);
  }
  b.work = g_.allreduce_async(b.flat);
}

void GradSync::launch_ready() {
  while (next_ < buckets_.size() && buckets_[next_].ready == static_cast<int64_t>(buckets_[next_].params.size()))
    launch(buckets_[next_++]);
}

void GradSync::finish() {
  const auto t0 = std::chrono::steady_clock::now();
  while (next_ < buckets_.size()) launch(buckets_[next_++]);  // buckets with parameters that got no gradient
  for (auto& b : buckets_) {
    b.work->wait();
    const at::Tensor flags = b.flat.narrow(0, b.flags, static_cast<int64_t>(b.params.size())).to(at::kCPU);
    for (size_t k = 0; k < b.params.size(); ++k) {
      at::Tensor& p = params_[b.params[k]];
      if (flags[static_cast<int64_t>(k)].item<double>() == 0) continue;  // no rank had a gradient
      const int64_t numel = p.numel() * (p.is_complex() ? 2 : 1);
      at::Tensor avg = b.flat.narrow(0, b.offsets[k], numel);
      at::Tensor g = p.is_complex() ? at::view_as_complex(avg.view({-1, 2})).view(p.sizes()) : avg.view(p.sizes());
      if (p.grad().defined()) p.mutable_grad().copy_(g);
      else p.mutable_grad() = g.clone();
    }
  }
  active_ = false;
  wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++steps_;
}

}  // namespace ssm::dist
