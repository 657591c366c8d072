#include "data/csv.h"

#include "data/text.h"

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
CsvTable read_csv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open (" + std::strerror(errno) + ")");
  std::string line;
  int64_t line_no = 0;
  bool have_header = false;
  std::vector<std::string> header;
  while (read_line(f, line, line_no, path)) {
    if (trim(line).empty()) continue;
    header = split(line, ',');
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
  while (read_line(f, line, line_no, path)) {
    if (trim(line).empty()) continue;
    const std::vector<std::string> cells = split(line, ',');
    if (cells.size() != width)
      throw std::runtime_error(path + ":" + std::to_string(line_no) + ": expected " + std::to_string(width) +
                               " cells as in the header, got " + std::to_string(cells.size()));
    if (has_date) t.dates.push_back(trim(cells[0]));
    for (size_t j = first; j < width; ++j) {
      const std::string cell = trim(cells[j]);
      errno = 0;
      char* end = nullptr;
      const double v = std::strtod(cell.c_str(), &end);
      // The whole cell must be the number (an embedded NUL byte ends strtod's string early).
      if (cell.empty() || end != cell.c_str() + cell.size() || errno == ERANGE || !std::isfinite(v))
        throw std::runtime_error(path + ":" + std::to_string(line_no) + ": column " + std::to_string(j + 1) + " (" +
                                 printable(header[j]) + "): '" + printable(cell) + "' is not a finite number");
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
