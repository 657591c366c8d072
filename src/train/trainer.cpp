#include "train/trainer.h"

#include "dist/dist.h"
#include "io/atomic_write.h"
#include "io/torch_file.h"
#include "layers/registry.h"
#include "ssm/ops/library.h"
#include "train/schema.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <fcntl.h>
#include <sys/file.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

namespace ssm::train {
namespace {

namespace fs = std::filesystem;
std::atomic<bool> g_interrupted{false};

torch::Device pick_device(const config::Config& c) {
  const std::string d = c.get_string("trainer.device");
  if (d == "cuda" && !torch::cuda::is_available()) throw std::runtime_error("trainer.device is cuda but no GPU is visible");
  return (d == "cuda" || (d == "auto" && torch::cuda::is_available())) ? torch::Device(torch::kCUDA)
                                                                        : torch::Device(torch::kCPU);
}

using io::cannot_write;
using io::write_atomically;

// One run per folder: an exclusive flock on <out_dir>/run.lock for the life of the run. The kernel drops it when the
// process ends in any way (kill -9 included), so a stale lock file of a dead run never blocks the next one; the file
// holds the pid of the run that has it, for the message.
class RunLock {
 public:
  explicit RunLock(const fs::path& dir) : path_(dir / "run.lock") {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) cannot_write(path_, std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("unknown");
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      ::close(fd_);
      throw std::runtime_error(dir.string() + ": another ssm train (pid " + pid +
                               ") is running in this folder; wait for it to end or choose another trainer.out_dir");
    }
    const std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
      cannot_write(path_, std::strerror(errno));
  }
  ~RunLock() { ::close(fd_); }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  fs::path path_;
  int fd_ = -1;
};

struct State {
  int64_t step = 0;
  double best_val = std::numeric_limits<double>::quiet_NaN();  // NaN: no validation yet
  int64_t total = 0;          // the schedule's length when saved (0: not recorded)
  tasks::Metrics window;      // the running sums of the logging window, and its samples
  int64_t window_seen = 0;
};

// The keys whose values a checkpoint's weights depend on, or that change what an evaluation of it means: every
// model and data key except where the data lives, how it is batched and the dropout rate.
bool must_match(const std::string& key) {
  static const char* free_keys[] = {"model.dropout", "data.root", "data.batch_size", "data.eval_batch_size",
                                    "data.limit_train", "data.cache_dir", "data.prefetch"};
  for (const char* k : free_keys)
    if (key == k) return false;
  return key.rfind("model.", 0) == 0 || key.rfind("data.", 0) == 0;
}

std::string config_record(const config::Config& c) {
  std::string out;
  for (const auto& k : c.keys()) out += k + "=" + c.text(k) + "\n";
  return out;
}

// A hash of every parameter and buffer (names, shapes, types and bytes): FNV-1a over the CPU copies.
int64_t weights_checksum(model::SequenceModel& m) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](const void* p, size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    mix(name.data(), name.size());
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const auto sizes = c.sizes();
    mix(sizes.data(), sizes.size() * sizeof(int64_t));
    const int type = static_cast<int>(c.scalar_type());
    mix(&type, sizeof type);
    mix(c.data_ptr(), c.numel() * c.element_size());
  };
  for (const auto& p : m->named_parameters()) add(p.key(), p.value());
  for (const auto& b : m->named_buffers()) add(b.key(), b.value());
  return static_cast<int64_t>(h);
}

void save_checkpoint(const fs::path& path, model::SequenceModel& m, torch::optim::Optimizer& opt, const State& s,
                     const config::Config& c) {
  // Never a checkpoint of broken weights: the previous one stays the last good one.
  for (const auto& p : m->named_parameters())
    if (!torch::isfinite(p.value()).all().item<bool>())
      throw std::runtime_error("non-finite weights (" + p.key() + ") at step " + std::to_string(s.step) + "; " +
                               path.string() + " was not written, the one before is kept (if there is one)");
  write_atomically(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive ar;
    torch::serialize::OutputArchive ma, oa;
    m->save(ma);
    opt.save(oa);
    ar.write("model", ma);
    ar.write("optimizer", oa);
    ar.write("step", torch::tensor(s.step));
    ar.write("best_val", torch::tensor(s.best_val, torch::kDouble));
    ar.write("total", torch::tensor(s.total));
    std::string names;
    std::vector<double> sums;
    for (const auto& n : s.window.names()) {
      names += n + "\n";
      const auto t = s.window.totals(n);
      sums.insert(sums.end(), {t.first, t.second});
    }
    ar.write("log_names", c10::IValue(names));
    ar.write("log_sums", torch::tensor(sums, torch::kDouble));
    ar.write("log_seen", torch::tensor(s.window_seen));
    ar.write("config", c10::IValue(config_record(c)));
    ar.write("versions", c10::IValue(std::string("ssm ") + ssm::version() + ", torch " + TORCH_VERSION));
    ar.write("checksum", torch::tensor(weights_checksum(m)));
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    ar.write("cpu_rng", gen.get_state());
    ar.save_to(tmp);
  });
}

