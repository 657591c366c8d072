// The task registry and the tasks: keys that belong to another task or layer are refused with the key and where it
// was set; forecasting and multivariate classification train from configs, log their metrics and evaluate.
#include "support/fixtures.h"
#include "tasks/classify.h"
#include "tasks/forecast.h"
#include "train/schema.h"
#include "train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>

namespace ssm::tasks {
namespace {

namespace fs = std::filesystem;

config::Config from_sets(const std::vector<std::string>& sets) {
  return config::Config::from_overrides(train::train_schema(), sets);
}

TEST(TaskRegistry, EveryTaskAndLayerIsInTheSchema) {
  std::set<std::string> keys;
  for (const auto& k : train::train_schema()) EXPECT_TRUE(keys.insert(k.path).second) << "duplicate key " << k.path;
  for (const auto& t : task_registry())
    for (const auto& k : t.keys) {
      EXPECT_EQ(k.path.rfind("data." + t.name + ".", 0), 0u) << k.path << " is not under data." << t.name;
      EXPECT_TRUE(keys.count(k.path)) << k.path;
    }
  for (const auto& spec : train::train_schema())
    if (spec.path == "data.task") EXPECT_EQ(spec.choices.size(), task_registry().size());
}

class Tasks : public test::TempDirTest {};

TEST_F(Tasks, KeysOfAnotherTaskOrLayerAreRefused) {
  test::expect_error([&] { train::check_config(from_sets({"data.task=listops", "data.sfmnist.permute=true"})); },
                     {"--set data.sfmnist.permute", "belongs to task sfmnist", "data.task is listops"});
  const std::string path = write("bad.yaml",
                                 "data:\n"
                                 "  task: forecast\n"
                                 "  uea:\n"
                                 "    problem: BasicMotions\n");
  test::expect_error([&] { train::check_config(config::Config::load(train::train_schema(), path)); },
                     {"bad.yaml:4:", "data.uea.problem", "belongs to task uea", "data.task is forecast"});
  test::expect_error([&] { train::check_config(from_sets({"model.layer=s4d", "model.s5.blocks=2"})); },
                     {"model.s5.blocks", "belongs to layer s5", "model.layer is s4d"});
  // The chosen task's and layer's own keys are fine.
  EXPECT_NO_THROW(train::check_config(from_sets({"data.task=forecast", "data.forecast.horizon=7", "model.layer=s5",
                                                 "model.s5.blocks=2"})));
}

// A noisy two-variate seasonal series with a trend, 70/10/20 split.
std::string write_seasonal(const fs::path& path, int64_t rows) {
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.05);
  std::ofstream f(path);
  f << "date,load,OT\n";
  for (int64_t r = 0; r < rows; ++r)
    f << "d" << r << "," << std::sin(2 * M_PI * r / 24) + noise(rng) << ","
      << 0.5 * std::cos(2 * M_PI * r / 12) + 0.001 * r + noise(rng) << "\n";
  return path.string();
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream f(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(f, line);) out.push_back(line);
  return out;
}

TEST_F(Tasks, ForecastingTrainsLogsAndEvaluates) {
  write_seasonal(dir / "season.csv", 1200);
  const std::vector<std::string> sets = {
      "data.task=forecast", "data.root=" + dir.string(), "data.forecast.file=season.csv",
      "data.forecast.lookback=48", "data.forecast.horizon=12", "model.d_model=16", "model.n_layers=1",
      "model.d_state=8", "data.batch_size=32", "optimizer.lr=0.005", "trainer.epochs=3", "trainer.log_every=5",
      "trainer.threads=1", "trainer.out_dir=" + (dir / "run").string()};
  const train::TrainSummary s = train::train(from_sets(sets), {false, true});
  EXPECT_EQ(s.monitor, "mse");
  ASSERT_TRUE(s.test.has("mse") && s.test.has("mae"));
  // The task is learnable: far below predicting the mean (MSE 1 on the normalized scale, ~1.0 here).
  EXPECT_LT(s.test.mean("mse"), 0.3) << s.test_report;
  EXPECT_LT(s.best_val, 0.3);
  // metrics.jsonl: train lines with mse, one val line per epoch, a test line.
  int val = 0, test = 0;
  for (const auto& line : read_lines(dir / "run" / "metrics.jsonl")) {
    if (line.find("\"event\": \"val\"") != std::string::npos) {
      ++val;
      EXPECT_NE(line.find("\"mae\": "), std::string::npos) << line;
    }
    test += line.find("\"event\": \"test\"") != std::string::npos;
  }
  EXPECT_EQ(val, 3);
  EXPECT_EQ(test, 1);
  // ssm eval reproduces the test figures; the predicted windows are written for the plot script.
  const train::EvalSummary e = train::evaluate_checkpoint((dir / "run" / "best.pt").string(), "test");
  EXPECT_NEAR(e.metrics.mean("mse"), s.test.mean("mse"), 1e-6);
  EXPECT_NEAR(e.metrics.mean("mae"), s.test.mean("mae"), 1e-6);
  const std::vector<std::string> ex = read_lines(dir / "run" / "test_examples.json");
  ASSERT_FALSE(ex.empty());
  EXPECT_NE(ex[0].find("\"task\": \"forecast\""), std::string::npos);
  // Channel mixing and MS (two variates in, OT out) train as well.
  std::vector<std::string> ms = sets;
  ms.back() = "trainer.out_dir=" + (dir / "ms").string();
  ms.insert(ms.end(), {"data.forecast.features=MS", "data.forecast.channels=mixing", "trainer.epochs=1"});
  const train::TrainSummary m = train::train(from_sets(ms), {false, true});
  EXPECT_TRUE(std::isfinite(m.test.mean("mse")));
}

TEST_F(Tasks, ForecastBatchesStackWindows) {
  write_seasonal(dir / "season.csv", 400);
  const auto c = from_sets({"data.task=forecast", "data.root=" + dir.string(), "data.forecast.file=season.csv",
                            "data.forecast.lookback=10", "data.forecast.horizon=4"});
  const auto task = make_task(c);
  const auto& f = dynamic_cast<const ForecastTask&>(*task).series();
  const Batch b = task->batch(SplitId::kVal, torch::tensor({0, 5}));
  ASSERT_EQ(b.x.sizes(), (torch::IntArrayRef{2, 10, 2}));
  ASSERT_EQ(b.y.sizes(), (torch::IntArrayRef{2, 4, 2}));
  EXPECT_TRUE(torch::equal(b.x[1], f.window(1, 5).first));
  EXPECT_TRUE(torch::equal(b.y[1], f.window(1, 5).second));
  EXPECT_FALSE(task->maximize());
  // MSE and MAE average over windows, horizon steps and variates.
  Metrics m;
  task->add_metrics(b.y + 0.5, b, m);
  EXPECT_NEAR(m.mean("mse"), 0.25, 1e-6);
  EXPECT_NEAR(m.mean("mae"), 0.5, 1e-6);
}

// Two classes told apart by their shape, unequal lengths, a few missing values.
void write_motion(const fs::path& path, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> len(12, 30);
  std::normal_distribution<double> noise(0, 0.2);
  std::ofstream f(path);
  f << "@problemName Motion\n@missing true\n@dimensions 2\n@equalLength false\n@classLabel true still wave\n@data\n";
  for (int64_t i = 0; i < n; ++i) {
    const int cls = static_cast<int>(i % 2), L = len(rng);
    for (int d = 0; d < 2; ++d) {
      for (int t = 0; t < L; ++t) {
        const double v = cls ? std::sin(0.8 * t + d) : 0.3 * d;
        if (t == 3 && i % 5 == 0) f << (t ? "," : "") << "?";
        else f << (t ? "," : "") << v + noise(rng);
      }
      f << ":";
    }
    f << (cls ? "wave" : "still") << "\n";
  }
}

TEST_F(Tasks, MultivariateClassificationTrainsWithAStratifiedValidationSplit) {
  write_motion(dir / "Motion_TRAIN.ts", 60, 1);
  write_motion(dir / "Motion_TEST.ts", 40, 2);
  const auto c = from_sets({"data.task=uea", "data.root=" + dir.string(), "data.uea.problem=Motion",
                            "data.uea.val_fraction=0.2", "model.d_model=16", "model.n_layers=2", "model.d_state=8",
                            "data.batch_size=8", "optimizer.lr=0.01", "trainer.epochs=8", "trainer.threads=1",
                            "trainer.out_dir=" + (dir / "uea").string()});
  const auto task = make_task(c);
  EXPECT_EQ(task->size(SplitId::kTrain), 48);
  EXPECT_EQ(task->size(SplitId::kVal), 12);  // 6 of each class
  const auto& d = dynamic_cast<const ClassificationTask&>(*task).data();
  EXPECT_EQ(d.val.y.sum().item<int64_t>(), 6);
  EXPECT_EQ(d.d_input, 2);
  // Normalized with training statistics: the training values have mean ~0 over the valid positions.
  EXPECT_FALSE(torch::isnan(d.train.x).any().item<bool>());
  const train::TrainSummary s = train::train(c, {false, true});
  EXPECT_EQ(s.monitor, "accuracy");
  EXPECT_GE(s.test.mean("accuracy"), 0.9) << s.test_report;
  const train::EvalSummary e = train::evaluate_checkpoint((dir / "uea" / "best.pt").string(), "test");
  EXPECT_EQ(e.examples, 40);
  EXPECT_NEAR(e.metrics.mean("accuracy"), s.test.mean("accuracy"), 1e-9);
}


// The two selective blocks on both time-series task types: forecasting (Chimera sees the two variates as a grid) and
// multivariate classification; both must learn, and ssm eval must reproduce their test figures.
TEST_F(Tasks, MambaAndChimeraLearnForecastingAndClassification) {
  write_seasonal(dir / "season.csv", 1200);
  write_motion(dir / "Motion_TRAIN.ts", 60, 1);
  write_motion(dir / "Motion_TEST.ts", 40, 2);
  for (const std::string layer : {"mamba", "chimera"}) {
    SCOPED_TRACE(layer);
    std::vector<std::string> common = {"model.layer=" + layer, "model.norm=rms", "model.d_model=16",
                                       "model.d_state=8", "trainer.threads=1"};
    if (layer == "chimera") common.push_back("model.chimera.season_lag=24");
    std::vector<std::string> f = {"data.task=forecast", "data.root=" + dir.string(), "data.forecast.file=season.csv",
                                  "data.forecast.lookback=48", "data.forecast.horizon=12", "model.n_layers=1",
                                  "data.batch_size=32", "optimizer.lr=0.005", "trainer.epochs=3",
                                  "trainer.out_dir=" + (dir / ("f-" + layer)).string()};
    f.insert(f.end(), common.begin(), common.end());
    const train::TrainSummary s = train::train(from_sets(f), {false, true});
    EXPECT_LT(s.test.mean("mse"), 0.3) << s.test_report;
    const train::EvalSummary e = train::evaluate_checkpoint((dir / ("f-" + layer) / "best.pt").string(), "test");
    EXPECT_NEAR(e.metrics.mean("mse"), s.test.mean("mse"), 1e-6);
    std::vector<std::string> u = {"data.task=uea", "data.root=" + dir.string(), "data.uea.problem=Motion",
                                  "model.n_layers=2", "data.batch_size=8", "optimizer.lr=0.01", "trainer.epochs=8",
                                  "trainer.out_dir=" + (dir / ("u-" + layer)).string()};
    u.insert(u.end(), common.begin(), common.end());
    const train::TrainSummary c = train::train(from_sets(u), {false, true});
    EXPECT_GE(c.test.mean("accuracy"), 0.9) << c.test_report;
  }
}

}  // namespace
}  // namespace ssm::tasks
