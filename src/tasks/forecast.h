// Long-term forecasting (data/forecast.h: the Time-Series-Library protocol): a look-back window in, the next
// horizon steps out; MSE loss; metrics MSE and MAE on the normalized scale, averaged over windows, variates and
// horizon steps as the field reports them; best checkpoint by validation MSE.
#pragma once

#include "data/forecast.h"
#include "tasks/task.h"

namespace ssm::tasks {

class ForecastTask : public Task {
 public:
  ForecastTask(data::ForecastSeries s, bool channel_independent, bool revin, int64_t limit_train);
  std::string name() const override { return "forecast"; }
  model::ModelShape model_shape() const override;
  int64_t size(SplitId s) const override;
  Batch batch(SplitId s, const at::Tensor& index) const override;
  at::Tensor loss(const at::Tensor& prediction, const Batch& b) const override;
  void add_metrics(const at::Tensor& prediction, const Batch& b, Metrics& m) const override;
  std::string monitor() const override { return "mse"; }
  bool maximize() const override { return false; }
  void save_examples(const std::string& path, const std::function<at::Tensor(const Batch&)>& predict) const override;
  const data::ForecastSeries& series() const { return s_; }

 private:
  data::ForecastSeries s_;
  bool channel_independent_, revin_;
  int64_t limit_train_;
};

}  // namespace ssm::tasks
