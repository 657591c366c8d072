// The `ssm` command: train, eval, bench, info.
#include "config/config.h"
#include "dist/dist.h"
#include "layers/ptd.h"
#include "ssm/ops.h"
#include "train/schema.h"
#include "train/trainer.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>
#include <cstring>
#include <string>
#include <vector>

namespace ssm::bench {
int main(int argc, char** argv);
}
namespace ssm::cli {
// ssm data listops | pathfinder | inspect (data_cmd.cpp); usage_error prints the message and the usage, returns 2.
int cmd_data(int argc, char** argv, int (*usage_error)(const std::string&));
// ssm train --nproc N (launch.cpp): N ranks of `ssm train train_args...` on this machine; their combined exit status.
int launch_local(int nproc, const std::vector<std::string>& train_args, int timeout_s);
}

namespace {

const char* kUsage =
    "usage: ssm <command> [options]\n"
    "\n"
    "commands:\n"
    "  train CONFIG [--set key.path=value ...] [--resume] [--quiet]   train a model from a YAML config\n"
    "        [--nproc N]                                               (on N processes: data parallel)\n"
    "  eval CHECKPOINT [--split S] [--perturb fourier --eps E1,...]    evaluate a checkpoint, optionally under noise\n"
    "  export CHECKPOINT [--out FILE]                                  its weights as a plain file for Python\n"
    "  data listops --out DIR [--seed S] [...]                         generate ListOps (official algorithm)\n"
    "  data pathfinder --out DIR [--resolution R] [...]                generate Pathfinder (published algorithm)\n"
    "  data inspect TASK DIR [--set key=value ...]                     counts, labels and lengths of a data set\n"
    "  init ptd [--n N] [--blocks J] [--iterations I] [--lambda L]    compute a PTD initialization (cached)\n"
    "  bench [ssm-bench options]                                       benchmark the kernels (see ssm bench --help)\n"
    "  info                                                            versions, build options, devices\n"
    "\n"
    "ssm <command> --help describes a command; ssm train --help lists every config key.\n";

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "ssm: %s\n\n%s", msg.c_str(), kUsage);
  return 2;
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", v);
  return b;
}

int cmd_train(int argc, char** argv) {
  std::string config_path;
  std::vector<std::string> sets, passed;  // passed: the arguments a rank of --nproc gets
  ssm::train::TrainOptions opt;
  int nproc = 0;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--nproc" || a.rfind("--nproc=", 0) == 0) {
      const std::string v = a == "--nproc" ? (i + 1 < argc ? argv[++i] : "") : a.substr(8);
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 1024)
        return usage_error("train: --nproc needs a number of processes 1-1024, got '" + v + "'");
      nproc = static_cast<int>(n);
      continue;
    }
    passed.push_back(a);
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: ssm train CONFIG [--set key.path=value ...] [--resume] [--quiet] [--nproc N]\n\n"
          "Trains the model a YAML config describes, validating each epoch and testing at the end. The run folder\n"
          "(trainer.out_dir) receives config.yaml (the resolved config), metrics.jsonl (one JSON object per log\n"
          "interval and evaluation), last.pt and best.pt (written atomically). --resume continues from last.pt\n"
          "exactly; Ctrl-C saves last.pt and stops. A config may start from others: base: [file, ...].\n\n"
          "Data parallel: --nproc N starts N processes on this machine; under torchrun (or any launcher that sets\n"
          "RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) each process is one rank. data.batch_size is the\n"
          "global batch, split across the ranks; rank 0 writes the run folder. Gloo on CPUs, NCCL on GPUs.\n\n"
          "config keys:\n%s",
          ssm::config::describe(ssm::train::train_schema()).c_str());
      return 0;
    } else if (a == "--set") {
      if (i + 1 >= argc) return usage_error("--set needs key.path=value");
      sets.push_back(argv[++i]);
      passed.push_back(argv[i]);
    } else if (a.rfind("--set=", 0) == 0) {
      sets.push_back(a.substr(6));
    } else if (a == "--resume") {
      opt.resume = true;
    } else if (a == "--quiet") {
      opt.quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("train: unknown option '" + a + "'");
    } else if (config_path.empty()) {
      config_path = a;
    } else {
      return usage_error("train: more than one config file ('" + config_path + "', '" + a + "')");
    }
  }
  if (config_path.empty()) return usage_error("train: no config file given");
  const auto cfg = ssm::config::Config::load(ssm::train::train_schema(), config_path, sets);
  if (nproc > 0) {
    if (std::getenv("WORLD_SIZE"))
      return usage_error("train: --nproc inside a distributed launch (WORLD_SIZE is set): give one or the other");
    ssm::train::check_config(cfg);  // a config error is reported once, before any process starts
    if (nproc > 1) return ssm::cli::launch_local(nproc, passed, static_cast<int>(cfg.get_int("trainer.dist.timeout_s")));
  }
  const auto s = ssm::train::train(cfg, opt);
  if (!s.main_rank) return 0;
  if (s.world > 1)
    std::printf("distributed: %d ranks; %.2f MiB of gradients all-reduced per step in %lld buckets; %.1f ms per step "
                "waiting for them after backward\n",
                s.world, s.allreduce_bytes_per_step / 1048576.0, static_cast<long long>(s.buckets),
                1000 * s.wait_s_per_step);
  std::printf("trained %lld steps in %.1f s; best val %s %s; test: %s; run: %s\n", static_cast<long long>(s.steps),
              s.seconds, s.monitor.c_str(), std::isnan(s.best_val) ? "(no validation split)" : fmt(s.best_val).c_str(),
              s.test_report.empty() ? "(no test split)" : s.test_report.c_str(), s.out_dir.c_str());
  return 0;
}

