// ssm bench (also built as ssm-bench): times the ssm ops against the LibTorch code a user would otherwise write, in one run.
// Median of repeated runs after warm-up; bytes/s and flop/s from analytic counts; peak extra memory (CPU: growth of
// the process's peak resident set; CUDA: the caching allocator's
// peak; malloc_trim first, so that freed heap pages are not reused unseen). Prints a table and writes JSON.
#include "ops/common/cases.h"
#include "ssm/ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>
#ifdef SSM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string device = "cpu";  // cpu, cuda or all
  std::string only;            // one op, empty for all
  std::string json = "bench-ops.json";
  int repeats = 0;  // 0: per device default
  bool quick = false;
};

struct Result {
  std::string op, impl, mode, device, dtype, shape;
  double median_ms = 0, bytes = 0, flops = 0, peak_extra_bytes = 0, speedup = 0, bw_fraction = 0;
};

// Measured copy bandwidth of the device being benchmarked (bytes read + written per second).
double copy_bandwidth = 0;

// ---- memory -------------------------------------------------------------------------------------------------------
long status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line))
    if (line.compare(0, n, key) == 0) return std::stol(line.substr(n + 1));
  return -1;
}

double peak_extra_bytes(const at::Device& device, const std::function<void()>& run) {
#ifdef SSM_WITH_CUDA
  if (device.is_cuda()) {
    namespace alloc = c10::cuda::CUDACachingAllocator;
    torch::cuda::synchronize();
    const auto before = alloc::getDeviceStats(device.index()).allocated_bytes[0].current;
    alloc::resetPeakStats(device.index());
    run();
    torch::cuda::synchronize();
    return static_cast<double>(alloc::getDeviceStats(device.index()).allocated_bytes[0].peak - before);
  }
#endif
  malloc_trim(0);
  { std::ofstream("/proc/self/clear_refs") << "5"; }  // resets VmHWM to the current RSS
  const long rss = status_kb("VmRSS:");
  run();
  const long hwm = status_kb("VmHWM:");
  return (hwm >= 0 && rss >= 0) ? 1024.0 * static_cast<double>(hwm - rss) : -1.0;
}

