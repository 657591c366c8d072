// The forecasting CSV reader and the Time-Series-Library protocol: borders, normalization and windows, checked
// against values the test computes itself; every malformed file variant with its message.
#include "data/csv.h"
#include "data/forecast.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

namespace ssm::data {
namespace {

class Forecast : public test::TempDirTest {
 protected:
  // Row r, column c of the synthetic series: distinct, deterministic, not normalized.
  static double value(int64_t r, int64_t c) { return std::sin(0.05 * r + c) * (c + 1) + 0.001 * r + 10 * c; }
  std::string write_series(const std::string& name, int64_t rows, int64_t cols, bool date) {
    std::ostringstream s;
    s.precision(17);
    s << (date ? "date," : "");
    for (int64_t c = 0; c < cols; ++c) s << (c ? "," : "") << (c == cols - 1 ? "OT" : "x" + std::to_string(c));
    s << "\n";
    for (int64_t r = 0; r < rows; ++r) {
      if (date) s << "2016-07-01 " << r << ":00:00,";
      for (int64_t c = 0; c < cols; ++c) s << (c ? "," : "") << value(r, c);
      s << "\n";
    }
    return write(name, s.str());
  }
  // Mean and population std of column c over rows [0, n), computed directly.
  static std::pair<double, double> stats(int64_t n, int64_t c) {
    double sum = 0, sq = 0;
    for (int64_t r = 0; r < n; ++r) sum += value(r, c);
    const double mean = sum / n;
    for (int64_t r = 0; r < n; ++r) sq += (value(r, c) - mean) * (value(r, c) - mean);
    return {mean, std::sqrt(sq / n)};
  }
};

TEST_F(Forecast, CsvReaderReadsDatesAndNumbers) {
  const CsvTable t = read_csv(write("a.csv", "date,a,b\n2020-01-01,1.5,-2\r\n2020-01-02,3,4e-3\n\n"));
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(t.dates, (std::vector<std::string>{"2020-01-01", "2020-01-02"}));
  ASSERT_EQ(t.values.sizes(), (torch::IntArrayRef{2, 2}));
  EXPECT_DOUBLE_EQ(t.values[1][1].item<double>(), 4e-3);
  const CsvTable u = read_csv(write("b.csv", "0,1\n0.25,7\n"));
  EXPECT_TRUE(u.dates.empty());
  EXPECT_EQ(u.columns, (std::vector<std::string>{"0", "1"}));
  EXPECT_DOUBLE_EQ(u.values[0][0].item<double>(), 0.25);
}

TEST_F(Forecast, MalformedCsvFilesNameFileLineAndColumn) {
  test::expect_error([&] { read_csv(write("empty.csv", "")); }, {"empty.csv", "empty file"});
  test::expect_error([&] { read_csv(write("header.csv", "date,a\n")); }, {"header.csv", "no data rows"});
  test::expect_error([&] { read_csv(write("ragged.csv", "date,a,b\nd1,1,2\nd2,3\n")); },
                     {"ragged.csv:3:", "expected 3 cells", "got 2"});
  test::expect_error([&] { read_csv(write("text.csv", "date,a,b\nd1,1,2\nd2,3,x7\n")); },
                     {"text.csv:3:", "column 3 (b)", "'x7' is not a finite number"});
  test::expect_error([&] { read_csv(write("blank.csv", "a,b\n1,\n")); }, {"blank.csv:2:", "column 2 (b)"});
  // Found by fuzzing (tests/fuzz): a NUL byte inside a cell ended the number early, "0.21<NUL>1242" read as 0.21.
  test::expect_error([&] { read_csv(write("nul.csv", std::string("a,b\n1,0.21\0\0" "1242\n", 17))); },
                     {"nul.csv:2:", "column 2 (b)", "0.21\\x00\\x001242' is not a finite number"});
  test::expect_error([&] { read_csv((dir / "missing.csv").string()); }, {"missing.csv", "cannot open"});
  test::expect_error([&] { read_csv(write("huge.csv", "a,b\n1,2\n" + std::string(65 << 20, '7') + ",1\n")); },
                     {"huge.csv:3:", "line longer than 64 MiB"});
}

// Found by fuzzing (tests/fuzz): a value that normalizes past float32's range became -inf in the series.
TEST_F(Forecast, ValuesOutOfRangeOnceNormalizedAreErrors) {
  std::string csv = "date,a,OT\n";
  for (int i = 0; i < 24; ++i)
    csv += "d" + std::to_string(i) + "," + (i == 18 ? "-4e111" : std::to_string(i)) + "," + std::to_string(i % 5) + "\n";
  ForecastOptions o;
  o.path = write("far.csv", csv);
  o.lookback = 2;
  o.horizon = 1;
  test::expect_error([&] { load_forecast(o); }, {"far.csv", "data row 19", "column a", "out of float32 range"});
  o.features = "S";  // the column with the value is not read
  EXPECT_NO_THROW(load_forecast(o));
}

TEST_F(Forecast, EttBordersNormalizationAndWindows) {
  const int64_t L = 96, T = 48, V = 3;
  ForecastOptions o;
  o.path = write_series("ETTh1.csv", 14500, V, true);
  o.lookback = L;
  o.horizon = T;
  const ForecastSeries f = load_forecast(o);
  // Rows per split and windows per split, as the protocol defines them.
  EXPECT_EQ(f.begin, (std::array<int64_t, 3>{0, 8640 - L, 11520 - L}));
  EXPECT_EQ(f.end, (std::array<int64_t, 3>{8640, 11520, 14400}));
  EXPECT_EQ(f.windows(0), 8640 - L - T + 1);
  EXPECT_EQ(f.windows(1), 2880 - T + 1);
  EXPECT_EQ(f.windows(2), 2880 - T + 1);
  for (int64_t c = 0; c < V; ++c) {
    const auto [mean, sd] = stats(8640, c);
    EXPECT_NEAR(f.mean[c].item<double>(), mean, 1e-9 * std::abs(mean) + 1e-12) << c;
    EXPECT_NEAR(f.std[c].item<double>(), sd, 1e-9 * sd) << c;
    // The first window of each split: its first input value and its first target value.
    for (int s = 0; s < 3; ++s) {
      const auto [x, y] = f.window(s, 0);
      EXPECT_NEAR(x[0][c].item<double>(), (value(f.begin[s], c) - mean) / sd, 1e-5) << s;
      EXPECT_NEAR(y[0][c].item<double>(), (value(f.begin[s] + L, c) - mean) / sd, 1e-5) << s;
    }
    // The last test window ends on row 14399.
    const auto [x, y] = f.window(2, f.windows(2) - 1);
    EXPECT_NEAR(y[T - 1][c].item<double>(), (value(14399, c) - mean) / sd, 1e-5);
  }
  // Windows are views into the one series: same storage, the expected offset, no copy.
  const auto [x, y] = f.window(1, 7);
  EXPECT_TRUE(x.is_alias_of(f.series));
  EXPECT_TRUE(y.is_alias_of(f.series));
  EXPECT_EQ(x.data_ptr<float>(), f.series.data_ptr<float>() + (f.begin[1] + 7) * V);
  EXPECT_EQ(y.data_ptr<float>(), f.series.data_ptr<float>() + (f.begin[1] + 7 + L) * V);
  EXPECT_THROW(f.window(2, f.windows(2)), std::out_of_range);
}

TEST_F(Forecast, MinuteFilesTakeFourTimesTheBorders) {
  ForecastOptions o;
  o.path = write_series("ETTm2.csv", 57600, 1, true);
  o.lookback = 8;
  o.horizon = 4;
  const ForecastSeries f = load_forecast(o);
  EXPECT_EQ(f.begin, (std::array<int64_t, 3>{0, 34560 - 8, 46080 - 8}));
  EXPECT_EQ(f.end, (std::array<int64_t, 3>{34560, 46080, 57600}));
  o.path = write_series("ETTm1.csv", 50000, 1, true);
  test::expect_error([&] { load_forecast(o); }, {"ETTm1.csv", "50000 rows", "57600"});
}

TEST_F(Forecast, OtherFilesSplit70_10_20AndFeatureModes) {
  const int64_t n = 1001, L = 20, T = 5;
  ForecastOptions o;
  o.path = write_series("rates.csv", n, 4, false);
  o.lookback = L;
  o.horizon = T;
  const ForecastSeries m = load_forecast(o);
  const int64_t n_train = 700, n_test = 200;  // floor(0.7 n), floor(0.2 n)
  EXPECT_EQ(m.begin, (std::array<int64_t, 3>{0, n_train - L, n - n_test - L}));
  EXPECT_EQ(m.end, (std::array<int64_t, 3>{n_train, n - n_test, n}));
  EXPECT_EQ(m.series.size(1), 4);
  EXPECT_EQ(m.target, -1);
  // S: the target column alone; MS: every column in, the target out.
  o.features = "S";
  const ForecastSeries s = load_forecast(o);
  ASSERT_EQ(s.series.size(1), 1);
  const auto [mean, sd] = stats(n_train, 3);
  EXPECT_NEAR(s.window(0, 0).first[0][0].item<double>(), (value(0, 3) - mean) / sd, 1e-5);
  o.features = "MS";
  const ForecastSeries ms = load_forecast(o);
  EXPECT_EQ(ms.target, 3);
  const auto [x, y] = ms.window(2, 3);
  EXPECT_EQ(x.sizes(), (torch::IntArrayRef{L, 4}));
  EXPECT_EQ(y.sizes(), (torch::IntArrayRef{T, 1}));
  EXPECT_TRUE(y.is_alias_of(ms.series));
  EXPECT_NEAR(y[0][0].item<double>(), (value(ms.begin[2] + 3 + L, 3) - mean) / sd, 1e-5);
  // Bad requests: an unknown target, a look-back too long for a split, a short ETT file.
  o.target = "price";
  test::expect_error([&] { load_forecast(o); }, {"rates.csv", "no column 'price'", "x0, x1, x2, OT"});
  o.target = "OT";
  o.lookback = 750;
  test::expect_error([&] { load_forecast(o); }, {"rates.csv", "look-back 750", "before the first row"});
  o.lookback = 20;
  o.horizon = 120;  // the validation part has 101 + L rows
  test::expect_error([&] { load_forecast(o); }, {"rates.csv", "val split", "shorter than look-back + horizon (140)"});
  o.path = write_series("ETTh2.csv", 1000, 2, true);
  test::expect_error([&] { load_forecast(o); }, {"ETTh2.csv", "1000 rows", "14400"});
}

// The real ETTh1 file of ../shared/data: the window counts every Time-Series-Library log shows for 96 -> 96
// (train 8449, val 2785, test 2785).
TEST(ForecastRealData, Etth1WindowCounts) {
  const std::string path = std::string(SSM_SOURCE_DIR) + "/../shared/data/ett/ETTh1.csv";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not on this machine";
  ForecastOptions o;
  o.path = path;
  const ForecastSeries f = load_forecast(o);
  EXPECT_EQ(f.series.size(1), 7);
  EXPECT_EQ(f.windows(0), 8449);
  EXPECT_EQ(f.windows(1), 2785);
  EXPECT_EQ(f.windows(2), 2785);
  // Normalized training rows have mean 0 and population std 1 per column.
  const at::Tensor train = f.series.narrow(0, 0, 8640).to(torch::kDouble);
  EXPECT_LT(train.mean(0).abs().max().item<double>(), 1e-5);
  EXPECT_LT((train.std(0, false) - 1).abs().max().item<double>(), 1e-5);
}

}  // namespace
}  // namespace ssm::data