// Loads a checkpoint into m (and opt). `c`: the configuration the caller built m from; every key that must match
// (must_match) is compared with the one the checkpoint was trained with, and a difference is an error naming the key
// and where its value came from. The stored checksum is verified against the loaded weights.
State load_checkpoint(const fs::path& path, model::SequenceModel& m, torch::optim::Optimizer* opt,
                      const config::Config& c) {
  if (!fs::exists(path)) throw std::runtime_error(path.string() + ": no checkpoint to resume from");
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path.string());
  } catch (const c10::Error& e) {
    throw std::runtime_error(path.string() + ": unreadable checkpoint: " + e.what_without_backtrace());
  }
  c10::IValue stored;
  if (ar.try_read("config", stored) && stored.isString()) {
    const std::vector<std::string> here = c.keys();
    std::istringstream lines(stored.toStringRef());
    for (std::string line; std::getline(lines, line);) {
      const size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = line.substr(0, eq), value = line.substr(eq + 1);
      if (!must_match(key) || std::find(here.begin(), here.end(), key) == here.end() || !key_applies(c, key)) continue;
      if (c.text(key) != value)
        c.fail(key, "is " + c.text(key) + " here, but " + path.string() + " was trained with " + value);
    }
  }
  State s;
  try {
    torch::serialize::InputArchive ma;
    ar.read("model", ma);
    m->load(ma);
    torch::Tensor step, best, sum;  // read() fills undefined tensors; a defined one would be resized in place
    ar.read("step", step);
    s.step = step.item<int64_t>();
    ar.read("best_val", best);
    s.best_val = best.item<double>();
    if (ar.try_read("checksum", sum) && sum.item<int64_t>() != weights_checksum(m))
      throw std::runtime_error(path.string() + ": damaged: its weights do not match the checksum written with them "
                               "(use the other checkpoint of the run, best.pt or last.pt, or train again)");
    torch::Tensor total, log_sums, log_seen;
    if (ar.try_read("total", total)) s.total = total.item<int64_t>();
    c10::IValue names;
    if (ar.try_read("log_names", names) && names.isString() && ar.try_read("log_sums", log_sums) &&
        ar.try_read("log_seen", log_seen)) {
      std::istringstream in(names.toStringRef());
      const auto* v = log_sums.data_ptr<double>();
      int64_t i = 0;
      for (std::string n; std::getline(in, n) && 2 * i + 1 < log_sums.numel(); ++i) s.window.add(n, v[2 * i], v[2 * i + 1]);
      s.window_seen = log_seen.item<int64_t>();
    }
    if (opt) {
      torch::serialize::InputArchive oa;
      ar.read("optimizer", oa);
      opt->load(oa);
      torch::Tensor rng;
      ar.read("cpu_rng", rng);
      at::Generator gen = at::detail::getDefaultCPUGenerator();
      gen.set_state(rng);
    }
  } catch (const c10::Error& e) {
    throw std::runtime_error(path.string() + ": does not fit the model of config.yaml (" +
                             e.what_without_backtrace() + ")");
  }
  return s;
}

// The step of a metrics.jsonl record ("step": N), or -1 for a line that is not a complete record.
int64_t record_step(const std::string& line) {
  if (line.size() < 2 || line.front() != '{' || line.back() != '}') return -1;
  const size_t at = line.find("\"step\": ");
  if (at == std::string::npos) return -1;
  try {
    return std::stoll(line.substr(at + 8));
  } catch (const std::exception&) {
    return -1;
  }
}

// Makes metrics.jsonl read as if the run had stopped exactly at the checkpoint it resumes from: the records up to
// `step` are kept; those a killed run wrote past its last checkpoint, a torn last line, error records and the test
// record (the resumed run writes its own) are dropped. Rewritten atomically.
void rewind_metrics(const fs::path& path, int64_t step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string kept;
  for (std::string line; std::getline(in, line);) {
    const int64_t s = record_step(line);
    if (s < 0 || s > step || line.find("\"event\": \"test\"") != std::string::npos ||
        line.find("\"event\": \"error\"") != std::string::npos)
      continue;
    kept += line + "\n";
  }
  io::write_text_atomically(path, kept);
}

