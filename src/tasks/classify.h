// Classification of one sequence (sequential Fashion-MNIST, UEA multivariate series): cross-entropy loss,
// accuracy, best checkpoint by validation accuracy. Inputs are padded on the right; their valid lengths travel with
// the batch, and the model's pooling and layers respect them.
#pragma once

#include "data/dataset.h"
#include "tasks/task.h"

namespace ssm::tasks {

// What every classification task shares: cross-entropy on the logits against Batch::y, accuracy, best checkpoint by
// validation accuracy.
class ClassifierTask : public Task {
 public:
  at::Tensor loss(const at::Tensor& logits, const Batch& b) const override;
  void add_metrics(const at::Tensor& logits, const Batch& b, Metrics& m) const override;
  std::string monitor() const override { return "accuracy"; }
  bool maximize() const override { return true; }
};

class ClassificationTask : public ClassifierTask {
 public:
  ClassificationTask(std::string name, data::TaskData d) : name_(std::move(name)), d_(std::move(d)) {}
  std::string name() const override { return name_; }
  model::ModelShape model_shape() const override;
  int64_t size(SplitId s) const override { return split(s).size(); }
  Batch batch(SplitId s, const at::Tensor& index) const override;
  const data::TaskData& data() const { return d_; }

 private:
  const data::Split& split(SplitId s) const;
  std::string name_;
  data::TaskData d_;
};

}  // namespace ssm::tasks
