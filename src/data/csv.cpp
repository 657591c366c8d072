#include "data/csv.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace ssm::data {
namespace {

std::vector<std::string> split_cells(const std::string& line) {
  std::vector<std::string> cells;
  size_t start = 0;
  while (true) {
    const size_t comma = line.find(',', start);
    cells.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return cells;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

CsvTable read_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string line;
  int64_t line_no = 0;
  bool have_header = false;
  std::vector<std::string> header;
  while (std::getline(f, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    header = split_cells(line);
    have_header = true;
    break;
  }
  if (!have_header) throw std::runtime_error(path + ": empty file (expected a header line of column names)");
  for (auto& h : header) h = trim(h);
  const bool has_date = lower(header[0]) == "date";
  CsvTable t;
  t.columns.assign(header.begin() + (has_date ? 1 : 0), header.end());
  if (t.columns.empty()) throw std::runtime_error(path + ":" + std::to_string(line_no) + ": no numeric columns");
  const size_t width = header.size(), first = has_date ? 1 : 0;
  std::vector<double> values;
  int64_t rows = 0;
  while (std::getline(f, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells = split_cells(line);
    if (cells.size() != width)
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": expected " + std::to_string(width) +
                               " cells as in the header, got " + std::to_string(cells.size()));
    if (has_date) t.dates.push_back(trim(cells[0]));
    for (size_t j = first; j < width; ++j) {
      const std::string cell = trim(cells[j]);
      errno = 0;
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      if (cell.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v))
        throw std::runtime_error(path + ":" + std::to_string(line_no) + ": column " + std::to_string(j + 1) + " (" +
                                 header[j] + "): '" + cell + "' is not a finite number");
      values.push_back(v);
    }
    ++rows;
  }
  if (rows == 0) throw std::runtime_error(path + ": no data rows after the header");
  const int64_t cols = static_cast<int64_t>(t.columns.size());
  t.values = at::empty({rows, cols}, at::TensorOptions().dtype(at::kDouble));
  std::copy(values.begin(), values.end(), t.values.data_ptr<double>());
  return t;
}

}  // namespace ssm::data
