#include "tasks/classify.h"

#include "data/fashion_mnist.h"

#include <torch/nn/functional/loss.h>
#include <torch/torch.h>

namespace ssm::tasks {

model::ModelShape ClassificationTask::model_shape() const {
  model::ModelShape s;
  s.vocab_size = d_.vocab_size;
  s.d_input = d_.d_input;
  s.n_classes = d_.n_classes;
  s.head = model::ModelShape::Head::kClassify;
  return s;
}

const data::Split& ClassificationTask::split(SplitId s) const {
  return s == SplitId::kTrain ? d_.train : s == SplitId::kVal ? d_.val : d_.test;
}

Batch ClassificationTask::batch(SplitId s, const at::Tensor& index) const {
  const data::Split rows = data::take(split(s), index);
  Batch b;
  b.x = rows.x;
  b.y = rows.y;
  b.lengths = rows.lengths;
  return b;
}

at::Tensor ClassifierTask::loss(const at::Tensor& logits, const Batch& b) const {
  return torch::nn::functional::cross_entropy(logits, b.y);
}

void ClassifierTask::add_metrics(const at::Tensor& logits, const Batch& b, Metrics& m) const {
  const double n = static_cast<double>(b.size());
  m.add("loss", torch::nn::functional::cross_entropy(logits.detach(), b.y).item<double>() * n, n);
  m.add("accuracy", (logits.argmax(1) == b.y).sum().item<double>(), n);
}

TaskSpec sfmnist_spec() {
  using config::Type;
  TaskSpec s;
  s.name = "sfmnist";
  s.doc = "sequential Fashion-MNIST: 784 pixels one at a time, 10 classes (data.root: the IDX files)";
  s.keys = {
      {"data.sfmnist.permute", Type::kBool, "false", "sfmnist: apply one fixed random permutation to the pixel order"},
      {"data.sfmnist.permute_seed", Type::kInt, "0", "sfmnist: seed of that permutation", 0, 1e18},
      {"data.sfmnist.val_fraction", Type::kFloat, "0.1",
       "sfmnist: fraction of the training set held out for validation (its end)", 0, 0.9},
  };
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    data::FashionMnistOptions o;
    const DataCommon common = data_common(c);
    if (!common.root.empty()) o.root = common.root;
    o.limit_train = common.limit_train;
    o.val_fraction = c.get_float("data.sfmnist.val_fraction");
    o.permute = c.get_bool("data.sfmnist.permute");
    o.permute_seed = c.get_int("data.sfmnist.permute_seed");
    return std::make_unique<ClassificationTask>("sfmnist", data::load_fashion_mnist(o));
  };
  return s;
}


}  // namespace ssm::tasks
