#include "ops/common/cases.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <sstream>

namespace ssm::cases {
namespace {

std::vector<OpTable>& registry() {
  static std::vector<OpTable> r;
  return r;
}

// The table as JSON for Python: op, dtypes, and per case its label, uses and call arguments.
std::string tables_json() {
  std::ostringstream j;
  j << "[";
  bool first_table = true;
  for (const auto& t : tables()) {
    auto names = [](const std::vector<at::ScalarType>& ts) {
      std::string out;
      for (const auto d : ts) out += (out.empty() ? "\"" : ", \"") + dtype_name(d) + "\"";
      return "[" + out + "]";
    };
    j << (first_table ? "" : ",") << "{\"op\": \"" << t.op << "\", \"dtypes\": " << names(t.cpu_dtypes)
      << ", \"cuda_dtypes\": " << names(t.cuda_dtypes) << ", \"cases\": [";
    first_table = false;
    for (size_t i = 0; i < t.cases.size(); ++i) {
      const Case& c = t.cases[i];
      j << (i ? "," : "") << "{\"index\": " << i << ", \"label\": \"" << c.label << "\", \"uses\": " << c.uses
        << ", \"args\": " << (t.python_args ? t.python_args(c) : "null") << "}";
    }
    j << "]}";
  }
  j << "]";
  return j.str();
}

std::vector<at::Tensor> case_inputs(const std::string& op, int64_t index, at::ScalarType dtype) {
  const OpTable& t = table(op);
  TORCH_CHECK(index >= 0 && index < static_cast<int64_t>(t.cases.size()), "ssm_cases::inputs: op ", op, " has ",
              t.cases.size(), " cases, got index ", index);
  return t.inputs(t.cases[index], dtype, at::kCPU);
}

}  // namespace

int64_t Case::at(const std::string& name) const {
  const auto it = size.find(name);
  TORCH_CHECK(it != size.end(), "case ", label, " has no size '", name, "'");
  return it->second;
}
bool Case::flag(const std::string& name) const { return choice(name) == "1"; }
std::string Case::choice(const std::string& name, const std::string& fallback) const {
  const auto it = option.find(name);
  return it == option.end() ? fallback : it->second;
}

Registrar::Registrar(OpTable (*make)()) { registry().push_back(make()); }

const std::vector<OpTable>& tables() {
  static const bool sorted = [] {
    std::sort(registry().begin(), registry().end(), [](const OpTable& a, const OpTable& b) { return a.op < b.op; });
    return true;
  }();
  (void)sorted;
  return registry();
}

const OpTable& table(const std::string& op) {
  for (const auto& t : tables())
    if (t.op == op) return t;
  std::string known;
  for (const auto& t : tables()) known += (known.empty() ? "" : ", ") + t.op;
  TORCH_CHECK(false, "no case table for op '", op, "' (tables: ", known, ")");
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

at::ScalarType dtype_of(const std::string& name) {
  for (const auto t : {at::kFloat, at::kDouble, at::kBFloat16, at::kHalf, at::kComplexFloat, at::kComplexDouble})
    if (dtype_name(t) == name) return t;
  TORCH_CHECK(false, "unknown dtype '", name, "'");
}

at::Tensor wide(const at::Tensor& t) {
  if (!t.defined()) return t;
  if (!at::isFloatingType(t.scalar_type()) && !at::isComplexType(t.scalar_type())) return t.detach().cpu();
  return t.detach().cpu().to(at::isComplexType(t.scalar_type()) ? at::kComplexDouble : at::kDouble);
}

double rel_error(const at::Tensor& a, const at::Tensor& ref) {
  const at::Tensor r = wide(ref), x = wide(a);
  const double scale = r.abs().max().item<double>();
  return (x - r).abs().max().item<double>() / (scale > 0 ? scale : 1.0);
}

}  // namespace ssm::cases

// From Python (tests/python/test_op_tables.py): torch.ops.ssm_cases.tables() and .inputs(op, index, dtype).
TORCH_LIBRARY(ssm_cases, m) {
  m.def("tables() -> str", [] { return ssm::cases::tables_json(); });
  m.def("inputs(str op, int index, ScalarType dtype) -> Tensor[]",
        [](const std::string& op, int64_t index, at::ScalarType dtype) {
          return ssm::cases::case_inputs(op, index, dtype);
        });
}