// trainer.precision bf16: autocast to bfloat16 on the run's device while in scope (restored after).
class Autocast {
 public:
  Autocast(bool on, c10::DeviceType d) : on_(on), d_(d) {
    if (!on_) return;
    was_ = at::autocast::is_autocast_enabled(d_);
    type_ = at::autocast::get_autocast_dtype(d_);
    at::autocast::set_autocast_enabled(d_, true);
    at::autocast::set_autocast_dtype(d_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(d_, was_);
    at::autocast::set_autocast_dtype(d_, type_);
  }
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  bool on_, was_ = false;
  c10::DeviceType d_;
  at::ScalarType type_ = at::kBFloat16;
};

bool use_bf16(const config::Config& c) { return c.get_string("trainer.precision") == "bf16"; }

// The metric sums of every rank in every rank's `m`, in the order of rank 0's names (rank 0 is never without data).
void reduce_metrics(dist::Group* g, tasks::Metrics& m) {
  if (!g) return;
  std::string names;
  for (const auto& n : m.names()) names += n + "\n";
  std::istringstream in(g->broadcast_string(names));
  std::vector<std::string> list;
  std::vector<double> v;
  for (std::string n; std::getline(in, n);) {
    list.push_back(n);
    const auto t = m.totals(n);
    v.insert(v.end(), {t.first, t.second});
  }
  v = g->sum(v);
  m.clear();
  for (size_t i = 0; i < list.size(); ++i) m.add(list[i], v[2 * i], v[2 * i + 1]);
}

// Metrics of a whole split, in eval mode; `perturb` (optional) changes each batch's inputs. With a group, each rank
// evaluates its shard and the sums are reduced.
tasks::Metrics run_eval(model::SequenceModel& m, const tasks::Task& task, tasks::SplitId split, int64_t batch,
                        const torch::Device& dev,
                        const std::function<at::Tensor(const at::Tensor&, int64_t)>& perturb = nullptr,
                        dist::Group* group = nullptr, bool bf16 = false) {
  torch::NoGradGuard no_grad;
  m->eval();
  tasks::Metrics metrics;
  const auto [first, count] = group ? dist::shard(task.size(split), group->rank(), group->world())
                                    : std::pair<int64_t, int64_t>{0, task.size(split)};
  const int64_t n = first + count;
  for (int64_t i = first; i < n; i += batch) {
    tasks::Batch b = task.batch(split, torch::arange(i, std::min(n, i + batch)));
    if (perturb) b.x = perturb(b.x, i);
    b = b.to(dev);
    at::Tensor out;
    {
      Autocast ac(bf16, dev.type());
      out = m->forward(b);
    }
    task.add_metrics(bf16 ? out.to(torch::kFloat) : out, b, metrics);
  }
  m->train();
  reduce_metrics(group, metrics);
  return metrics;
}

// Every parameter and buffer of rank 0 on every rank.
void broadcast_model(dist::Group* g, model::SequenceModel& m, bool buffers_only = false) {
  if (!g) return;
  std::vector<at::Tensor> t;
  torch::NoGradGuard no_grad;
  if (!buffers_only)
    for (const auto& p : m->parameters()) t.push_back(p.detach());
  for (const auto& b : m->buffers()) t.push_back(b.detach());
  std::vector<at::Tensor> flat;
  for (auto& x : t) {
    if (x.is_complex()) x = torch::view_as_real(x);  // c10d's backends move real numbers
    flat.push_back(x.is_contiguous() ? x : x.contiguous());
  }
  g->broadcast(flat);
  for (size_t i = 0; i < t.size(); ++i)
    if (!flat[i].is_same(t[i])) t[i].copy_(flat[i]);
}

std::string json_line(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::ostringstream s;
  s << "{";
  for (size_t i = 0; i < kv.size(); ++i) s << (i ? ", " : "") << "\"" << kv[i].first << "\": " << kv[i].second;
  s << "}\n";
  return s.str();
}
std::string num(double v) {
  std::ostringstream s;
  s.precision(8);
  s << v;
  return std::isfinite(v) ? s.str() : "null";
}
std::string str(const std::string& v) { return "\"" + v + "\""; }

// The metrics of a split as JSON fields.
std::vector<std::pair<std::string, std::string>> fields(const tasks::Metrics& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& n : m.names()) out.emplace_back(n, num(m.mean(n)));
  return out;
}

std::string fmt_time(double s) {
  char b[32];
  std::snprintf(b, sizeof b, "%d:%02d", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  return b;
}

}  // namespace

model::SequenceModel build_model(const config::Config& c, const model::ModelShape& shape) {
  check_config(c);
  const layers::LayerSpec& spec = layers::find_layer(c.get_string("model.layer"));
  const layers::LayerCommon common = layers::layer_common(c);
  model::ModelOptions o;
  o.shape = shape;
  o.d_model = common.d_model;
  o.n_layers = c.get_int("model.n_layers");
  o.prenorm = c.get_bool("model.prenorm");
  o.norm = c.get_string("model.norm");
  o.pooling = c.get_string("model.pooling");
  o.dropout = common.dropout;
  o.variate_grid = spec.grid;
  o.variate_embedding = c.get_bool("model.variate_embedding");
  o.make_layer = [&spec, &c, common] { return spec.make(c, common); };
  return model::SequenceModel(o);
}

