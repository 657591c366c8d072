#include "data/uea.h"

#include "data/text.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace ssm::data {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string w; ss >> w;) out.push_back(w);
  return out;
}

}  // namespace

TsFile read_ts(const std::string& path, const std::vector<std::string>& known_labels) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  auto where = [&](int64_t line) { return path + ":" + std::to_string(line) + ": "; };
  TsFile t;
  int64_t dims = -1, line_no = 0;
  bool in_data = false, has_labels = false, timestamps = false;
  std::vector<std::vector<std::vector<float>>> cases;  // case, dimension, values
  std::vector<int64_t> y, case_lines;
  std::string line;
  while (read_line(f, line, line_no, path)) {
    const std::string s = trim(line);
    if (s.empty() || s[0] == '#') continue;
    if (!in_data) {
      if (s[0] != '@') throw std::runtime_error(where(line_no) + "expected a header line (@key value) or @data");
      const std::vector<std::string> w = words(s);
      const std::string key = lower(w[0]);
      auto value = [&]() -> std::string {
        if (w.size() < 2) throw std::runtime_error(where(line_no) + w[0] + " needs a value");
        return lower(w[1]);
      };
      if (key == "@data") {
        in_data = true;
        if (!has_labels) throw std::runtime_error(where(line_no) + "@data before @classLabel: this reader needs class labels");
        if (timestamps) throw std::runtime_error(where(line_no) + "@timeStamps true is not supported (values only)");
        if (!known_labels.empty()) t.labels = known_labels;
      } else if (key == "@problemname") {
        if (w.size() > 1) t.problem = w[1];
      } else if (key == "@dimensions") {
        char* end = nullptr;
        const std::string v = value();
        errno = 0;
        dims = std::strtoll(v.c_str(), &end, 10);
        // Every dimension of a case takes at least two bytes of its line, which is bounded (kMaxLineBytes).
        if (end != v.c_str() + v.size() || errno == ERANGE || dims < 1 || dims > static_cast<int64_t>(kMaxLineBytes / 2))
          throw std::runtime_error(where(line_no) + "@dimensions needs a positive integer up to " +
                                   std::to_string(kMaxLineBytes / 2) + ", got '" + printable(v) + "'");
      } else if (key == "@timestamps") {
        timestamps = value() == "true";
      } else if (key == "@classlabel") {
        if (value() != "true") throw std::runtime_error(where(line_no) + "@classLabel false: this reader needs class labels");
        t.labels.assign(w.begin() + 2, w.end());
        if (t.labels.empty()) throw std::runtime_error(where(line_no) + "@classLabel true lists no labels");
        has_labels = true;
      } else if (key == "@missing" || key == "@univariate" || key == "@equallength" || key == "@serieslength" ||
                 key == "@targetlabel") {
        value();
      } else {
        throw std::runtime_error(where(line_no) + "unknown header key " + printable(w[0]));
      }
      continue;
    }
    std::vector<std::string> fields = split(s, ':');
    if (dims < 0) {  // no @dimensions: the first case decides
      dims = static_cast<int64_t>(fields.size()) - 1;
      if (dims < 1)  // found by fuzzing: a case of a label only made a file of cases without values
        throw std::runtime_error(where(line_no) + "expected values and a class label separated by ':', got '" +
                                 printable(s) + "'");
    }
    if (static_cast<int64_t>(fields.size()) != dims + 1)
      throw std::runtime_error(where(line_no) + "expected " + std::to_string(dims) +
                               " dimensions and a class label separated by ':', got " + std::to_string(fields.size()) +
                               " fields");
    const std::string label = trim(fields.back());
    const auto it = std::find(t.labels.begin(), t.labels.end(), label);
    if (it == t.labels.end()) {
      std::string list;
      for (const auto& l : t.labels) list += (list.empty() ? "" : " ") + l;
      throw std::runtime_error(where(line_no) + "class label '" + printable(label) + "' is not among the labels (" + list + ")");
    }
    y.push_back(it - t.labels.begin());
    std::vector<std::vector<float>> c(static_cast<size_t>(dims));
    for (int64_t d = 0; d < dims; ++d) {
      const std::vector<std::string> vals = split(fields[d], ',');
      for (size_t k = 0; k < vals.size(); ++k) {
        const std::string v = trim(vals[k]);
        if (v == "?" || lower(v) == "nan") {
          c[d].push_back(std::numeric_limits<float>::quiet_NaN());
          continue;
        }
        char* end = nullptr;
        errno = 0;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE || !std::isfinite(x))
          throw std::runtime_error(where(line_no) + "dimension " + std::to_string(d + 1) + ", value " +
                                   std::to_string(k + 1) + ": '" + printable(v) + "' is not a number or '?'");
        c[d].push_back(static_cast<float>(x));
      }
      if (c[d].empty()) throw std::runtime_error(where(line_no) + "dimension " + std::to_string(d + 1) + " has no values");
    }
    cases.push_back(std::move(c));
    case_lines.push_back(line_no);
  }
  if (!in_data) throw std::runtime_error(path + ": no @data line (is this a .ts file?)");
  if (cases.empty()) throw std::runtime_error(path + ": no cases after @data");
  const int64_t n = static_cast<int64_t>(cases.size());
  int64_t L = 0, longest = 0;
  std::vector<int64_t> len(n);
  for (int64_t i = 0; i < n; ++i) {
    for (const auto& d : cases[i]) len[i] = std::max<int64_t>(len[i], static_cast<int64_t>(d.size()));
    if (len[i] > L) L = len[i], longest = i;
  }
  // Padding every case to the longest one multiplies sizes: a file of many short cases and one long one would ask for
  // far more memory than it holds. Bounded (2^31 values, 8 GiB), with the numbers.
  constexpr int64_t kMaxValues = int64_t(1) << 31;
  if (static_cast<double>(n) * static_cast<double>(L) * static_cast<double>(dims) > static_cast<double>(kMaxValues))
    throw std::runtime_error(path + ": " + std::to_string(n) + " cases of " + std::to_string(dims) +
                             " dimensions padded to the longest case (line " + std::to_string(case_lines[longest]) +
                             ", " + std::to_string(L) + " values) take " +
                             std::to_string(static_cast<double>(n) * L * dims * 4 / (1 << 30)) +
                             " GiB: more than the 8 GiB this reader allows");
  t.x = at::zeros({n, L, dims}, at::TensorOptions().dtype(at::kFloat));
  t.lengths = at::empty({n}, at::TensorOptions().dtype(at::kLong));
  t.y = at::empty({n}, at::TensorOptions().dtype(at::kLong));
  float* x = t.x.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    t.lengths.data_ptr<int64_t>()[i] = len[i];
    t.y.data_ptr<int64_t>()[i] = y[i];
    for (int64_t d = 0; d < dims; ++d)
      for (int64_t k = 0; k < len[i]; ++k)  // a dimension shorter than its case's longest: missing at the end
        x[(i * L + k) * dims + d] = k < static_cast<int64_t>(cases[i][d].size())
                                        ? cases[i][d][k]
                                        : std::numeric_limits<float>::quiet_NaN();
  }
  return t;
}

void fill_missing(at::Tensor& x, const at::Tensor& lengths) {
  TORCH_CHECK(x.dim() == 3 && x.scalar_type() == at::kFloat && x.is_contiguous(), "fill_missing: (n, L, D) float32");
  const int64_t n = x.size(0), L = x.size(1), D = x.size(2);
  float* p = x.data_ptr<float>();
  const int64_t* len = lengths.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t d = 0; d < D; ++d) {
      float* v = p + i * L * D + d;
      float last = std::numeric_limits<float>::quiet_NaN();
      for (int64_t k = 0; k < len[i]; ++k) {
        if (std::isnan(v[k * D])) v[k * D] = last;
        else last = v[k * D];
      }
      // Leading missing values: the first observed value; nothing observed: 0.
      int64_t first = 0;
      while (first < len[i] && std::isnan(v[first * D])) ++first;
      const float fill = first < len[i] ? v[first * D] : 0.0f;
      for (int64_t k = 0; k < first; ++k) v[k * D] = fill;
    }
}

}  // namespace ssm::data
