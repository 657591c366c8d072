// The CSV files of the long-term forecasting benchmarks (ETT, exchange_rate, ...): a header line of column names,
// then one row per time step; an optional leading date column (its header "date", case-insensitive), then numeric
// columns. A malformed file is reported with its file, line and column: std::runtime_error.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace ssm::data {

struct CsvTable {
  std::vector<std::string> columns;  // names of the numeric columns
  std::vector<std::string> dates;    // one per row when the file has a date column, else empty
  at::Tensor values;                 // (rows, columns) float64
};

CsvTable read_csv(const std::string& path);

}  // namespace ssm::data