std::unique_ptr<torch::optim::AdamW> make_optimizer(model::SequenceModel& m, const config::Config& c) {
  // Group 0: everything but the SSM parameters, at the task's lr and weight decay. Group 1: the SSM parameters
  // (dt, A) at their own lr and weight decay (0 by default), as every anchor does. Group 2, only when the model has
  // learned butterfly factors: those, at optimizer.butterfly_lr without weight decay.
  const std::vector<torch::Tensor> ssm_params = m->ssm_parameters(), bfly_params = m->butterfly_parameters();
  std::vector<torch::Tensor> rest;
  for (const auto& p : m->parameters()) {
    bool special = false;
    for (const auto& q : ssm_params) special |= p.is_same(q);
    for (const auto& q : bfly_params) special |= p.is_same(q);
    if (!special) rest.push_back(p);
  }
  const auto betas = std::make_tuple(c.get_float("optimizer.beta1"), c.get_float("optimizer.beta2"));
  auto options = [&](double lr, double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(lr).weight_decay(wd).betas(betas));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(rest, options(c.get_float("optimizer.lr"), c.get_float("optimizer.weight_decay")));
  groups.emplace_back(ssm_params, options(c.get_float("optimizer.ssm_lr"), c.get_float("optimizer.ssm_weight_decay")));
  if (!bfly_params.empty()) groups.emplace_back(bfly_params, options(c.get_float("optimizer.butterfly_lr"), 0.0));
  return std::make_unique<torch::optim::AdamW>(std::move(groups));
}

double lr_factor(const std::string& kind, int64_t step, int64_t warmup, int64_t total, double min_factor) {
  if (step < warmup) return static_cast<double>(step + 1) / warmup;
  if (kind == "constant") return 1.0;
  const double span = std::max<int64_t>(1, total - warmup);
  const double p = std::min(1.0, static_cast<double>(step - warmup) / span);
  const double f = kind == "cosine" ? 0.5 * (1 + std::cos(M_PI * p)) : 1 - p;
  return min_factor + (1 - min_factor) * f;
}