int cmd_eval(int argc, char** argv) {
  std::string ckpt, split = "test", perturb, eps_list;
  ssm::train::FourierNoise noise;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : std::string(); };
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: ssm eval CHECKPOINT [--split test|val|train] [--perturb fourier --eps E1,E2,... [--band LO,HI]\n"
          "                [--seed S]]\n\n"
          "Rebuilds the task and model from config.yaml beside the checkpoint and reports the task's metrics\n"
          "(classification: loss and accuracy; forecasting: loss, MSE and MAE on the normalized scale).\n"
          "--perturb fourier adds noise concentrated on Fourier modes to the inputs (the robustness test of the PTD\n"
          "paper): random cosines on the modes of the band (fractions of the Nyquist frequency, default 0.5,1 = the\n"
          "upper half), scaled to eps times the norm of each input, and reports accuracy for every eps.\n");
      return 0;
    } else if (a == "--split") {
      split = value();
    } else if (a == "--perturb") {
      perturb = value();
    } else if (a == "--eps") {
      eps_list = value();
    } else if (a == "--band") {
      const std::string v = value();
      if (std::sscanf(v.c_str(), "%lf,%lf", &noise.band_lo, &noise.band_hi) != 2)
        return usage_error("eval: --band needs LO,HI, got '" + v + "'");
    } else if (a == "--seed") {
      noise.seed = std::strtoull(value().c_str(), nullptr, 10);
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("eval: unknown option '" + a + "'");
    } else {
      ckpt = a;
    }
  }
  if (ckpt.empty()) return usage_error("eval: no checkpoint given");
  if (perturb.empty()) {
    const auto e = ssm::train::evaluate_checkpoint(ckpt, split);
    std::printf("%s split: %lld examples, %s\n", split.c_str(), static_cast<long long>(e.examples), e.report.c_str());
    return 0;
  }
  if (perturb != "fourier") return usage_error("eval: --perturb must be fourier, got '" + perturb + "'");
  std::vector<double> eps;
  std::stringstream ss(eps_list);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || *end || v < 0) return usage_error("eval: --eps needs non-negative numbers, got '" + item + "'");
    eps.push_back(v);
  }
  if (eps.empty()) return usage_error("eval: --perturb fourier needs --eps E1,E2,...");
  std::printf("%s split, Fourier noise on modes [%.2f, %.2f] x Nyquist\n", split.c_str(), noise.band_lo,
              noise.band_hi);
  for (const double e : eps) {
    noise.eps = e;
    const auto r = ssm::train::evaluate_checkpoint(ckpt, split, &noise);
    std::printf("eps %-8.4g %s\n", e, r.report.c_str());
    std::fflush(stdout);
  }
  return 0;
}

int cmd_export(int argc, char** argv) {
  std::string ckpt, out;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: ssm export CHECKPOINT [--out FILE]\n\n"
          "Loads a checkpoint of ssm train (checked against config.yaml beside it, as ssm eval does) and writes its\n"
          "weights as a file that Python opens without ssm: torch.load(FILE, weights_only=True) gives a dict with\n"
          "'state_dict' (every parameter and buffer by its model name, CPU tensors), 'config' (the run's\n"
          "config.yaml), 'versions', 'step' and 'format'. Default FILE: the checkpoint's name with .state_dict.pt\n"
          "in place of .pt (runs/x/best.pt -> runs/x/best.state_dict.pt).\n");
      return 0;
    } else if (a == "--out") {
      if (i + 1 >= argc) return usage_error("export: --out needs a file");
      out = argv[++i];
    } else if (!a.empty() && a[0] == '-') {
      return usage_error("export: unknown option '" + a + "'");
    } else if (!ckpt.empty()) {
      return usage_error("export: one checkpoint at a time (got '" + ckpt + "' and '" + a + "')");
    } else {
      ckpt = a;
    }
  }
  if (ckpt.empty()) return usage_error("export: no checkpoint given");
  if (out.empty()) {
    std::filesystem::path p(ckpt);
    out = (p.parent_path() / (p.stem().string() + ".state_dict.pt")).string();
  }
  const auto e = ssm::train::export_checkpoint(ckpt, out);
  std::printf("%s: %lld tensors (%lld parameter values) of step %lld, %lld bytes\n", out.c_str(),
              static_cast<long long>(e.tensors), static_cast<long long>(e.values), static_cast<long long>(e.step),
              static_cast<long long>(e.bytes));
  return 0;
}

