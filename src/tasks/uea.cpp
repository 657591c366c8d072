// Multivariate time-series classification on UEA/UCR .ts files (data/uea.h): <root>/<problem>_TRAIN.ts and
// <problem>_TEST.ts. Each dimension is z-normalized with the statistics of the training cases' observed values;
// missing values then follow data::fill_missing (0 = the training mean when nothing is observed). Unequal lengths are
// right-padded and carry their lengths, which the layers and the pooling respect. The validation split is a
// stratified fraction of the training file (the same fraction of every class, drawn with data.uea.split_seed), or none.
#include "data/uea.h"
#include "tasks/classify.h"

#include <torch/torch.h>

#include <filesystem>
#include <random>

namespace ssm::tasks {
namespace {

// Indices of the validation cases: round(fraction * count) of each class (at least 1 when fraction > 0 and the
// class has 2 or more cases), drawn without replacement.
std::vector<int64_t> stratified(const at::Tensor& y, int64_t classes, double fraction, uint64_t seed) {
  std::vector<std::vector<int64_t>> by_class(classes);
  for (int64_t i = 0; i < y.size(0); ++i) by_class[y[i].item<int64_t>()].push_back(i);
  std::mt19937_64 rng(seed);
  std::vector<int64_t> val;
  for (auto& members : by_class) {
    std::shuffle(members.begin(), members.end(), rng);
    const int64_t n = static_cast<int64_t>(members.size());
    int64_t take = static_cast<int64_t>(std::llround(fraction * n));
    if (fraction > 0 && take == 0 && n >= 2) take = 1;
    take = std::min(take, n - 1);
    val.insert(val.end(), members.begin(), members.begin() + std::max<int64_t>(take, 0));
  }
  std::sort(val.begin(), val.end());
  return val;
}

data::Split to_split(const data::TsFile& f) { return {f.x, f.y, f.lengths}; }

}  // namespace

TaskSpec uea_spec() {
  using config::Type;
  TaskSpec s;
  s.name = "uea";
  s.doc = "multivariate time-series classification on UEA/UCR .ts files (<data.root>/<problem>_{TRAIN,TEST}.ts)";
  s.keys = {
      {"data.uea.problem", Type::kString, "BasicMotions",
       "uea: the problem name: files <data.root>/<problem>_TRAIN.ts and _TEST.ts"},
      {"data.uea.val_fraction", Type::kFloat, "0.0",
       "uea: stratified fraction of the training file held out for validation (0: none; the last checkpoint is "
       "tested)", 0, 0.9},
      {"data.uea.split_seed", Type::kInt, "0", "uea: seed of the validation draw", 0, 1e18},
      {"data.uea.normalize", Type::kBool, "true", "uea: z-normalize each dimension with the training statistics"},
  };
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    const DataCommon common = data_common(c);
    const std::string problem = c.get_string("data.uea.problem");
    const std::filesystem::path root = common.root;
    data::TsFile train = data::read_ts((root / (problem + "_TRAIN.ts")).string());
    data::TsFile test = data::read_ts((root / (problem + "_TEST.ts")).string(), train.labels);
    if (test.x.size(2) != train.x.size(2))
      throw std::runtime_error((root / (problem + "_TEST.ts")).string() + ": " + std::to_string(test.x.size(2)) +
                               " dimensions, the training file has " + std::to_string(train.x.size(2)));
    if (c.get_bool("data.uea.normalize")) {
      // Per-dimension statistics over the observed (valid, non-missing) training values, in float64.
      const at::Tensor v = train.x.to(torch::kDouble);  // (n, L, D)
      const at::Tensor valid = (torch::arange(v.size(1)).view({1, -1, 1}) < train.lengths.view({-1, 1, 1})) &
                               torch::isfinite(v);
      const at::Tensor w = valid.to(torch::kDouble), vz = torch::where(valid, v, torch::zeros_like(v));
      const std::vector<int64_t> cases_and_time = {0, 1};
      const at::Tensor count = w.sum(cases_and_time).clamp_min(1);                               // (D)
      const at::Tensor mean = vz.sum(cases_and_time) / count;                                    // (D)
      const at::Tensor var = ((vz - mean) * w).pow(2).sum(cases_and_time) / count;               // (D)
      const at::Tensor sd = torch::where(var > 0, var.sqrt(), torch::ones_like(var));
      for (data::TsFile* f : {&train, &test}) {
        const at::Tensor in = (torch::arange(f->x.size(1)).view({1, -1, 1}) < f->lengths.view({-1, 1, 1}));
        f->x = torch::where(in, ((f->x.to(torch::kDouble) - mean) / sd), torch::zeros_like(f->x, torch::kDouble))
                   .to(torch::kFloat)
                   .contiguous();
      }
    }
    data::fill_missing(train.x, train.lengths);
    data::fill_missing(test.x, test.lengths);
    data::TaskData d;
    d.name = "uea/" + problem;
    d.d_input = train.x.size(2);
    d.n_classes = static_cast<int64_t>(train.labels.size());
    d.test = to_split(test);
    const double fraction = c.get_float("data.uea.val_fraction");
    const data::Split all = to_split(train);
    if (fraction > 0) {
      const std::vector<int64_t> val = stratified(train.y, d.n_classes, fraction,
                                                  static_cast<uint64_t>(c.get_int("data.uea.split_seed")));
      std::vector<bool> is_val(train.y.size(0), false);
      for (const int64_t i : val) is_val[i] = true;
      std::vector<int64_t> rest;
      for (int64_t i = 0; i < train.y.size(0); ++i)
        if (!is_val[i]) rest.push_back(i);
      d.val = data::take(all, torch::tensor(val));
      d.train = data::take(all, torch::tensor(rest));
    } else {
      d.train = all;
    }
    if (common.limit_train > 0 && common.limit_train < d.train.size())
      d.train = data::take(d.train, torch::arange(common.limit_train));
    return std::make_unique<ClassificationTask>("uea", std::move(d));
  };
  return s;
}

}  // namespace ssm::tasks
