// Fuzz target: the forecasting CSV reader (src/data/csv) and the forecasting protocol on what it read
// (src/data/forecast: splits, normalization, windows).
// Failures must be std::runtime_error / std::invalid_argument naming the file; what loads must keep the readers'
// promises: one date per row when there is a date column, finite values, windows of the declared shapes inside the
// series, a finite normalized series.
#include "data/csv.h"
#include "data/forecast.h"
#include "fuzz_support.h"

#include <ATen/ops/isfinite.h>

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string path = ssm::fuzz::write_file("series.csv", ssm::fuzz::as_string(data, size));
  CsvTable t;
  try {
    t = read_csv(path);
  } catch (const std::runtime_error&) {
    return 0;
  }
  const int64_t rows = t.values.size(0), cols = t.values.size(1);
  if (rows < 1 || cols != static_cast<int64_t>(t.columns.size())) ssm::fuzz::broken("table shape");
  if (!t.dates.empty() && static_cast<int64_t>(t.dates.size()) != rows) ssm::fuzz::broken("dates per row");
  if (!at::isfinite(t.values).all().item<bool>()) ssm::fuzz::broken("non-finite value accepted");

  const uint64_t h = ssm::fuzz::digest(data, size);
  ForecastOptions o;
  o.path = path;
  o.features = h % 3 == 0 ? "M" : h % 3 == 1 ? "S" : "MS";
  o.target = (h >> 8) % 5 == 0 ? "OT" : t.columns[(h >> 16) % t.columns.size()];
  o.lookback = 1 + static_cast<int64_t>((h >> 24) % 4);
  o.horizon = 1 + static_cast<int64_t>((h >> 32) % 3);
  ForecastSeries f;
  try {
    f = load_forecast(o);
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (!at::isfinite(f.series).all().item<bool>()) ssm::fuzz::broken("non-finite normalized series");
  const int64_t V = f.series.size(1);
  for (int s = 0; s < 3; ++s) {
    const int64_t n = f.windows(s);
    if (n < 1) ssm::fuzz::broken("a split without windows was accepted");
    for (const int64_t i : {int64_t(0), n - 1}) {
      const auto [x, y] = f.window(s, i);
      if (x.size(0) != o.lookback || x.size(1) != V || y.size(0) != o.horizon ||
          y.size(1) != (f.target >= 0 ? 1 : V))
        ssm::fuzz::broken("window shape");
    }
    bool threw = false;
    try {
      f.window(s, n);
    } catch (const std::out_of_range&) {
      threw = true;
    }
    if (!threw) ssm::fuzz::broken("window past the split's end accepted");
  }
  return 0;
}