int cmd_init(int argc, char** argv) {
  if (argc < 1 || std::string(argv[0]) == "--help" || std::string(argv[0]) == "-h") {
    std::printf(
        "usage: ssm init ptd [--n N] [--blocks J] [--iterations I] [--lambda L] [--lr R] [--seed S] [--cache DIR]\n\n"
        "Perturb-then-diagonalize: finds a perturbation E of the positive-form HiPPO-LegS matrix A_H of size N / J\n"
        "(one block) minimizing kappa(V)^2 + lambda ||E||_F, diagonalizes A_H + E = V diag(Lambda) V^-1, and prints\n"
        "||E|| / ||A_H||, kappa(V), the eigenvalue range and the reconstruction error. Defaults: N 64, J 1, 10000\n"
        "iterations, lambda 0.003, lr 0.3, seed 0. Results are cached in DIR (default $SSM_CACHE or ~/.cache/ssm).\n");
    return argc < 1 ? 2 : 0;
  }
  if (std::string(argv[0]) != "ptd") return usage_error("init: unknown initialization '" + std::string(argv[0]) + "'");
  ssm::layers::PtdOptions o;
  int64_t blocks = 1;
  std::string cache = ssm::layers::default_cache_dir();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return usage_error("init ptd: " + a + " needs a value");
    const std::string v = argv[++i];
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    const bool number = !v.empty() && *end == '\0' && x >= 0;
    if (a == "--cache") { cache = v; continue; }
    if (!number) return usage_error("init ptd: " + a + " needs a non-negative number, got '" + v + "'");
    if (a == "--n") o.n = static_cast<int64_t>(x);
    else if (a == "--blocks") blocks = static_cast<int64_t>(x);
    else if (a == "--iterations") o.iterations = static_cast<int64_t>(x);
    else if (a == "--lambda") o.lambda = x;
    else if (a == "--lr") o.lr = x;
    else if (a == "--seed") o.seed = static_cast<uint64_t>(x);
    else return usage_error("init ptd: unknown option '" + a + "'");
  }
  if (blocks < 1 || o.n < 1 || o.n % blocks)
    return usage_error("init ptd: --n (" + std::to_string(o.n) + ") must be a positive multiple of --blocks (" +
                       std::to_string(blocks) + ")");
  o.n /= blocks;
  const auto r = ssm::layers::ptd(o, cache);
  const auto re = torch::real(r.Lambda), im = torch::imag(r.Lambda);
  std::printf("PTD of positive-form HiPPO-LegS, block size %lld (%lld blocks), lambda %g, %lld iterations\n",
              static_cast<long long>(o.n), static_cast<long long>(blocks), o.lambda,
              static_cast<long long>(o.iterations));
  std::printf("  ||E||_2 / ||A_H||_2   %.4g\n  kappa(V)              %.4g\n  reconstruction error  %.3g\n",
              r.e_ratio, r.kappa, r.reconstruction);
  std::printf("  eigenvalues of A_H+E  real part [%.4g, %.4g], imaginary part [%.4g, %.4g]\n",
              re.min().item<double>(), re.max().item<double>(), im.min().item<double>(), im.max().item<double>());
  const auto A = ssm::layers::ptd_state_matrix(r);
  std::printf("  A = -(eigenvalues), real part forced negative: real part [%.4g, %.4g]\n",
              torch::real(A).min().item<double>(), torch::real(A).max().item<double>());
  return 0;
}

int cmd_info() {
  std::printf("ssm %s\nLibTorch %s\nbuilt with CUDA kernels: %s\nCUDA available: %s\nCUDA devices: %d\n",
              ssm::version(), TORCH_VERSION, ssm::built_with_cuda() ? "yes" : "no",
              torch::cuda::is_available() ? "yes" : "no", static_cast<int>(torch::cuda::device_count()));
  const bool gloo = ssm::dist::have_gloo(), nccl = ssm::dist::have_nccl();
  std::printf("distributed training: %s\n", gloo && nccl ? "Gloo (CPU) and NCCL (GPU)"
                                             : gloo       ? "Gloo (CPU); no NCCL in this build"
                                                          : "none (built without Gloo's headers)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("no command given");
  const std::string cmd = argv[1];
  try {
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (cmd == "train") return cmd_train(argc - 2, argv + 2);
    if (cmd == "eval") return cmd_eval(argc - 2, argv + 2);
    if (cmd == "export") return cmd_export(argc - 2, argv + 2);
    if (cmd == "data") return ssm::cli::cmd_data(argc - 2, argv + 2, usage_error);
    if (cmd == "init") return cmd_init(argc - 2, argv + 2);
    if (cmd == "bench") return ssm::bench::main(argc - 1, argv + 1);
    if (cmd == "info") return cmd_info();
    return usage_error("unknown command '" + cmd + "'");
  } catch (const ssm::config::ConfigError& e) {
    std::fprintf(stderr, "ssm: config error: %s\n", e.what());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "ssm: %s\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ssm: %s\n", e.what());
  }
  return 1;
}
