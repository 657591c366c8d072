// ssm bench (also built as ssm-bench): times the ssm ops against the LibTorch code a user would otherwise write, in one run.
// Median of repeated runs after warm-up; bytes/s and flop/s from analytic counts; peak extra memory (CPU: growth of
// the process's peak resident set; CUDA: the caching allocator's
// peak; malloc_trim first, so that freed heap pages are not reused unseen). Prints a table and writes JSON.
#include "bench/baselines.h"
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
// column compares with.
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
    for (auto& x : r) {
      x.speedup = r.back().median_ms / x.median_ms;
      std::printf("%-14s %-8s %-10s %-28s %-8s %-9s %10.3f %9.2f %6.1f%% %9.2f %10.1f %8.2fx\n", x.op.c_str(),
                  x.device.c_str(), x.dtype.c_str(), x.shape.c_str(), x.mode.c_str(), x.impl.c_str(), x.median_ms,
                  x.bytes / x.median_ms * 1e-6, 100 * x.bw_fraction, x.flops / x.median_ms * 1e-6,
                  x.peak_extra_bytes / 1048576.0, x.speedup);
      std::fflush(stdout);
      results.push_back(x);
    }
  }
}

// ---- cases --------------------------------------------------------------------------------------------------------
void bench_vandermonde(const Options& o, const at::Device& dev, int64_t B, int64_t N, int64_t L, at::ScalarType dt) {
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor dtv = at::exp(at::rand({B, 1}, f64) * std::log(100.0) + std::log(1e-3));
  const at::Tensor A = at::complex(-0.5 * at::ones({B, N}, f64), M_PI * at::arange(N, f64).expand({B, N}));
  at::Tensor x = (dtv * A).to(dt).to(dev).requires_grad_(true);
  at::Tensor v = at::complex(at::randn({B, N}, f64), at::randn({B, N}, f64)).to(dt).to(dev).requires_grad_(true);
  const double cs = dt == at::kComplexFloat ? 8 : 16;
  const double bytes_fwd = 2 * B * N * cs + B * L * cs / 2;
  const double bytes_fb = bytes_fwd + B * L * cs / 2 + 4 * B * N * cs;
  const double flops_fwd = 8.0 * B * N * L, flops_fb = flops_fwd + 16.0 * B * N * L;
  std::ostringstream shape;
  shape << "B=" << B << " N=" << N << " L=" << L;
  measure(o, dev, "vandermonde", dt == at::kComplexFloat ? "complex64" : "complex128", shape.str(), bytes_fwd,
          flops_fwd, bytes_fb, flops_fb, {v, x},
          {{"ssm", [&] { return ssm::vandermonde(v, x, L); }},
           {"libtorch", [&] { return ssm::bench::vandermonde_materialized(v, x, L); }}});
}

