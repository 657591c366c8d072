#include "data/forecast.h"

#include "data/csv.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <stdexcept>

namespace ssm::data {

int64_t ForecastSeries::windows(int s) const {
  return std::max<int64_t>(0, end[s] - begin[s] - lookback - horizon + 1);
}

std::pair<at::Tensor, at::Tensor> ForecastSeries::window(int s, int64_t i) const {
  if (s < 0 || s > 2 || i < 0 || i >= windows(s))
    throw std::out_of_range("forecast window " + std::to_string(i) + " of split " + std::to_string(s) + " (has " +
                            std::to_string(s >= 0 && s <= 2 ? windows(s) : 0) + ")");
  const int64_t row = begin[s] + i;
  const at::Tensor x = series.narrow(0, row, lookback);           // (L, V)
  at::Tensor y = series.narrow(0, row + lookback, horizon);        // (T, V)
  if (target >= 0) y = y.narrow(1, target, 1);                     // (T, 1)
  return {x, y};
}

ForecastSeries load_forecast(const ForecastOptions& o) {
  if (o.features != "M" && o.features != "S" && o.features != "MS")
    throw std::invalid_argument("forecast features must be M, S or MS, got '" + o.features + "'");
  if (o.lookback < 1 || o.horizon < 1) throw std::invalid_argument("forecast look-back and horizon must be >= 1");
  const CsvTable t = read_csv(o.path);
  const int64_t n = t.values.size(0), L = o.lookback;
  int64_t target_col = -1;
  for (size_t j = 0; j < t.columns.size(); ++j)
    if (t.columns[j] == o.target) target_col = static_cast<int64_t>(j);
  if (o.features != "M" && target_col < 0) {
    std::string cols;
    for (const auto& c : t.columns) cols += (cols.empty() ? "" : ", ") + c;
    throw std::runtime_error(o.path + ": no column '" + o.target + "' to forecast (columns: " + cols + ")");
  }
  ForecastSeries f;
  f.lookback = L;
  f.horizon = o.horizon;
  const std::string file = std::filesystem::path(o.path).filename().string();
  if (file.rfind("ETTh", 0) == 0 || file.rfind("ETTm", 0) == 0) {
    const int64_t per_hour = file.rfind("ETTm", 0) == 0 ? 4 : 1, month = 30 * 24 * per_hour;
    f.begin = {0, 12 * month - L, 16 * month - L};
    f.end = {12 * month, 16 * month, 20 * month};
    if (n < f.end[2])
      throw std::runtime_error(o.path + ": " + std::to_string(n) + " rows, but the ETT protocol's test split ends at row " +
                               std::to_string(f.end[2]));
  } else {
    const int64_t n_train = static_cast<int64_t>(n * 0.7), n_test = static_cast<int64_t>(n * 0.2);
    f.begin = {0, n_train - L, n - n_test - L};
    f.end = {n_train, n - n_test, n};
  }
  if (f.begin[1] < 0 || f.begin[2] < 0)
    throw std::runtime_error(o.path + ": look-back " + std::to_string(L) + " reaches before the first row");
  for (int s = 0; s < 3; ++s)
    if (f.windows(s) < 1)
      throw std::runtime_error(o.path + ": the " + std::string(s == 0 ? "train" : s == 1 ? "val" : "test") +
                               " split (rows " + std::to_string(f.begin[s]) + " to " + std::to_string(f.end[s]) +
                               ") is shorter than look-back + horizon (" + std::to_string(L + o.horizon) + ")");
  at::Tensor values = t.values;  // (n, C) float64
  if (o.features == "S") {
    values = values.narrow(1, target_col, 1);
    f.columns = {o.target};
  } else {
    f.columns = t.columns;
    if (o.features == "MS") f.target = target_col;
  }
  const at::Tensor train = values.narrow(0, 0, f.end[0]);
  f.mean = train.mean(0);
  f.std = train.std(0, /*unbiased=*/false);
  // A constant column is left centred, not divided by zero (scikit-learn's rule).
  const at::Tensor scale = at::where(f.std > 0, f.std, at::ones_like(f.std));
  f.series = ((values - f.mean) / scale).to(at::kFloat).contiguous();
  // A value far outside the training part's range can normalize past float32's range (found by fuzzing: -4e111 in
  // the validation rows became -inf): an error naming it, never an infinite input.
  const at::Tensor bad = at::logical_not(at::isfinite(f.series)).nonzero();
  if (bad.size(0) > 0) {
    const int64_t r = bad[0][0].item<int64_t>(), c = bad[0][1].item<int64_t>();
    throw std::runtime_error(o.path + ": data row " + std::to_string(r + 1) + ", column " + f.columns[c] + ": " +
                             std::to_string(values[r][c].item<double>()) +
                             " is out of float32 range once normalized with the training rows' mean and standard "
                             "deviation (" + std::to_string(f.mean[c].item<double>()) + ", " +
                             std::to_string(f.std[c].item<double>()) + ")");
  }
  return f;
}

}  // namespace ssm::data