TrainSummary train(const config::Config& c, const TrainOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  check_config(c);
  // Distributed (torchrun's environment, or ssm train --nproc): every rank runs this function; rank 0 alone writes.
  const dist::Env env = dist::read_env();
  const bool main_rank = env.rank == 0;
  const int64_t threads = c.get_int("trainer.threads");
  if (threads > 0) torch::set_num_threads(static_cast<int>(threads));
  else if (env.local_world > 1)  // the cores shared by the processes of this machine
    torch::set_num_threads(static_cast<int>(std::max<unsigned>(1, std::thread::hardware_concurrency() / env.local_world)));
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores > 0 && threads > static_cast<int64_t>(cores))
    std::fprintf(stderr,
                 "warning: trainer.threads is %lld but this machine has %u cores: threads beyond the cores wait on "
                 "each other and slow the run down\n",
                 static_cast<long long>(threads), cores);
  const int64_t seed = c.get_int("trainer.seed");
  torch::manual_seed(static_cast<uint64_t>(seed));
  torch::Device dev = pick_device(c);
  if (dev.is_cuda() && env.distributed()) dev = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
  std::unique_ptr<dist::Group> group_ptr;
  if (env.distributed())
    group_ptr = std::make_unique<dist::Group>(env, dev.is_cuda(),
                                              std::chrono::milliseconds(1000 * c.get_int("trainer.dist.timeout_s")));
  dist::Group* group = group_ptr.get();
  const fs::path out = c.get_string("trainer.out_dir");
  if (main_rank) fs::create_directories(out);
  std::optional<RunLock> lock;
  if (main_rank) lock.emplace(out);
  if (!opt.resume && main_rank && fs::exists(out / "last.pt"))
    throw std::runtime_error((out / "last.pt").string() +
                             " exists: pass --resume to continue that run, or choose another trainer.out_dir");
  if (opt.resume && !fs::exists(out / "last.pt"))
    throw std::runtime_error((out / "last.pt").string() + ": no checkpoint to resume from");

  const std::unique_ptr<tasks::Task> task = tasks::make_task(c);
  model::SequenceModel m = build_model(c, task->model_shape());
  m->to(dev);

  std::unique_ptr<torch::optim::AdamW> optimizer_ptr = make_optimizer(m, c);
  torch::optim::AdamW& optimizer = *optimizer_ptr;
  const double base_lr[3] = {c.get_float("optimizer.lr"), c.get_float("optimizer.ssm_lr"),
                             c.get_float("optimizer.butterfly_lr")};

  // Loaded (and checked against this configuration) before anything in the folder changes: a failed resume leaves
  // config.yaml and metrics.jsonl as they were.
  State st;
  if (opt.resume) st = load_checkpoint(out / "last.pt", m, &optimizer, c);
  // The window a checkpoint holds is the sum over the ranks that wrote it: rank 0 alone continues it.
  if (!main_rank) st.window.clear();
  broadcast_model(group, m);  // one model on every rank
  if (main_rank)
    io::write_text_atomically(out / "config.yaml",
                              "# resolved configuration of " + (c.source().empty() ? "(no file)" : c.source()) + "\n" +
                                  c.to_yaml([&](const std::string& key) { return key_applies(c, key); }));

  const int64_t batch = c.get_int("data.batch_size"), n_train = task->size(tasks::SplitId::kTrain);
  if (n_train == 0) throw std::runtime_error("the training split is empty");
  if (batch < env.world)
    c.fail("data.batch_size", "is the global batch, split across the " + std::to_string(env.world) +
                                  " ranks: it must be at least " + std::to_string(env.world));
  std::unique_ptr<dist::GradSync> sync;
  if (group)
    sync = std::make_unique<dist::GradSync>(
        *group, m->parameters(), static_cast<int64_t>(c.get_float("trainer.dist.bucket_mb") * (1 << 20)));
  const int64_t steps_per_epoch = (n_train + batch - 1) / batch;
  const int64_t max_steps = c.get_int("trainer.max_steps");
  const int64_t total = max_steps > 0 ? max_steps : steps_per_epoch * c.get_int("trainer.epochs");
  const int64_t warmup = c.get_int("schedule.warmup_steps"), log_every = c.get_int("trainer.log_every");
  const std::string kind = c.get_string("schedule.kind");
  const double min_factor = c.get_float("schedule.min_lr_factor"), clip = c.get_float("optimizer.grad_clip");
  const int64_t eval_batch = c.get_int("data.eval_batch_size");
  const std::string monitor = task->monitor();
  const bool maximize = task->maximize();
  if (opt.resume) {
    if (st.total > 0 && st.total != total)
      std::fprintf(stderr,
                   "warning: the schedule's length changed from %lld to %lld steps (trainer.epochs or "
                   "trainer.max_steps): the learning rate continues from step %lld of the new schedule, not the old\n",
                   static_cast<long long>(st.total), static_cast<long long>(total), static_cast<long long>(st.step));
    if (main_rank) rewind_metrics(out / "metrics.jsonl", st.step);
  }
  // A new run starts an empty file (a run that died before its first checkpoint leaves nothing to continue). Ranks
  // other than 0 write nothing.
  std::ofstream metrics;
  if (main_rank) {
    metrics.open(out / "metrics.jsonl", opt.resume ? std::ios::app : std::ios::trunc);
    if (!metrics) cannot_write(out / "metrics.jsonl", std::strerror(errno));
  }
  const bool quiet = opt.quiet || !main_rank;
  const bool tty = !quiet && isatty(STDERR_FILENO);

  g_interrupted = false;
  auto prev = std::signal(SIGINT, [](int) { g_interrupted = true; });
  tasks::Metrics train_metrics = st.window;  // a resumed run continues its logging window
  int64_t seen = st.window_seen;
  // Collective: every rank calls it at the same steps; rank 0 writes the file.
  auto checkpoint = [&](const fs::path& path) {
    st.total = total;
    st.window = train_metrics;
    reduce_metrics(group, st.window);
    st.window_seen = seen;
    broadcast_model(group, m, true);  // rank 0's buffers (BatchNorm's running statistics) everywhere
    if (main_rank) save_checkpoint(path, m, optimizer, st, c);
  };
  const int64_t val_every = c.get_int("trainer.val_every");
  const bool bf16 = use_bf16(c);
  const bool prefetch = c.get_bool("data.prefetch");
  // Validation: a val line in metrics.jsonl, best.pt when the monitored metric improves.
  auto validate = [&](int64_t epoch) {
    if (task->size(tasks::SplitId::kVal) == 0) return;
    broadcast_model(group, m, true);
    const tasks::Metrics v = run_eval(m, *task, tasks::SplitId::kVal, eval_batch, dev, nullptr, group, bf16);  // train mode after
    std::vector<std::pair<std::string, std::string>> line = {
        {"event", str("val")}, {"step", std::to_string(st.step)}, {"epoch", std::to_string(epoch)}};
    for (const auto& kv : fields(v)) line.push_back(kv);
    metrics << json_line(line);
    metrics.flush();
    if (tty) std::fputc('\n', stderr);
    if (!quiet)
      std::fprintf(stderr, "epoch %lld step %lld: val %s\n", static_cast<long long>(epoch),
                   static_cast<long long>(st.step), task->report(v).c_str());
    const double value = v.mean(monitor);
    if (std::isnan(st.best_val) || (maximize ? value > st.best_val : value < st.best_val)) {
      st.best_val = value;
      checkpoint(out / "best.pt");
    }
  };
  auto t_log = std::chrono::steady_clock::now();
  const int64_t start_step = st.step;
  bool stopping = false;
  const auto t_train = std::chrono::steady_clock::now();
  m->train();
  while (st.step < total) {
    const int64_t epoch = st.step / steps_per_epoch, in_epoch = st.step % steps_per_epoch;
    // The order of an epoch depends on (seed, epoch) only: a resumed run sees the same batches.
    at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed * 1000003 + epoch));
    const torch::Tensor order = torch::randperm(n_train, gen, torch::TensorOptions().dtype(torch::kLong));
    // With data.prefetch the next batch is assembled on a background thread while this step runs. Distributed: the
    // global batch b is split across the ranks (dist::shard); a rank's share may be empty in a short last batch.
    auto make_batch = [&, order](int64_t b) {
      const auto [first, count] = dist::shard(std::min(batch, n_train - b * batch), env.rank, env.world);
      if (count == 0) return tasks::Batch();
      return task->batch(tasks::SplitId::kTrain, order.narrow(0, b * batch + first, count));
    };
    std::future<tasks::Batch> next;
    if (prefetch && in_epoch < steps_per_epoch) next = std::async(std::launch::async, make_batch, in_epoch);
    for (int64_t b = in_epoch; b < steps_per_epoch && st.step < total; ++b) {
      const int64_t n = std::min(batch, n_train - b * batch);
      const int64_t mine = dist::shard(n, env.rank, env.world).second;
      tasks::Batch host = prefetch ? next.get() : make_batch(b);
      if (prefetch && b + 1 < steps_per_epoch && st.step + 1 < total)
        next = std::async(std::launch::async, make_batch, b + 1);
      const tasks::Batch bt = mine > 0 ? host.to(dev) : host;
      const double f = lr_factor(kind, st.step, warmup, total, min_factor);
      for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
        static_cast<torch::optim::AdamWOptions&>(optimizer.param_groups()[g].options()).lr(base_lr[g] * f);
      if (opt.on_step) opt.on_step(st.step, m);
      // Dropout differs across ranks and resumes exactly: each rank's generator is seeded by (seed, rank, step).
      if (group) torch::manual_seed(static_cast<uint64_t>(seed) * 1000003u + static_cast<uint64_t>(st.step) * 7919u +
                                    static_cast<uint64_t>(env.rank) + 1);
      optimizer.zero_grad();
      torch::Tensor output, loss;
      double lv = 0;
      if (mine > 0) {
        {
          Autocast ac(bf16, dev.type());
          output = m->forward(bt);
        }
        if (bf16) output = output.to(torch::kFloat);  // the loss in float32
        loss = task->loss(output, bt);
        lv = loss.item<double>();
      }
      // Distributed: the global loss, and the decisions every rank must take together (a non-finite loss on any
      // rank, an interruption on any rank).
      bool stop_now = false;
      if (group) {
        const std::vector<double> r = group->sum({std::isfinite(lv) ? lv * mine : 0.0, std::isfinite(lv) ? 0.0 : 1.0,
                                                  g_interrupted ? 1.0 : 0.0});
        if (r[1] > 0) lv = std::numeric_limits<double>::quiet_NaN();
        else lv = r[0] / n;
        stop_now = r[2] > 0;
      }
      if (!std::isfinite(lv)) {
        metrics << json_line({{"event", str("error")}, {"step", std::to_string(st.step)}, {"loss", num(lv)}});
        throw std::runtime_error("loss is " + std::string(std::isnan(lv) ? "NaN" : "Inf") + " at step " +
                                 std::to_string(st.step) + "; stopped. The last good checkpoint is " +
                                 (out / "last.pt").string() + " (if one was written)");
      }
      if (sync) sync->begin(static_cast<double>(mine) / n);
      if (mine > 0) loss.backward();
      if (sync) sync->finish();
      if (clip > 0) torch::nn::utils::clip_grad_norm_(m->parameters(), clip);
      optimizer.step();
      ++st.step;
      if (opt.after_step) opt.after_step(st.step, m);
      if (mine > 0) task->add_metrics(output, bt, train_metrics);
      seen += n;
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
      if (st.step % log_every == 0 || st.step == total) {
        reduce_metrics(group, train_metrics);
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_log).count();
        std::vector<std::pair<std::string, std::string>> line = {
            {"event", str("train")}, {"step", std::to_string(st.step)}, {"epoch", std::to_string(epoch)}};
        for (const auto& kv : fields(train_metrics)) line.push_back(kv);
        line.insert(line.end(), {{"lr", num(base_lr[0] * f)}, {"samples_per_s", num(seen / dt)},
                                 {"elapsed_s", num(elapsed)}});
        metrics << json_line(line);
        metrics.flush();
        if (!quiet && !tty)
          std::fprintf(stderr, "step %lld/%lld epoch %lld %s lr %.2e %.0f samples/s\n",
                       static_cast<long long>(st.step), static_cast<long long>(total), static_cast<long long>(epoch),
                       task->report(train_metrics).c_str(), base_lr[0] * f, seen / dt);
        train_metrics.clear();
        seen = 0;
        t_log = std::chrono::steady_clock::now();
      }
      if (tty) {
        const double eta = elapsed / (st.step - start_step) * (total - st.step);
        const int width = 30, done = static_cast<int>(width * st.step / total);
        std::fprintf(stderr, "\r[%s%s] %lld/%lld loss %.4f elapsed %s eta %s ", std::string(done, '#').c_str(),
                     std::string(width - done, '.').c_str(), static_cast<long long>(st.step),
                     static_cast<long long>(total), lv, fmt_time(elapsed).c_str(), fmt_time(eta).c_str());
      }
      // Distributed: the decision the ranks took together at this step (a signal after it counts at the next).
      stopping = group ? stop_now : g_interrupted.load();
      if (opt.stop_at_step > 0 && st.step >= opt.stop_at_step) stopping = true;
      if (stopping) break;
      // trainer.val_every: validation (and last.pt) every that many steps inside long epochs.
      if (val_every > 0 && st.step % val_every == 0 && st.step % steps_per_epoch != 0 && st.step < total) {
        validate(epoch);
        checkpoint(out / "last.pt");
      }
    }
    const bool epoch_end = st.step % steps_per_epoch == 0 || st.step == total;
    if (epoch_end && !stopping) validate(epoch);
    checkpoint(out / "last.pt");
    if (stopping && opt.stop_at_step > 0) {
      std::signal(SIGINT, prev);
      TrainSummary early;
      early.steps = st.step;
      early.monitor = monitor;
      early.out_dir = out.string();
      early.main_rank = main_rank;
      if (group) group->barrier();
      return early;
    }
    if (stopping) {
      std::signal(SIGINT, prev);
      throw std::runtime_error("interrupted at step " + std::to_string(st.step) + "; saved " +
                               (out / "last.pt").string() + " (continue with --resume)");
    }
  }
  std::signal(SIGINT, prev);

  TrainSummary sum;
  sum.steps = st.step;
  sum.monitor = monitor;
  sum.best_val = st.best_val;
  sum.out_dir = out.string();
  sum.main_rank = main_rank;
  if (task->size(tasks::SplitId::kTest) > 0) {
    // The test figures come from best.pt (selected on validation); without a validation split, from the last state.
    // Distributed: rank 0 reads best.pt and sends its weights to the others.
    if (main_rank && fs::exists(out / "best.pt")) load_checkpoint(out / "best.pt", m, nullptr, c);
    broadcast_model(group, m);
    sum.test = run_eval(m, *task, tasks::SplitId::kTest, eval_batch, dev, nullptr, group, use_bf16(c));
    sum.test_report = task->report(sum.test);
    if (main_rank) {
      std::vector<std::pair<std::string, std::string>> line = {{"event", str("test")},
                                                               {"step", std::to_string(st.step)}};
      for (const auto& kv : fields(sum.test)) line.push_back(kv);
      metrics << json_line(line);
      metrics.flush();
      torch::NoGradGuard no_grad;
      m->eval();
      task->save_examples((out / "test_examples.json").string(),
                          [&](const tasks::Batch& b) {
                            Autocast ac(bf16, dev.type());
                            const at::Tensor y = m->forward(b.to(dev));
                            return bf16 ? y.to(torch::kFloat) : y;
                          });
    }
  }
  if (sync) {
    sum.world = env.world;
    sum.allreduce_bytes_per_step = sync->bytes_per_step();
    sum.buckets = sync->buckets();
    sum.wait_s_per_step = sync->steps() ? sync->wait_seconds() / sync->steps() : 0;
  }
  if (group) group->barrier();  // no rank ends (and closes its connections) while another still needs them
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return sum;
}

