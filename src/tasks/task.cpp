#include "tasks/task.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>

namespace ssm::tasks {

SplitId split_id(const std::string& name) {
  if (name == "train") return SplitId::kTrain;
  if (name == "val") return SplitId::kVal;
  if (name == "test") return SplitId::kTest;
  throw std::invalid_argument("split must be train, val or test, got '" + name + "'");
}


Batch Batch::to(const at::Device& d) const {
  auto move = [&](const at::Tensor& t) { return t.defined() ? t.to(d) : t; };
  return {move(x), move(lengths), move(x2), move(lengths2), move(y)};
}

void Metrics::add(const std::string& name, double sum, double count) {
  auto it = sums_.find(name);
  if (it == sums_.end()) {
    sums_[name] = {sum, count};
    order_.push_back(name);
  } else {
    it->second.first += sum;
    it->second.second += count;
  }
}

double Metrics::mean(const std::string& name) const {
  const auto it = sums_.find(name);
  if (it == sums_.end() || it->second.second == 0) return std::numeric_limits<double>::quiet_NaN();
  return it->second.first / it->second.second;
}

std::vector<std::string> Metrics::names() const { return order_; }

std::pair<double, double> Metrics::totals(const std::string& name) const {
  const auto it = sums_.find(name);
  return it == sums_.end() ? std::pair<double, double>{0, 0} : it->second;
}

void Metrics::clear() {
  sums_.clear();
  order_.clear();
}

std::string Task::report(const Metrics& m) const {
  std::string out;
  for (const auto& n : m.names()) {
    char b[64];
    std::snprintf(b, sizeof b, "%s%s %.4f", out.empty() ? "" : ", ", n.c_str(), m.mean(n));
    out += b;
  }
  return out;
}

const std::vector<TaskSpec>& task_registry() {
  static const std::vector<TaskSpec> registry = {sfmnist_spec(), listops_spec(), forecast_spec(), uea_spec(),
                                                imdb_spec(),    aan_spec(),     cifar_spec(),
                                                pathfinder_spec(), pathx_spec()};
  return registry;
}

const TaskSpec& find_task(const std::string& name) {
  std::string known;
  for (const auto& s : task_registry()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw config::ConfigError("data.task: unknown task '" + name + "' (known: " + known + ")");
}

std::unique_ptr<Task> make_task(const config::Config& c) { return find_task(c.get_string("data.task")).make(c); }

DataCommon data_common(const config::Config& c) {
  return {c.get_string("data.root"), c.get_int("data.limit_train"), c.get_string("data.cache_dir")};
}

}  // namespace ssm::tasks
