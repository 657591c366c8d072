// The LRA tasks through the registry: batches, model shapes and the retrieval head's two inputs; and every shipped
// configs/lra/<task>-<model>.yaml trained a few steps on data written here in the task's release format.
#include "data/listops.h"
#include "data/pathfinder_gen.h"
#include "support/fixtures.h"
#include "tasks/lra.h"
#include "train/schema.h"
#include "train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <tuple>

namespace ssm::tasks {
namespace {

namespace fs = std::filesystem;

class LraTasks : public test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    test::use_temp_cache();  // the PTD initializations of the PTD configs
  }
  config::Config cfg(const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"data.cache_dir=" + (dir / "cache").string()};
    all.insert(all.end(), sets.begin(), sets.end());
    return config::Config::from_overrides(train::train_schema(), all);
  }
};

TEST_F(LraTasks, TextRetrievalAndImageBatches) {
  test::write_imdb_like(dir / "aclImdb", 5, 1);
  auto imdb = make_task(cfg({"data.task=imdb", "data.root=" + (dir / "aclImdb").string(), "data.imdb.min_freq=1"}));
  EXPECT_EQ(imdb->size(SplitId::kTrain), 10);
  EXPECT_EQ(imdb->size(SplitId::kVal), 10);  // the test split, as LRA validates
  const auto& text = dynamic_cast<const TextTask&>(*imdb);
  EXPECT_EQ(imdb->model_shape().vocab_size, 3 + static_cast<int64_t>(text.data().vocab.size()));
  EXPECT_EQ(imdb->model_shape().head, model::ModelShape::Head::kClassify);
  const Batch b = imdb->batch(SplitId::kTrain, torch::tensor({0, 9}, torch::kLong));
  EXPECT_EQ(b.x.size(0), 2);
  EXPECT_EQ(b.x.size(1), b.lengths.max().item<int64_t>());  // padded to the longest of the batch
  EXPECT_TRUE(torch::equal(b.y, torch::tensor({0, 1}, torch::kLong)));

  test::write_aan_like(dir / "aan", 12, 4, 4, 2);
  auto aan = make_task(cfg({"data.task=aan", "data.root=" + (dir / "aan").string(), "data.aan.level=bytes"}));
  EXPECT_EQ(aan->model_shape().head, model::ModelShape::Head::kRetrieval);
  EXPECT_EQ(aan->model_shape().vocab_size, 257);
  const Batch r = aan->batch(SplitId::kVal, torch::tensor({1, 2, 3}, torch::kLong));
  ASSERT_TRUE(r.x2.defined() && r.lengths2.defined());
  EXPECT_EQ(r.x2.size(0), 3);
  EXPECT_GT(r.x2.min().item<int64_t>(), -1);
  EXPECT_LE(r.x2.max().item<int64_t>(), 256);

  test::write_cifar_like(dir / "cifar", 4, 3, 3);
  auto cifar = make_task(cfg({"data.task=cifar", "data.root=" + (dir / "cifar").string()}));
  EXPECT_EQ(cifar->size(SplitId::kTrain), 18);
  EXPECT_EQ(cifar->size(SplitId::kVal), 2);
  EXPECT_EQ(cifar->model_shape().vocab_size, 0);
  EXPECT_EQ(cifar->model_shape().d_input, 1);
  EXPECT_TRUE(cifar->real_inputs());
  const Batch c = cifar->batch(SplitId::kTest, torch::tensor({2}, torch::kLong));
  EXPECT_EQ(c.x.sizes(), (torch::IntArrayRef{1, 1024, 1}));
  auto tokens = make_task(cfg({"data.task=cifar", "data.root=" + (dir / "cifar").string(), "data.cifar.input=tokens"}));
  EXPECT_EQ(tokens->model_shape().vocab_size, 256);
  EXPECT_EQ(tokens->batch(SplitId::kTest, torch::tensor({2}, torch::kLong)).x.scalar_type(), torch::kLong);
  test::expect_error([&] {
    make_task(cfg({"data.task=cifar", "data.root=" + (dir / "cifar").string(), "data.cifar.input=tokens",
                   "data.cifar.grayscale=false"}));
  }, {"data.cifar.input", "grayscale"});
  test::expect_error([&] { make_task(cfg({"data.task=aan"})); }, {"data.root", "new_aan_pairs"});
  // Held-out shares that leave under a tenth for training name the key (before any file is read).
  test::expect_error([&] {
    make_task(cfg({"data.task=pathfinder", "data.root=" + (dir / "nowhere").string(), "data.pathfinder.val_fraction=0.5",
                   "data.pathfinder.test_fraction=0.4"}));
  }, {"data.pathfinder.test_fraction", "below 0.9"});
  test::expect_error([&] {
    make_task(cfg({"data.task=pathx", "data.root=" + (dir / "nowhere").string(), "data.pathx.val_fraction=0.5",
                   "data.pathx.test_fraction=0.45"}));
  }, {"data.pathx.test_fraction", "below 0.9"});
}

