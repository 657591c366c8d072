// The case tables: one per op (src/ops/<op>/cases.cpp), each the single list of the shapes, options and dtypes that
// the op's generic tests (float64 reference, finite-difference gradients, CPU against CUDA: tests/ops/common/
// test_cases.cpp), its benchmark entries (ssm bench) and its Python checks (opcheck, gradcheck: tests/python/
// test_op_tables.py, through the ssm_cases ops below) run. Built as the library ssm_op_cases, beside ssm_ops (which
// carries no test code). Op-specific behaviour (bad inputs, options, special regimes) stays in tests/ops/<op>/.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ssm::cases {

// What a case is for (bits of Case::uses).
enum Use : unsigned {
  kReference = 1,  // the op against its float64 reference, in every CPU dtype of the table
  kGradient = 2,   // autograd against central finite differences, float64 (small shapes)
  kCuda = 4,       // the CUDA op in every CUDA dtype against the float64 reference, forward and gradients
  kBench = 8,      // timed by ssm bench on every device (in option "dtype", default float32)
  kBenchCuda = 16, // timed by ssm bench on a GPU only
  kBenchCpu = 64,  // timed by ssm bench on the CPU only
  kPython = 32,    // torch.library.opcheck and torch.autograd.gradcheck from Python (float64, small shapes)
};

struct Case {
  std::string label;                   // "B2_N64_L1000": unique within its table
  std::map<std::string, int64_t> size;  // named sizes, read by the table's functions
  std::map<std::string, std::string> option;  // named choices ("k_rev": "1", "a": "varying", "dtype": "bfloat16")
  unsigned uses = 0;
  int64_t at(const std::string& name) const;           // size `name` (an error if missing)
  bool flag(const std::string& name) const;            // option `name` is "1"
  std::string choice(const std::string& name, const std::string& fallback = "") const;
};

// A named implementation timed beside the op (the last one of a list is the baseline of the speedup column).
using Impl = std::pair<std::string, std::function<at::Tensor()>>;

struct Counts {
  double bytes_fwd = 0, flops_fwd = 0, bytes_fb = 0, flops_fb = 0;  // forward, forward + backward
};

struct OpTable {
  std::string op;
  std::vector<Case> cases;
  std::vector<at::ScalarType> cpu_dtypes, cuda_dtypes;  // the dtypes the reference and CUDA tests run
  // Fresh random inputs of case c in dtype (the table's meaning: for complex ops the complex dtype) on device, the
  // tensors in schema order (absent optional inputs are undefined tensors).
  std::function<std::vector<at::Tensor>(const Case& c, at::ScalarType dtype, at::Device device)> inputs;
  // The op on those inputs (through the dispatcher, so autograd applies).
  std::function<at::Tensor(const Case& c, const std::vector<at::Tensor>& in)> run;
  // The float64 reference, written plainly (loops, materialized sums), on the inputs widened to float64.
  std::function<at::Tensor(const Case& c, const std::vector<at::Tensor>& in)> reference;
  // The largest error allowed, relative to max |reference|, for the op's output and gradients in dtype on device.
  std::function<double(const Case& c, at::ScalarType dtype, bool cuda)> tolerance;
  // Benchmark: analytic bytes and flops of case c in dtype.
  std::function<Counts(const Case& c, at::ScalarType dtype)> counts;
  // Benchmark: the implementations timed beside "ssm" on inputs `in` (the LibTorch baseline last).
  std::function<std::vector<Impl>(const Case& c, const std::vector<at::Tensor>& in)> impls;
  // Python: the op's arguments as JSON, tensors named "t0".."tn" by position in inputs(), e.g.
  // ["t0", "t1", 16] or ["t0", "t1", null, "t3", false].
  std::function<std::string(const Case& c)> python_args;
};

// Every table, in the order the ops registered (tables() sorts by op name).
const std::vector<OpTable>& tables();
const OpTable& table(const std::string& op);
// Called by each op's cases.cpp through a static Registrar.
struct Registrar {
  explicit Registrar(OpTable (*make)());
};

// Helpers the tables share.
std::string dtype_name(at::ScalarType t);
at::ScalarType dtype_of(const std::string& name);  // "float32", "bfloat16", ... (an error if unknown)
// t widened to float64 (or complex128) on the CPU; integer tensors only move to the CPU; undefined stays undefined.
at::Tensor wide(const at::Tensor& t);
// max |a - ref| / max |ref|, compared in float64 (max |ref| of 0 counts as 1).
double rel_error(const at::Tensor& a, const at::Tensor& ref);

}  // namespace ssm::cases