// ---- timing -------------------------------------------------------------------------------------------------------
double median_ms(const at::Device& device, int repeats, const std::function<void()>& run) {
  for (int i = 0; i < 2; ++i) run();  // warm-up: plans, caches, allocator
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
#ifdef SSM_WITH_CUDA
    if (device.is_cuda()) {
      at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
      start.record();
      run();
      stop.record();
      stop.synchronize();
      t.push_back(start.elapsed_time(stop));
      continue;
    }
#endif
    const auto t0 = std::chrono::steady_clock::now();
    run();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Runs f forward, or forward then backward with a fixed random output gradient.
std::function<void()> make_run(const std::function<at::Tensor()>& f, bool backward, const std::vector<at::Tensor>& in) {
  if (!backward)
    return [f] {
      c10::InferenceMode g;
      f();
    };
  return [f, in] {
    const at::Tensor y = f();
    const auto grads = torch::autograd::grad({y}, in, {at::ones_like(y)});
    (void)grads;
  };
}

std::vector<Result> results;
std::vector<std::pair<std::string, double>> device_copy_bw;

using Impl = std::pair<std::string, std::function<at::Tensor()>>;

// Times every implementation forward and forward+backward; the last one is the LibTorch baseline that the speedup
// column compares with (none when "ssm" is alone: speedup 0 in the JSON, "-" in the table).
void measure(const Options& o, const at::Device& dev, const std::string& op, const std::string& dtype,
             const std::string& shape, double bytes_fwd, double flops_fwd, double bytes_fb, double flops_fb,
             const std::vector<at::Tensor>& in, const std::vector<Impl>& impls) {
  const int repeats = o.repeats > 0 ? o.repeats : (dev.is_cuda() ? 50 : (o.quick ? 3 : 7));
  for (const bool bwd : {false, true}) {
    std::vector<Result> r(impls.size());
    for (size_t i = 0; i < impls.size(); ++i) {
      const auto run = make_run(impls[i].second, bwd, in);
      Result& x = r[i];
      x.op = op;
      x.impl = impls[i].first;
      x.mode = bwd ? "fwd+bwd" : "fwd";
      x.device = dev.str();
      x.dtype = dtype;
      x.shape = shape;
      x.median_ms = median_ms(dev, repeats, run);
      x.peak_extra_bytes = peak_extra_bytes(dev, run);
      x.bytes = bwd ? bytes_fb : bytes_fwd;
      x.flops = bwd ? flops_fb : flops_fwd;
      x.bw_fraction = x.bytes / (x.median_ms * 1e-3) / copy_bandwidth;
    }
    const bool baseline = impls.size() > 1;  // a row without one (the table says why) shows no speedup
    for (auto& x : r) {
      x.speedup = baseline ? r.back().median_ms / x.median_ms : 0.0;
      char speedup[32] = "        -";
      if (baseline) std::snprintf(speedup, sizeof speedup, "%8.2fx", x.speedup);
      std::printf("%-14s %-8s %-10s %-28s %-8s %-9s %10.3f %9.2f %6.1f%% %9.2f %10.1f %s\n", x.op.c_str(),
                  x.device.c_str(), x.dtype.c_str(), x.shape.c_str(), x.mode.c_str(), x.impl.c_str(), x.median_ms,
                  x.bytes / x.median_ms * 1e-6, 100 * x.bw_fraction, x.flops / x.median_ms * 1e-6,
                  x.peak_extra_bytes / 1048576.0, speedup);
      std::fflush(stdout);
      results.push_back(x);
    }
  }
}

// ---- cases: every op's table rows marked for the benchmark (src/ops/<op>/cases.cpp) ---------------------------------
// The options SSM_BUTTERFLY held when the program started: "ssm" runs under them; the table's other implementations
// set their own.
std::string initial_butterfly_options;
bool had_butterfly_options = false;

void restore_butterfly_options() {
  if (had_butterfly_options)
    setenv("SSM_BUTTERFLY", initial_butterfly_options.c_str(), 1);
  else
    unsetenv("SSM_BUTTERFLY");
}

void bench_case(const Options& o, const at::Device& dev, const ssm::cases::OpTable& t, const ssm::cases::Case& c) {
  const at::ScalarType dtype = ssm::cases::dtype_of(c.choice("dtype", "float32"));
  std::vector<at::Tensor> in = t.inputs(c, dtype, dev), grad_in;
  for (auto& x : in)
    if (x.defined() && (at::isFloatingType(x.scalar_type()) || at::isComplexType(x.scalar_type()))) {
      x.requires_grad_(true);
      grad_in.push_back(x);
    }
  std::vector<Impl> impls = {{"ssm", [&t, &c, in] {
                                restore_butterfly_options();
                                return t.run(c, in);
                              }}};
  for (auto& impl : t.impls(c, in)) impls.push_back(std::move(impl));
  const auto n = t.counts(c, dtype);
  measure(o, dev, t.op, ssm::cases::dtype_name(dtype), c.label, n.bytes_fwd, n.flops_fwd, n.bytes_fb, n.flops_fb,
          grad_in, impls);
  restore_butterfly_options();
}

void write_json(const Options& o) {
  std::ofstream f(o.json);
  f << "{\n  \"ssm_version\": \"" << ssm::version() << "\",\n  \"threads\": " << at::get_num_threads()
    << ",\n  \"copy_bandwidth_bytes_per_s\": {";
  for (size_t i = 0; i < device_copy_bw.size(); ++i)
    f << (i ? ", " : "") << "\"" << device_copy_bw[i].first << "\": " << device_copy_bw[i].second;
  f << "},\n  \"results\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    f << "    {\"op\": \"" << r.op << "\", \"impl\": \"" << r.impl << "\", \"mode\": \"" << r.mode
      << "\", \"device\": \"" << r.device << "\", \"dtype\": \"" << r.dtype << "\", \"shape\": \"" << r.shape
      << "\", \"median_ms\": " << r.median_ms << ", \"bytes_per_s\": " << r.bytes / r.median_ms * 1e3
      << ", \"fraction_of_copy_bandwidth\": " << r.bw_fraction
      << ", \"flops_per_s\": " << r.flops / r.median_ms * 1e3 << ", \"peak_extra_bytes\": " << r.peak_extra_bytes
      << ", \"speedup_vs_libtorch\": " << r.speedup << "}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
  std::printf("wrote %s\n", o.json.c_str());
}

void usage() {
  std::puts(
      "usage: ssm bench [--device cpu|cuda|all] [--op OP] [--json FILE] [--repeats N] [--quick] [--list-ops]\n"
      "Times every op's benchmark cases (its case table, src/ops/<op>/cases.cpp), forward and forward+backward,\n"
      "against the LibTorch code a user would otherwise write (materialized exp(x l) sum; rfft/multiply/irfft/crop/add\n"
      "chain; per-step loop) and the op's variants. --quick: the first case of each op.\n"
      "Columns: median ms; GB/s (analytic bytes) and its share of the device's measured copy bandwidth; GFLOP/s\n"
      "(analytic flops); peak extra MiB (outputs and gradients included); speedup over the LibTorch baseline.");
}

}  // namespace

namespace ssm::bench {

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ssm-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--device") o.device = value();
    else if (a == "--op") o.only = value();
    else if (a == "--json") o.json = value();
    else if (a == "--repeats") o.repeats = std::stoi(value());
    else if (a == "--quick") o.quick = true;
    else if (a == "--list-ops") {
      for (const auto& t : ssm::cases::tables()) std::printf("%s\n", t.op.c_str());
      return 0;
    }
    else if (a == "--help" || a == "-h") { usage(); return 0; }
    else { std::fprintf(stderr, "ssm-bench: unknown argument '%s'\n", a.c_str()); usage(); return 2; }
  }
  if (o.device != "cpu" && o.device != "cuda" && o.device != "all") {
    std::fprintf(stderr, "ssm-bench: --device must be cpu, cuda or all, got '%s'\n", o.device.c_str());
    return 2;
  }
  std::string ops;
  bool known = o.only.empty();
  for (const auto& t : ssm::cases::tables()) {
    ops += (ops.empty() ? "" : ", ") + t.op;
    known = known || t.op == o.only;
  }
  if (!known) {
    std::fprintf(stderr, "ssm bench: --op must be one of %s, got '%s'\n", ops.c_str(), o.only.c_str());
    return 2;
  }
  if (const char* v = std::getenv("SSM_BUTTERFLY")) {
    had_butterfly_options = true;
    initial_butterfly_options = v;
  }
  // Keep freed blocks of up to 32 MiB in the heap for reuse, as in a long-running training process; otherwise every
  // large CPU allocation is a fresh mmap whose page faults (measured: ~6 ms for 16 MiB here) swamp millisecond ops.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::vector<at::Device> devices;
  if (o.device != "cuda") devices.emplace_back(at::kCPU);
  if (o.device != "cpu") {
    if (!torch::cuda::is_available()) {
      std::fprintf(stderr, "ssm-bench: no CUDA device%s\n", o.device == "cuda" ? "" : "; CPU only");
      if (o.device == "cuda") return 1;
    } else {
      devices.emplace_back(at::kCUDA, 0);
    }
  }
  std::printf("%-14s %-8s %-10s %-28s %-8s %-9s %10s %9s %7s %9s %10s %9s\n", "op", "device", "dtype", "shape",
              "mode", "impl", "median_ms", "GB/s", "of_copy", "GFLOP/s", "peak_MiB", "speedup");
  for (const auto& dev : devices) {
    const bool gpu = dev.is_cuda();
    {
      // The ceiling the GB/s figures are compared with: a 256 MiB device-to-device copy.
      const at::Tensor src = at::rand({64 << 20}, at::TensorOptions().device(dev));
      at::Tensor dst = at::empty_like(src);
      const double ms = median_ms(dev, gpu ? 20 : 5, [&] { dst.copy_(src); });
      copy_bandwidth = 2.0 * static_cast<double>(src.nbytes()) / (ms * 1e-3);
      std::printf("# %s: measured copy bandwidth %.1f GB/s\n", dev.str().c_str(), copy_bandwidth * 1e-9);
      device_copy_bw.emplace_back(dev.str(), copy_bandwidth);
    }
    for (const auto& t : ssm::cases::tables()) {
      if (!o.only.empty() && t.op != o.only) continue;
      for (const auto& c : t.cases) {
        if (!(c.uses & (ssm::cases::kBench | (gpu ? ssm::cases::kBenchCuda : ssm::cases::kBenchCpu)))) continue;
        bench_case(o, dev, t, c);
        if (o.quick) break;
      }
    }
  }
  write_json(o);
  return 0;
}

}  // namespace ssm::bench