TEST_F(LraTasks, ListOpsBatchesArePaddedPerBatch) {
  data::ListOpsGenOptions g;
  g.min_length = 10;
  g.max_length = 80;
  std::mt19937_64 rng(11);
  const auto ex = data::generate_listops(g, 30, rng);
  fs::create_directories(dir / "lo");
  for (const auto& [name, from, to] : {std::tuple{"basic_train.tsv", 0, 20}, {"basic_val.tsv", 20, 25},
                                       {"basic_test.tsv", 25, 30}})
    data::write_listops_tsv((dir / "lo" / name).string(), {ex.begin() + from, ex.begin() + to});
  auto t = make_task(cfg({"data.task=listops", "data.root=" + (dir / "lo").string()}));
  EXPECT_EQ(t->size(SplitId::kTrain), 20);
  EXPECT_EQ(t->model_shape().n_classes, 10);
  EXPECT_EQ(t->model_shape().head, model::ModelShape::Head::kClassify);
  int64_t shortest = 0;
  for (int64_t i = 1; i < 20; ++i)
    if (ex[i].length < ex[shortest].length) shortest = i;
  const Batch one = t->batch(SplitId::kTrain, torch::tensor({shortest}, torch::kLong));
  const Batch all = t->batch(SplitId::kTrain, torch::arange(20, torch::kLong));
  EXPECT_EQ(one.x.size(1), one.lengths[0].item<int64_t>());  // no padding beyond the batch's longest
  EXPECT_EQ(all.x.size(1), all.lengths.max().item<int64_t>());
  EXPECT_LT(one.x.size(1), all.x.size(1));
  EXPECT_TRUE(torch::equal(one.x[0], all.x[shortest].narrow(0, 0, one.x.size(1))));
  for (int64_t i = 0; i < 20; ++i) EXPECT_EQ(all.y[i].item<int64_t>(), ex[i].label);
}

TEST_F(LraTasks, ImdbIsLearnable) {
  test::write_imdb_like(dir / "aclImdb", 40, 4);
  const std::vector<std::string> sets = {
      "data.task=imdb", "data.root=" + (dir / "aclImdb").string(), "data.imdb.min_freq=1", "model.d_model=16",
      "model.n_layers=1", "model.d_state=8", "data.batch_size=8", "optimizer.lr=0.01", "trainer.epochs=6",
      "trainer.threads=1", "trainer.out_dir=" + (dir / "run").string()};
  const train::TrainSummary s = train::train(cfg(sets), {false, true});
  // "good great" against "bad awful": far above chance (0.5) after a few epochs.
  EXPECT_GT(s.test.mean("accuracy"), 0.8) << s.test_report;
}