// The FFT convolution of u (B, H, L) with kernels of length L: ssm::fft_conv (op "fft_conv"), or ssm::butterfly_conv
// beside ssm::fft_conv (op "butterfly_conv"), each against the LibTorch rfft chain. Bytes and flops are those of
// the real-FFT algorithm for both ops, so that their rates compare directly.
void bench_conv(const Options& o, const at::Device& dev, const std::string& op, int64_t B, int64_t H, int64_t L,
                bool bidir, at::ScalarType dt) {
  const auto opt = at::TensorOptions().dtype(dt).device(dev);
  at::Tensor u = at::randn({B, H, L}, opt).requires_grad_(true);
  at::Tensor k = (at::randn({H, L}, opt) / L).requires_grad_(true);
  at::Tensor D = at::randn({H}, opt).requires_grad_(true);
  at::Tensor kr = bidir ? (at::randn({H, L}, opt) / L).requires_grad_(true) : at::Tensor();
  const double es = static_cast<double>(c10::elementSize(dt));
  const double n = static_cast<double>(ssm::fft_conv_size(L, L, bidir));
  const double rows = static_cast<double>(B * H);
  const double kbytes = H * L * (bidir ? 2.0 : 1.0) * es + H * es;
  const double bytes_fwd = 2 * rows * L * es + kbytes;
  const double bytes_fb = bytes_fwd + 3 * rows * L * es + kbytes;
  const double fft = 2.5 * n * std::log2(n);
  const double flops_fwd = rows * (2 * fft + 3 * n + 2.0 * L);
  const double flops_fb = flops_fwd + rows * (3 * fft + 6 * n + 4.0 * L);
  std::ostringstream shape;
  shape << "B=" << B << " H=" << H << " L=" << L << (bidir ? " bidir" : "");
  std::vector<at::Tensor> in = {u, k, D};
  if (bidir) in.push_back(kr);
  const std::optional<at::Tensor> krev = bidir ? std::optional<at::Tensor>(kr) : std::nullopt;
  std::vector<Impl> impls;
  if (op == "butterfly_conv") {
    // "butterfly": no factors (exact DFT stages as codelets, the device's default schedule and row layout: real
    // rows where they run in one pass, else single rows). "paired": two samples' rows as one complex row (the layout
    // that was the default until samples had to stay independent; half the transforms). "learned": the exact DFT
    // matrices passed as factors, i.e. the dense-matrix stages a learned-butterfly layer runs (factor gradients not
    // requested); on a GPU in float32 also with 3xTF32 tensor cores ("learned-tc", float32=tensor_cores). On a GPU
    // also "staged": schedule=staged, every stage of a sub-row its own pass (the default fuses the outer stages with
    // the loads, the spectrum product and the stores). Every impl sets SSM_BUTTERFLY (ButterflyOptions) as a whole;
    // it stays set through the backward, and the next impl resets it. The impls outlive this block, so they hold
    // copies of `exact`.
    auto exact = [&](const char* options) {
      setenv("SSM_BUTTERFLY", options, 1);
      return ssm::butterfly_conv(u, k, D, krev);
    };
    impls.emplace_back("butterfly", [exact] { return exact(""); });
    impls.emplace_back("paired", [exact] { return exact("rows=paired"); });
    if (dev.is_cuda()) impls.emplace_back("staged", [exact] { return exact("schedule=staged"); });
    // On a GPU from L = 16K on (multi-pass plans) also "unchunked": the whole work area at once (chunk_bytes of 1 TB)
    // instead of L2-sized chunks of rows.
    if (dev.is_cuda() && L >= 16384) impls.emplace_back("unchunked", [exact] { return exact("chunk_bytes=1000000000000"); });
    // On a GPU in bf16 also "tc": bf16=tensor_cores, the last two radix-16 stages of every sub-row and the spectrum
    // product as warp-level bf16 matrix products (cuda/butterfly_conv/butterfly_fft_tc.h), the default row layout.
    if (dev.is_cuda() && dt == at::kBFloat16) impls.emplace_back("tc", [exact] { return exact("bf16=tensor_cores"); });
    std::vector<at::Tensor> factors = ssm::butterfly_dft_factors(static_cast<int64_t>(n), at::kComplexFloat);
    for (auto& f : factors) f = f.to(dev);
    impls.emplace_back("learned", [&, factors] {
      setenv("SSM_BUTTERFLY", "float32=cuda_cores", 1);
      return ssm::butterfly_conv(u, k, D, krev, at::TensorList(factors));
    });
    if (dev.is_cuda() && dt == at::kFloat)
      impls.emplace_back("learned-tc", [&, factors] {
        setenv("SSM_BUTTERFLY", "float32=tensor_cores", 1);
        return ssm::butterfly_conv(u, k, D, krev, at::TensorList(factors));
      });
  }
  impls.emplace_back(op == "butterfly_conv" ? "fft_conv" : "ssm", [&] { return ssm::fft_conv(u, k, D, krev); });
  impls.emplace_back("libtorch", [&] { return ssm::bench::fft_conv_chain(u, k, D, krev); });
  measure(o, dev, op, std::string(c10::toString(dt)), shape.str(), bytes_fwd, flops_fwd, bytes_fb, flops_fb, in,
          impls);
}