at::Tensor add_fourier_noise(const at::Tensor& x, const FourierNoise& nz) {
  TORCH_CHECK(x.dim() == 3 && x.is_floating_point(), "Fourier noise needs real-valued inputs (n, L, d), got ",
              x.sizes(), " of ", x.scalar_type(), " (token inputs cannot be perturbed this way)");
  TORCH_CHECK(0 <= nz.band_lo && nz.band_lo < nz.band_hi && nz.band_hi <= 1, "Fourier band must satisfy 0 <= lo < hi <= 1");
  const int64_t n = x.size(0), L = x.size(1), d = x.size(2);
  const int64_t k_max = L / 2;
  const int64_t k_lo = std::max<int64_t>(1, static_cast<int64_t>(nz.band_lo * k_max));
  const int64_t k_hi = std::max<int64_t>(k_lo + 1, static_cast<int64_t>(nz.band_hi * k_max));
  at::Generator gen = at::detail::createCPUGenerator(nz.seed);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const torch::Tensor k = torch::arange(k_lo, k_hi, f64);                                   // (K)
  const torch::Tensor t = torch::arange(L, f64);                                            // (L)
  const torch::Tensor amp = torch::randn({n, d, k.size(0)}, gen, f64);                      // (n, d, K)
  const torch::Tensor phase = torch::rand({n, d, k.size(0)}, gen, f64) * 2 * M_PI;          // (n, d, K)
  // (n, d, K, 1) x (K, L) -> (n, d, L)
  const torch::Tensor arg = 2 * M_PI * k.unsqueeze(-1) * t.unsqueeze(0) / L;                // (K, L)
  torch::Tensor noise = (amp.unsqueeze(-1) * torch::cos(arg.unsqueeze(0).unsqueeze(0) + phase.unsqueeze(-1))).sum(2);
  noise = noise.transpose(1, 2);                                                            // (n, L, d)
  const torch::Tensor xn = x.to(torch::kDouble).flatten(1).norm(2, 1).view({n, 1, 1});
  const torch::Tensor nn = noise.flatten(1).norm(2, 1).clamp_min(1e-30).view({n, 1, 1});
  return (x.to(torch::kDouble) + noise * (nz.eps * xn / nn)).to(x.scalar_type());
}

