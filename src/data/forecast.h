// Long-term forecasting data with the protocol of the field's standard library (Time-Series-Library, as Informer,
// Autoformer, PatchTST, iTransformer and Chimera report): one multivariate series from a CSV file (data/csv.h),
// split by time, z-normalized with the training part's statistics, cut into (look-back, horizon) windows.
//   ETTh* files:  train [0, 8640), val [8640 - L, 11520), test [11520 - L, 14400)   (12/4/4 months of hours)
//   ETTm* files:  the same borders times 4 (15-minute steps)
//   other files:  n_train = floor(0.7 n), n_test = floor(0.2 n): train [0, n_train),
//                 val [n_train - L, n - n_test), test [n - n_test - L, n)
// (L the look-back: each split's first window takes its look-back from the rows before the split.) Window i of a
// split starting at row b: inputs rows [b + i, b + i + L), targets rows [b + i + L, b + i + L + T); a split of r
// rows has r - L - T + 1 windows. Windows are views into the one normalized series, never copies.
// Features: M (all columns in, all out), S (the target column in and out), MS (all in, the target out).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace ssm::data {

struct ForecastOptions {
  std::string path;             // the CSV file
  std::string features = "M";   // M | S | MS
  std::string target = "OT";    // the target column (S, MS)
  int64_t lookback = 96;        // L
  int64_t horizon = 96;         // T
};

struct ForecastSeries {
  at::Tensor series;                 // (rows, V) float32, normalized: every column the model sees
  std::vector<std::string> columns;  // their names
  at::Tensor mean, std;              // (V) float64 training statistics (population std, as scikit-learn's scaler)
  std::array<int64_t, 3> begin{}, end{};  // rows of the train, val and test splits (look-back included)
  int64_t lookback = 0, horizon = 0;
  int64_t target = -1;  // MS: the column of series that is predicted; -1: every column (M, S)

  // Windows of split s (0 train, 1 val, 2 test).
  int64_t windows(int s) const;
  // Window i of split s: inputs (L, V) and targets (T, V) or, for MS, (T, 1); views into `series`.
  std::pair<at::Tensor, at::Tensor> window(int s, int64_t i) const;
};

// Reads and prepares the file; std::runtime_error naming the file for a series too short for the protocol's
// borders, an unknown target column or a look-back + horizon longer than a split.
ForecastSeries load_forecast(const ForecastOptions& o);

}  // namespace ssm::data