void bench_diag_scan(const Options& o, const at::Device& dev, int64_t B, int64_t L, int64_t P) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  at::Tensor a = at::polar(0.9f + 0.09f * at::rand({P}, f32), at::rand({P}, f32) * 6.2831853f).to(dev).requires_grad_(true);
  at::Tensor b = at::complex(at::randn({B, L, P}, f32), at::randn({B, L, P}, f32)).to(dev).requires_grad_(true);
  const double n = static_cast<double>(B * L * P), cs = 8;
  const double bytes_fwd = 2 * n * cs, bytes_fb = bytes_fwd + 3 * n * cs;  // backward: read g and x, write db
  const double flops_fwd = 8 * n, flops_fb = flops_fwd + 16 * n;
  std::ostringstream shape;
  shape << "B=" << B << " L=" << L << " P=" << P;
  measure(o, dev, "diag_scan", "complex64", shape.str(), bytes_fwd, flops_fwd, bytes_fb, flops_fb, {a, b},
          {{"ssm", [&] { return ssm::diag_scan(a, b); }},
           {"libtorch", [&] { return ssm::bench::diag_scan_loop(a, b); }}});
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
      "usage: ssm bench [--device cpu|cuda|all] [--op vandermonde|fft_conv|butterfly_conv|diag_scan] [--json FILE]\n"
      "                 [--repeats N] [--quick]\n"
      "Times ssm::vandermonde, ssm::fft_conv, ssm::butterfly_conv (beside ssm::fft_conv) and ssm::diag_scan, forward\n"
      "and forward+backward, against the LibTorch code a user would otherwise write (materialized exp(x l) sum;\n"
      "rfft/multiply/irfft/crop/add chain; per-step loop).\n"
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
    else if (a == "--help" || a == "-h") { usage(); return 0; }
    else { std::fprintf(stderr, "ssm-bench: unknown argument '%s'\n", a.c_str()); usage(); return 2; }
  }
  if (o.device != "cpu" && o.device != "cuda" && o.device != "all") {
    std::fprintf(stderr, "ssm-bench: --device must be cpu, cuda or all, got '%s'\n", o.device.c_str());
    return 2;
  }
  if (!o.only.empty() && o.only != "vandermonde" && o.only != "fft_conv" && o.only != "butterfly_conv" &&
      o.only != "diag_scan") {
    std::fprintf(stderr, "ssm bench: --op must be vandermonde, fft_conv, butterfly_conv or diag_scan, got '%s'\n",
                 o.only.c_str());
    return 2;
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
    if (o.only.empty() || o.only == "vandermonde") {
      bench_vandermonde(o, dev, 256, 32, 4096, at::kComplexFloat);
      if (!o.quick) bench_vandermonde(o, dev, 64, 64, gpu ? 65536 : 16384, at::kComplexFloat);
    }
    if (o.only.empty() || o.only == "fft_conv") {
      bench_conv(o, dev, "fft_conv", 16, 256, 4096, false, at::kFloat);
      if (!o.quick) bench_conv(o, dev, "fft_conv", 16, 256, 4096, true, at::kFloat);
      if (gpu) {
        bench_conv(o, dev, "fft_conv", 16, 256, 16384, false, at::kFloat);
        bench_conv(o, dev, "fft_conv", 16, 256, 4096, false, at::kBFloat16);
      }
    }
    if (o.only.empty() || o.only == "butterfly_conv") {
      // About 4M (CPU) or 64M (GPU) elements of u per case, L = 1K .. 64K (CPU) or 1K .. 1M (GPU).
      const int64_t elements = gpu ? (int64_t{1} << 26) : (int64_t{1} << 22);
      const int64_t max_log2 = o.quick ? 10 : (gpu ? 20 : 16);
      for (const auto dt : gpu ? std::vector<at::ScalarType>{at::kFloat, at::kBFloat16}
                               : std::vector<at::ScalarType>{at::kFloat})
        for (int64_t lg = 10; lg <= max_log2; lg += 2) {
          const int64_t L = int64_t{1} << lg, rows = std::max<int64_t>(1, elements / L);
          const int64_t H = std::min<int64_t>(rows, 256), B = std::max<int64_t>(1, rows / H);
          bench_conv(o, dev, "butterfly_conv", B, H, L, false, dt);
        }
    }
    if (o.only.empty() || o.only == "diag_scan") {
      if (gpu) bench_diag_scan(o, dev, 8, 16384, 256);
      else bench_diag_scan(o, dev, 8, 4096, 64);
    }
  }
  write_json(o);
  return 0;
}

}  // namespace ssm::bench