namespace {

// A checkpoint with what it belongs to: the run's config.yaml beside it, its task, and the model with the checkpoint's
// weights (config and checksum checked by load_checkpoint). `check_task` runs before the model is built.
struct LoadedRun {
  fs::path config_path;
  config::Config config;
  std::unique_ptr<tasks::Task> task;
  model::SequenceModel model{nullptr};
  State state;
};

LoadedRun load_run(const std::string& checkpoint, const std::function<void(const LoadedRun&)>& check_task = {}) {
  const fs::path cfg_path = fs::path(checkpoint).parent_path() / "config.yaml";
  if (!fs::exists(cfg_path)) throw std::runtime_error(cfg_path.string() + ": missing (written by ssm train beside its checkpoints)");
  LoadedRun r{cfg_path, config::Config::load(train_schema(), cfg_path.string())};
  r.task = tasks::make_task(r.config);
  if (check_task) check_task(r);
  r.model = build_model(r.config, r.task->model_shape());
  r.state = load_checkpoint(checkpoint, r.model, nullptr, r.config);
  return r;
}

}  // namespace

EvalSummary evaluate_checkpoint(const std::string& checkpoint, const std::string& split, const FourierNoise* noise) {
  const tasks::SplitId id = tasks::split_id(split);
  LoadedRun run = load_run(checkpoint, [&](const LoadedRun& r) {
    if (r.task->size(id) == 0)
      throw std::runtime_error("the " + split + " split of " + r.config_path.string() + "'s task (" +
                               r.task->name() + ") is empty: nothing to evaluate");
  });
  const config::Config& c = run.config;
  const std::unique_ptr<tasks::Task>& task = run.task;
  model::SequenceModel& m = run.model;
  const torch::Device dev = pick_device(c);
  m->to(dev);
  std::function<at::Tensor(const at::Tensor&, int64_t)> perturb;
  if (noise) {
    if (!task->real_inputs())
      throw std::runtime_error("Fourier noise needs real-valued inputs; task " + task->name() + " has token inputs");
    perturb = [noise](const at::Tensor& x, int64_t first) {
      FourierNoise nz = *noise;
      nz.seed = noise->seed + static_cast<uint64_t>(first);
      return add_fourier_noise(x, nz);
    };
  }
  EvalSummary e;
  e.metrics = run_eval(m, *task, id, c.get_int("data.eval_batch_size"), dev, perturb, nullptr, use_bf16(c));
  e.report = task->report(e.metrics);
  e.examples = task->size(id);
  return e;
}

