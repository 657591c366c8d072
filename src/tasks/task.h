// Tasks: one object per kind of problem (classification of one sequence, forecasting, ...), registered by name with
// its config keys (data.<task>.*). A task owns its data (loading, splits), batch assembly, loss, metrics, the metric
// that selects the best checkpoint and its direction, and the shape of the model it needs (input encoder and head).
// The trainer (train/trainer.h) knows none of these: it asks the task.
#pragma once

#include "config/config.h"
#include "model/shape.h"

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ssm::tasks {

enum class SplitId { kTrain, kVal, kTest };
SplitId split_id(const std::string& name);  // "train" | "val" | "test", else std::invalid_argument

// One batch: the named tensors a model and a loss consume. Undefined tensors are absent.
struct Batch {
  at::Tensor x;         // (B, L) int64 tokens or (B, L, d) values
  at::Tensor lengths;   // (B) int64 valid lengths of a right-padded x; undefined: all valid
  at::Tensor x2;        // second input of two-input tasks (retrieval), like x
  at::Tensor lengths2;  // its lengths
  at::Tensor y;         // targets: (B) int64 classes or (B, T, V) values
  int64_t size() const { return x.defined() ? x.size(0) : 0; }
  Batch to(const at::Device& d) const;
};

// Sums of per-example metric values over batches; mean(name) = sum / count.
class Metrics {
 public:
  void add(const std::string& name, double sum, double count);
  double mean(const std::string& name) const;  // NaN when absent
  bool has(const std::string& name) const { return sums_.count(name) > 0; }
  std::vector<std::string> names() const;  // in the order first added
  // The (sum, count) behind mean(name); (0, 0) when absent. With add() it restores a saved window exactly.
  std::pair<double, double> totals(const std::string& name) const;
  void clear();

 private:
  std::map<std::string, std::pair<double, double>> sums_;
  std::vector<std::string> order_;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual model::ModelShape model_shape() const = 0;
  virtual int64_t size(SplitId s) const = 0;
  // Rows `index` ((n) int64) of a split, on the CPU.
  virtual Batch batch(SplitId s, const at::Tensor& index) const = 0;
  // The mean loss of a batch that autograd differentiates.
  virtual at::Tensor loss(const at::Tensor& output, const Batch& b) const = 0;
  // Adds the batch's metric sums (the loss included, as "loss").
  virtual void add_metrics(const at::Tensor& output, const Batch& b, Metrics& m) const = 0;
  // The validation metric that selects best.pt, and whether larger is better.
  virtual std::string monitor() const = 0;
  virtual bool maximize() const = 0;
  // One line for `ssm eval` and the end of `ssm train`: "loss 0.41, accuracy 0.8571".
  virtual std::string report(const Metrics& m) const;
  // Writes a few predicted test examples as JSON for scripts/plot-run (forecasting: look-back, truth and prediction
  // of four windows); `predict` runs the model. Tasks with nothing to draw write nothing.
  virtual void save_examples(const std::string& path, const std::function<at::Tensor(const Batch&)>& predict) const {}
  // Real-valued inputs that a perturbation may touch ((n, L, d) float); false for token inputs.
  virtual bool real_inputs() const { return model_shape().vocab_size == 0; }
};

struct TaskSpec {
  std::string name;  // the value of data.task
  std::string doc;
  config::Schema keys;  // data.<name>.*
  std::function<std::unique_ptr<Task>(const config::Config&)> make;
};

const std::vector<TaskSpec>& task_registry();
const TaskSpec& find_task(const std::string& name);  // config::ConfigError listing the known tasks
std::unique_ptr<Task> make_task(const config::Config& c);

// The common data keys (data.root, data.batch_size, ...) every task reads.
struct DataCommon {
  std::string root;
  int64_t limit_train = 0;
  std::string cache_dir;  // data.cache_dir (data/store.h: cache_path)
};
DataCommon data_common(const config::Config& c);

// Each task's spec, defined beside the task.
TaskSpec sfmnist_spec();
TaskSpec listops_spec();
TaskSpec forecast_spec();
TaskSpec uea_spec();
TaskSpec imdb_spec();
TaskSpec aan_spec();
TaskSpec cifar_spec();
TaskSpec pathfinder_spec();
TaskSpec pathx_spec();

}  // namespace ssm::tasks
