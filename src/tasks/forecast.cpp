#include "tasks/forecast.h"

#include "io/atomic_write.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ssm::tasks {

ForecastTask::ForecastTask(data::ForecastSeries s, bool channel_independent, bool revin, int64_t limit_train)
    : s_(std::move(s)), channel_independent_(channel_independent), revin_(revin), limit_train_(limit_train) {}

model::ModelShape ForecastTask::model_shape() const {
  model::ModelShape m;
  m.head = model::ModelShape::Head::kForecast;
  m.d_input = s_.series.size(1);
  m.variates = s_.series.size(1);
  m.lookback = s_.lookback;
  m.horizon = s_.horizon;
  m.out_index = s_.target;
  m.channel_independent = channel_independent_;
  m.revin = revin_;
  return m;
}

int64_t ForecastTask::size(SplitId s) const {
  const int64_t n = s_.windows(static_cast<int>(s));
  return s == SplitId::kTrain && limit_train_ > 0 ? std::min(n, limit_train_) : n;
}

Batch ForecastTask::batch(SplitId s, const at::Tensor& index) const {
  const at::Tensor idx = index.to(torch::kLong).contiguous();
  const int64_t n = idx.size(0);
  std::vector<at::Tensor> xs, ys;
  xs.reserve(n);
  ys.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    auto [x, y] = s_.window(static_cast<int>(s), idx.data_ptr<int64_t>()[i]);
    xs.push_back(x);
    ys.push_back(y);
  }
  Batch b;
  b.x = torch::stack(xs);  // (B, L, V)
  b.y = torch::stack(ys);  // (B, T, V_out)
  return b;
}

at::Tensor ForecastTask::loss(const at::Tensor& prediction, const Batch& b) const {
  return torch::mse_loss(prediction, b.y);
}

void ForecastTask::add_metrics(const at::Tensor& prediction, const Batch& b, Metrics& m) const {
  const at::Tensor err = (prediction.detach() - b.y).to(torch::kDouble);
  const double count = static_cast<double>(err.numel());
  const double se = err.pow(2).sum().item<double>();
  m.add("loss", se, count);
  m.add("mse", se, count);
  m.add("mae", err.abs().sum().item<double>(), count);
}

void ForecastTask::save_examples(const std::string& path,
                                 const std::function<at::Tensor(const Batch&)>& predict) const {
  // Four test windows spread over the split, every output variate: look-back, truth and prediction, normalized.
  const int64_t n = size(SplitId::kTest), k = std::min<int64_t>(4, n);
  if (k == 0) return;
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < k; ++i) rows.push_back(k == 1 ? 0 : i * (n - 1) / (k - 1));
  const Batch b = batch(SplitId::kTest, torch::tensor(rows));
  const at::Tensor pred = predict(b).to(torch::kCPU, torch::kDouble).contiguous();  // (k, T, V_out)
  const at::Tensor x = b.x.to(torch::kDouble), y = b.y.to(torch::kDouble);
  auto series = [](const at::Tensor& t, int64_t v) {  // (len, V) column v as a JSON list
    std::ostringstream s;
    s.precision(6);
    s << "[";
    for (int64_t i = 0; i < t.size(0); ++i) s << (i ? ", " : "") << t[i][v].item<double>();
    s << "]";
    return s.str();
  };
  std::ostringstream out;
  out << "{\"task\": \"forecast\", \"split\": \"test\", \"scale\": \"normalized\", \"windows\": [\n";
  for (int64_t w = 0; w < k; ++w) {
    out << (w ? ",\n" : "") << "  {\"index\": " << rows[w] << ", \"variates\": [";
    for (int64_t v = 0; v < y.size(2); ++v) {
      const int64_t in_col = s_.target >= 0 ? s_.target : v;
      out << (v ? ", " : "") << "\n    {\"name\": \"" << s_.columns[in_col] << "\", \"lookback\": " << series(x[w], in_col)
          << ", \"truth\": " << series(y[w], v) << ", \"prediction\": " << series(pred[w], v) << "}";
    }
    out << "]}";
  }
  out << "\n]}\n";
  io::write_text_atomically(path, out.str());
}

TaskSpec forecast_spec() {
  using config::Type;
  constexpr double inf = 1e300;
  TaskSpec s;
  s.name = "forecast";
  s.doc = "long-term forecasting of a multivariate series from a CSV file (ETT, exchange_rate, ...)";
  s.keys = {
      {"data.forecast.file", Type::kString, "ETTh1.csv",
       "forecast: the CSV file (relative to data.root): a date column or none, then numeric columns"},
      {"data.forecast.features", Type::kEnum, "M",
       "forecast: M all columns in and out, S the target column only, MS all in and the target out", -inf, inf,
       false, {"M", "S", "MS"}},
      {"data.forecast.target", Type::kString, "OT", "forecast: the target column (features S and MS)"},
      {"data.forecast.lookback", Type::kInt, "96", "forecast: look-back window L (time steps in)", 1, 1e7},
      {"data.forecast.horizon", Type::kInt, "96", "forecast: horizon T (time steps out; 96, 192, 336, 720 standard)",
       1, 1e7},
      {"data.forecast.channels", Type::kEnum, "independent",
       "forecast: independent (each variate its own sequence, shared weights) or mixing (variates as features)",
       -inf, inf, false, {"independent", "mixing"}},
      {"data.forecast.revin", Type::kBool, "true",
       "forecast: reversible instance normalization (each window's look-back mean and std per variate, learned "
       "affine, undone on the output)"},
  };
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    const DataCommon common = data_common(c);
    data::ForecastOptions o;
    const std::filesystem::path file = c.get_string("data.forecast.file");
    o.path = (file.is_absolute() || common.root.empty() ? file : std::filesystem::path(common.root) / file).string();
    o.features = c.get_string("data.forecast.features");
    o.target = c.get_string("data.forecast.target");
    o.lookback = c.get_int("data.forecast.lookback");
    o.horizon = c.get_int("data.forecast.horizon");
    return std::make_unique<ForecastTask>(data::load_forecast(o), c.get_string("data.forecast.channels") == "independent",
                                          c.get_bool("data.forecast.revin"), common.limit_train);
  };
  return s;
}

}  // namespace ssm::tasks