ExportSummary export_checkpoint(const std::string& checkpoint, const std::string& out) {
  std::error_code ec;
  if (fs::equivalent(checkpoint, out, ec))
    throw std::runtime_error(out + ": is the checkpoint itself; the export would replace it (give another --out)");
  LoadedRun run = load_run(checkpoint);
  model::SequenceModel& m = run.model;
  const State& s = run.state;
  const fs::path& cfg_path = run.config_path;
  c10::Dict<std::string, at::Tensor> weights;
  ExportSummary e;
  for (const auto& p : m->named_parameters()) {
    weights.insert(p.key(), p.value().detach().to(torch::kCPU).contiguous());
    e.tensors += 1;
    e.values += p.value().numel();
  }
  for (const auto& b : m->named_buffers()) {
    weights.insert(b.key(), b.value().detach().to(torch::kCPU).contiguous());
    e.tensors += 1;
  }
  std::ifstream in(cfg_path, std::ios::binary);
  std::stringstream yaml;
  yaml << in.rdbuf();
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("format", c10::IValue(std::string("ssm export 1")));
  top.insert("state_dict", c10::IValue(weights));
  top.insert("config", c10::IValue(yaml.str()));
  top.insert("versions", c10::IValue(std::string("ssm ") + ssm::version() + ", torch " + TORCH_VERSION));
  top.insert("step", c10::IValue(s.step));
  io::save_torch_file(out, c10::IValue(top));
  e.bytes = static_cast<int64_t>(fs::file_size(out));
  e.step = s.step;
  return e;
}

}  // namespace ssm::train