// Trains every configs/lra/<task>-*.yaml for a few steps on data written in the task's format (the configs' models as
// they are, the sequences short and the PTD optimization shortened so that this stays a smoke test).
// `length` (when > 0) is also set as the long convolutions' kernel length.
void smoke(const fs::path& dir, const std::string& task, const std::vector<std::string>& data_sets,
           int64_t length = 0, int64_t steps = 2, int64_t batch = 2) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(std::string(SSM_SOURCE_DIR) + "/configs/lra")) {
    const std::string name = e.path().filename().string();
    if (name.rfind(task + "-", 0) != 0 || e.path().extension() != ".yaml") continue;
    ++n;
    std::vector<std::string> sets = data_sets;
    sets.insert(sets.end(), {"data.cache_dir=" + (dir / "cache").string(), "data.batch_size=" + std::to_string(batch),
                             "data.eval_batch_size=8", "trainer.max_steps=" + std::to_string(steps),
                             "trainer.threads=1",
                             "model.ptd.iterations=20", "schedule.warmup_steps=1",
                             "trainer.out_dir=" + (dir / name).string()});
    if (length > 0 && name.find("longconv") != std::string::npos)
      sets.push_back("model.longconv.max_length=" + std::to_string(length));
    SCOPED_TRACE(name);
    const config::Config c = config::Config::load(train::train_schema(), e.path().string(), sets);
    train::TrainSummary s;
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_NO_THROW(s = train::train(c, {false, true})) << name;
    std::fprintf(stderr, "%s: %lld steps and evaluation in %.1f s\n", name.c_str(), static_cast<long long>(steps),
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    EXPECT_EQ(s.steps, steps);
    EXPECT_TRUE(std::isfinite(s.test.mean("loss"))) << name;
    EXPECT_TRUE(fs::exists(dir / name / "best.pt"));
  }
  EXPECT_EQ(n, 6) << "configs/lra/" << task << "-<model>.yaml: one per model";
}

TEST_F(LraTasks, ListOpsConfigsTrain) {
  std::mt19937_64 rng(5);
  data::ListOpsGenOptions g;
  g.min_length = 10;
  g.max_length = 60;
  fs::create_directories(dir / "lo");
  for (const auto& [name, count] : {std::pair<std::string, int>{"train", 8}, {"val", 4}, {"test", 4}})
    data::write_listops_tsv((dir / "lo" / ("basic_" + name + ".tsv")).string(), data::generate_listops(g, count, rng));
  smoke(dir, "listops", {"data.root=" + (dir / "lo").string(), "data.listops.max_length=64"}, 64);
}

TEST_F(LraTasks, ImdbConfigsTrain) {
  test::write_imdb_like(dir / "aclImdb", 4, 6);
  smoke(dir, "imdb", {"data.root=" + (dir / "aclImdb").string(), "data.imdb.max_length=64", "data.imdb.min_freq=1"}, 64);
}

TEST_F(LraTasks, AanConfigsTrain) {
  test::write_aan_like(dir / "aan", 6, 3, 3, 7);
  smoke(dir, "aan", {"data.root=" + (dir / "aan").string(), "data.aan.max_length=48"}, 48);
}

TEST_F(LraTasks, CifarConfigsTrain) {
  test::write_cifar_like(dir / "cifar", 2, 3, 8);
  smoke(dir, "cifar", {"data.root=" + (dir / "cifar").string()});
}


// A generated Pathfinder folder: n images of resolution R, contour length 14.
fs::path write_pathfinder_set(const fs::path& dir, int64_t R, int64_t n) {
  data::PathfinderWriteOptions w;
  w.out = dir.string();
  w.count = n;
  w.per_batch = 8;
  data::write_pathfinder(data::pathfinder_preset(R, 14), w);
  return dir;
}

TEST_F(LraTasks, PathfinderConfigsTrain) {
  smoke(dir, "pathfinder", {"data.root=" + write_pathfinder_set(dir / "pf", 32, 20).string()});
}

TEST_F(LraTasks, PathXConfigsTrain) {
  // The configs' full length: 128 x 128 images, sequences of 16,384 pixels; one step of one image (the six models
  // at full size take 1-2 minutes even so).
  smoke(dir, "pathx", {"data.root=" + write_pathfinder_set(dir / "px", 128, 10).string()}, 0, 1, 1);
}

}  // namespace
}  // namespace ssm::tasks
