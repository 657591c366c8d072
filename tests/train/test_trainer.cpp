// The training driver: schedule, parameter groups, a short run that must learn, exact resume, run-folder safety.
#include "ssm/ops/fft_conv.h"
#include "support/fixtures.h"
#include "train/schema.h"
#include "train/trainer.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <regex>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace ssm::train {
namespace {

namespace fs = std::filesystem;

class Trainer : public test::TempDirTest {
 public:
  void SetUp() override {
    TempDirTest::SetUp();
    test::write_fashion_like(dir / "data", 240, 60, 7);
  }
  config::Config cfg(const std::string& run, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {"data.root=" + (dir / "data").string(),
                                     "trainer.out_dir=" + (dir / run).string(),
                                     "model.d_model=8",
                                     "model.n_layers=1",
                                     "model.d_state=4",
                                     "model.dropout=0.1",
                                     "data.batch_size=16",
                                     "data.sfmnist.val_fraction=0.25",
                                     "optimizer.lr=0.01",
                                     "schedule.warmup_steps=3",
                                     "trainer.epochs=2",
                                     "trainer.log_every=1",
                                     "trainer.threads=1"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return config::Config::from_overrides(train_schema(), sets);
  }
  // A file's bytes (checkpoints compared before and after).
  static std::string bytes(const fs::path& file) {
    std::ifstream f(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  // Train losses by step from a run's metrics.
  std::map<int64_t, double> train_losses(const std::string& run) {
    std::map<int64_t, double> out;
    std::ifstream f(dir / run / "metrics.jsonl");
    const std::regex re("\"event\": \"train\", \"step\": (\\d+), .*\"loss\": ([-0-9.e]+)");
    std::smatch m;
    for (std::string line; std::getline(f, line);)
      if (std::regex_search(line, m, re)) out[std::stoll(m[1])] = std::stod(m[2]);
    return out;
  }
};

TEST(Schedule, WarmupThenDecay) {
  EXPECT_DOUBLE_EQ(lr_factor("cosine", 0, 10, 110, 0.0), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor("cosine", 9, 10, 110, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("cosine", 10, 10, 110, 0.0), 1.0);
  EXPECT_NEAR(lr_factor("cosine", 60, 10, 110, 0.0), 0.5, 1e-12);
  EXPECT_NEAR(lr_factor("cosine", 110, 10, 110, 0.1), 0.1, 1e-12);
  EXPECT_NEAR(lr_factor("linear", 35, 10, 110, 0.0), 0.75, 1e-12);
  EXPECT_DOUBLE_EQ(lr_factor("constant", 80, 10, 110, 0.0), 1.0);
}

TEST_F(Trainer, ParameterGroupsGetTheirLearningRatesAndWeightDecay) {
  const auto c = cfg("groups", {"optimizer.lr=0.02", "optimizer.weight_decay=0.07", "optimizer.ssm_lr=0.0005",
                                "model.n_layers=2"});
  model::ModelShape shape;
  shape.d_input = 1;
  shape.n_classes = 10;
  model::SequenceModel m = build_model(c, shape);
  auto opt = make_optimizer(m, c);
  ASSERT_EQ(opt->param_groups().size(), 2u);
  const auto& g0 = static_cast<const torch::optim::AdamWOptions&>(opt->param_groups()[0].options());
  const auto& g1 = static_cast<const torch::optim::AdamWOptions&>(opt->param_groups()[1].options());
  EXPECT_DOUBLE_EQ(g0.lr(), 0.02);
  EXPECT_DOUBLE_EQ(g0.weight_decay(), 0.07);
  EXPECT_DOUBLE_EQ(g1.lr(), 0.0005);
  EXPECT_DOUBLE_EQ(g1.weight_decay(), 0.0);
  // Group 1 holds exactly log_dt, A_log_re, A_im of every layer; group 0 everything else.
  EXPECT_EQ(opt->param_groups()[1].params().size(), 6u);
  for (const auto& p : m->named_parameters()) {
    const bool ssm = p.key().find("log_dt") != std::string::npos || p.key().find("A_log_re") != std::string::npos ||
                     p.key().find("A_im") != std::string::npos;
    bool in1 = false;
    for (const auto& q : opt->param_groups()[1].params()) in1 |= q.is_same(p.value());
    EXPECT_EQ(in1, ssm) << p.key();
  }
  EXPECT_EQ(opt->param_groups()[0].params().size() + 6, m->parameters().size());
}

TEST_F(Trainer, LearnedButterflyFactorsGetTheirOwnGroupAndResumeExactly) {
  const std::vector<std::string> bfly = {"model.layer=longconv", "model.longconv.max_length=784",
                                         "model.longconv.conv=butterfly", "model.longconv.learn_butterfly=true",
                                         "optimizer.butterfly_lr=0.003", "trainer.max_steps=6"};
  const auto c = cfg("bfly-groups", bfly);
  model::SequenceModel m = build_model(c, tasks::make_task(c)->model_shape());
  auto opt = make_optimizer(m, c);
  ASSERT_EQ(opt->param_groups().size(), 3u);
  const auto& g2 = static_cast<const torch::optim::AdamWOptions&>(opt->param_groups()[2].options());
  EXPECT_DOUBLE_EQ(g2.lr(), 0.003);
  EXPECT_DOUBLE_EQ(g2.weight_decay(), 0.0);
  const auto factors = m->butterfly_parameters();
  ASSERT_EQ(opt->param_groups()[2].params().size(), factors.size());
  EXPECT_EQ(factors.size(), 3u);  // n = 1568 = 8 * 14 * 14
  EXPECT_EQ(opt->param_groups()[0].params().size() + opt->param_groups()[1].params().size() + factors.size(),
            m->parameters().size());
  // The run trains, and a resumed run reproduces it (the factors' optimizer state included).
  train(cfg("bfly-full", bfly), {false, true});
  train(cfg("bfly-split", bfly), TrainOptions{false, true, 3});
  train(cfg("bfly-split", bfly), {true, true});
  const auto a = train_losses("bfly-full"), b = train_losses("bfly-split");
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (const auto& [step, loss] : a) EXPECT_NEAR(b.at(step), loss, 1e-6 * std::abs(loss)) << "step " << step;
  test::expect_error([&] { train(cfg("bfly-bad", {"model.layer=longconv", "model.longconv.max_length=784",
                                                  "model.longconv.learn_butterfly=true"}),
                                 {false, true}); },
                     {"model.longconv.learn_butterfly", "model.longconv.conv: butterfly"});
}

TEST_F(Trainer, ShortRunLowersTheLoss) {
  const TrainSummary s = train(cfg("learn", {"trainer.epochs=4", "optimizer.lr=0.03"}), {false, true});
  const auto losses = train_losses("learn");
  ASSERT_GE(losses.size(), 40u);
  const double first = (losses.at(1) + losses.at(2) + losses.at(3)) / 3;
  const double last = (std::prev(losses.end(), 1)->second + std::prev(losses.end(), 2)->second +
                       std::prev(losses.end(), 3)->second) / 3;
  EXPECT_LT(last, 0.8 * first) << "first " << first << " last " << last;
  EXPECT_GT(s.test.mean("accuracy"), 0.2);  // chance is 0.1
  for (const char* f : {"config.yaml", "metrics.jsonl", "last.pt", "best.pt"}) EXPECT_TRUE(fs::exists(dir / "learn" / f)) << f;
}

TEST_F(Trainer, ResumeContinuesExactly) {
  train(cfg("full"), {false, true});
  TrainOptions stop{false, true, 7};
  train(cfg("split"), stop);
  EXPECT_EQ(train_losses("split").size(), 7u);
  train(cfg("split"), {true, true});
  const auto a = train_losses("full"), b = train_losses("split");
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [step, loss] : a) EXPECT_NEAR(b.at(step), loss, 1e-6 * std::abs(loss)) << "step " << step;
}

TEST_F(Trainer, MambaAndChimeraTrainAndResumeExactly) {
  for (const std::string layer : {"mamba", "chimera"}) {
    SCOPED_TRACE(layer);
    std::vector<std::string> sets = {"model.layer=" + layer, "model.norm=rms"};
    if (layer == "chimera") sets.push_back("model.chimera.season_lag=28");
    train(cfg("full-" + layer, sets), {false, true});
    TrainOptions stop{false, true, 7};
    train(cfg("split-" + layer, sets), stop);
    train(cfg("split-" + layer, sets), {true, true});
    const auto a = train_losses("full-" + layer), b = train_losses("split-" + layer);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_GE(a.size(), 20u);
    for (const auto& [step, loss] : a) EXPECT_NEAR(b.at(step), loss, 1e-6 * std::abs(loss)) << "step " << step;
    EXPECT_LT(a.rbegin()->second, a.begin()->second);
  }
}

TEST_F(Trainer, RefusesToOverwriteARunAndReportsMissingCheckpoint) {
  train(cfg("once", {"trainer.max_steps=2"}), {false, true});
  test::expect_error([&] { train(cfg("once", {"trainer.max_steps=2"}), {false, true}); }, {"last.pt exists", "--resume"});
  test::expect_error([&] { train(cfg("never"), {true, true}); }, {"no checkpoint to resume from"});
}

TEST_F(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  train(cfg("nan", {"trainer.epochs=1"}), {false, true});
  const auto read = [&] { return bytes(dir / "nan" / "last.pt"); };
  const std::string good = read();
  TrainOptions poison{true, true};
  poison.on_step = [](int64_t step, model::SequenceModel& m) {
    if (step == 20) {
      torch::NoGradGuard g;
      m->named_parameters()["decode.bias"].fill_(std::numeric_limits<float>::quiet_NaN());
    }
  };
  try {
    train(cfg("nan", {"trainer.epochs=2"}), poison);
    ADD_FAILURE() << "expected the run to stop";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_TRUE(msg.find("loss is NaN") != std::string::npos || msg.find("loss is Inf") != std::string::npos) << msg;
    EXPECT_NE(msg.find("last.pt"), std::string::npos) << msg;
  }
  EXPECT_EQ(read(), good);
}

TEST_F(Trainer, KeysThatMustAgreeAreChecked) {
  test::expect_error([&] { train(cfg("odd", {"model.d_state=5"}), {false, true}); },
                     {"model.d_state", "even", "5"});
  test::expect_error([&] { train(cfg("dt", {"model.s4d.dt_min=0.5", "model.s4d.dt_max=0.1"}), {false, true}); },
                     {"model.s4d.dt_min", "<= model.s4d.dt_max"});
  test::expect_error(
      [&] { train(cfg("blocks", {"model.layer=s5", "model.d_state=6", "model.s5.blocks=4"}), {false, true}); },
      {"model.d_state", "multiple of model.s5.blocks (4)", "6"});
  test::expect_error(
      [&] { train(cfg("mdt", {"model.layer=mamba", "model.mamba.dt_min=0.5", "model.mamba.dt_max=0.1"}), {false, true}); },
      {"model.mamba.dt_min", "<= model.mamba.dt_max"});
  test::expect_error(
      [&] { train(cfg("cdt", {"model.layer=chimera", "model.chimera.season_dt_min=0.5"}), {false, true}); },
      {"model.chimera.season_dt_min", "<= model.chimera.season_dt_max"});
  test::expect_error([&] { train(cfg("cbi", {"model.layer=chimera", "model.bidirectional=true"}), {false, true}); },
                     {"model.bidirectional", "Chimera", "false"});
  test::expect_error([&] { cfg("lag", {"model.layer=chimera", "model.chimera.season_lag=0"}); },
                     {"model.chimera.season_lag", "0"});
  test::expect_error([&] { cfg("heads", {"model.layer=chimera", "model.chimera.heads=all"}); },
                     {"model.chimera.heads", "all"});
}

// Every record of a run's metrics.jsonl as (event, step), in file order.
std::vector<std::pair<std::string, int64_t>> records(const fs::path& file) {
  std::vector<std::pair<std::string, int64_t>> out;
  std::ifstream f(file);
  const std::regex re("\"event\": \"(\\w+)\", \"step\": (\\d+)");
  std::smatch m;
  for (std::string line; std::getline(f, line);)
    if (std::regex_search(line, m, re)) out.emplace_back(m[1], std::stoll(m[2]));
  return out;
}

// trainer.precision bf16: autocast to bfloat16 around forward passes. The loss curve follows float32's within what
// bfloat16's 8-bit mantissa allows, and the run differs from float32's (the autocast is in effect).
void bf16_against_float32(Trainer& t, const std::string& device, const std::string& layer) {
  const std::vector<std::string> sets = {"trainer.device=" + device, "model.layer=" + layer, "model.dropout=0",
                                         "trainer.epochs=2", "model.d_model=16"};
  auto with = [&](const std::string& p) {
    std::vector<std::string> v = sets;
    v.push_back("trainer.precision=" + p);
    return v;
  };
  const TrainSummary f = train(t.cfg("f32-" + device + "-" + layer, with("float32")), {false, true});
  const TrainSummary b = train(t.cfg("bf16-" + device + "-" + layer, with("bf16")), {false, true});
  const auto lf = t.train_losses("f32-" + device + "-" + layer), lb = t.train_losses("bf16-" + device + "-" + layer);
  ASSERT_EQ(lf.size(), lb.size());
  ASSERT_GT(lf.size(), 20u);
  double worst = 0, any = 0;
  for (const auto& [step, loss] : lf) {
    worst = std::max(worst, std::abs(lb.at(step) - loss) / std::abs(loss));
    any = std::max(any, std::abs(lb.at(step) - loss));
  }
  std::printf("%s %s: %zu steps, loss float32 %.4f -> %.4f, bf16 %.4f -> %.4f, largest relative gap %.3f\n",
              device.c_str(), layer.c_str(), lf.size(), lf.begin()->second, lf.rbegin()->second,
              lb.begin()->second, lb.rbegin()->second, worst);
  EXPECT_LT(worst, 0.05) << "bf16's loss curve leaves float32's";
  EXPECT_GT(any, 0) << "bf16 autocast changed nothing: not in effect";
  EXPECT_TRUE(std::isfinite(b.test.mean("loss")));
  EXPECT_NEAR(b.test.mean("accuracy"), f.test.mean("accuracy"), 0.2);
}

TEST_F(Trainer, Bf16AutocastFollowsFloat32OnTheCpu) {
  for (const char* layer : {"s4d", "s5", "longconv"}) bf16_against_float32(*this, "cpu", layer);
}

TEST_F(Trainer, Bf16AutocastFollowsFloat32OnTheGpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no GPU: bf16 autocast on CUDA not run";
  for (const char* layer : {"s4d", "s5", "mamba"}) bf16_against_float32(*this, "cuda", layer);
}

TEST(Autocast, SsmOpsRunInFloat32UnderBf16Autocast) {
  torch::manual_seed(2);
  const torch::Tensor u = torch::randn({2, 3, 40}).to(torch::kBFloat16), k = torch::randn({3, 40});
  const torch::Tensor want = ssm::fft_conv(u.to(torch::kFloat), k);
  at::autocast::set_autocast_enabled(at::kCPU, true);
  at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
  const torch::Tensor got = ssm::fft_conv(u, k.to(torch::kBFloat16));
  at::autocast::set_autocast_enabled(at::kCPU, false);
  EXPECT_EQ(got.scalar_type(), torch::kFloat);
  // k rounded to bfloat16 by the caller: the op computes in float32 on the rounded values.
  const torch::Tensor want_rounded =
      ssm::fft_conv(u.to(torch::kFloat), k.to(torch::kBFloat16).to(torch::kFloat));
  EXPECT_TRUE(torch::allclose(got, want_rounded, 1e-5, 1e-5));
  EXPECT_FALSE(torch::allclose(got, want, 1e-6, 1e-6));  // the rounding of k is seen: the check can fail
  // Without autocast a bfloat16 input is refused by name, as before.
  EXPECT_THROW(ssm::fft_conv(u, k.to(torch::kBFloat16)), c10::Error);
}

TEST_F(Trainer, ResumedRunLeavesTheLogAsIfItHadNeverStopped) {
  // 12 steps an epoch; log every 5 steps, so that a stop at step 7 falls inside a logging window.
  const std::vector<std::string> sets = {"trainer.log_every=5"};
  train(cfg("full", sets), {false, true});
  // A run that dies at step 18 without a checkpoint (as kill -9 would), after the epoch-end checkpoint at 12 and a
  // torn last line.
  TrainOptions crash{false, true};
  crash.on_step = [](int64_t step, model::SequenceModel&) {
    if (step == 18) throw std::runtime_error("killed");
  };
  test::expect_error([&] { train(cfg("crash", sets), crash); }, {"killed"});
  { std::ofstream(dir / "crash" / "metrics.jsonl", std::ios::app) << "{\"event\": \"train\", \"st"; }
  train(cfg("crash", sets), {true, true});
  // Ctrl-C inside a logging window, then resume.
  TrainOptions stop{false, true, 7};
  train(cfg("stop", sets), stop);
  train(cfg("stop", sets), {true, true});
  const auto full = records(dir / "full" / "metrics.jsonl");
  ASSERT_GE(full.size(), 7u);
  for (const std::string run : {"crash", "stop"}) {
    SCOPED_TRACE(run);
    EXPECT_EQ(records(dir / run / "metrics.jsonl"), full);
    const auto a = train_losses("full"), b = train_losses(run);
    ASSERT_EQ(a.size(), b.size());
    for (const auto& [step, loss] : a) EXPECT_NEAR(b.at(step), loss, 1e-6 * std::abs(loss)) << "step " << step;
  }
  // Resuming a finished run evaluates again but leaves one test record.
  train(cfg("full", sets), {true, true});
  EXPECT_EQ(records(dir / "full" / "metrics.jsonl"), full);
  // A new run in a folder whose previous run died before its first checkpoint starts an empty log.
  TrainOptions early{false, true};
  early.on_step = [](int64_t step, model::SequenceModel&) {
    if (step == 6) throw std::runtime_error("killed");
  };
  test::expect_error([&] { train(cfg("early", sets), early); }, {"killed"});
  ASSERT_FALSE(fs::exists(dir / "early" / "last.pt"));
  train(cfg("early", sets), {false, true});
  EXPECT_EQ(records(dir / "early" / "metrics.jsonl"), full);
}

TEST_F(Trainer, OneRunPerFolder) {
  // The lock of a live run (held here by a second descriptor as another process would) refuses a second run.
  train(cfg("busy", {"trainer.max_steps=2"}), {false, true});  // creates the folder and its lock file
  const int fd = ::open((dir / "busy" / "run.lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  test::expect_error([&] { train(cfg("busy", {"trainer.max_steps=4"}), {true, true}); },
                     {(dir / "busy").string(), "another ssm train", "pid"});
  ::close(fd);  // the holder ends: a stale lock file is no obstacle
  train(cfg("busy", {"trainer.max_steps=4"}), {true, true});
  EXPECT_EQ(train_losses("busy").size(), 4u);
}

TEST_F(Trainer, FailedResumeChangesNothingAndNamesTheKey) {
  train(cfg("keep", {"trainer.max_steps=3"}), {false, true});
  const auto read = [&](const char* f) { return bytes(dir / "keep" / f); };
  const std::string config = read("config.yaml"), metrics = read("metrics.jsonl");
  for (const std::string bad : {"model.d_model=16", "model.n_layers=2", "model.bidirectional=true",
                                "model.d_state=6", "model.pooling=last"}) {
    SCOPED_TRACE(bad);
    test::expect_error([&] { train(cfg("keep", {"trainer.max_steps=6", bad}), {true, true}); },
                       {bad.substr(0, bad.find('=')), "last.pt", "trained with"});
    EXPECT_EQ(read("config.yaml"), config);
    EXPECT_EQ(read("metrics.jsonl"), metrics);
  }
  // An edited config.yaml no longer describes the checkpoint: ssm eval names the key and the line.
  std::string edited = config;
  const size_t at = edited.find("d_model: 8");
  ASSERT_NE(at, std::string::npos);
  edited.replace(at, 10, "d_model: 16");
  { std::ofstream(dir / "keep" / "config.yaml") << edited; }
  test::expect_error([&] { evaluate_checkpoint((dir / "keep" / "last.pt").string(), "test"); },
                     {"config.yaml:", "model.d_model", "16", "trained with 8"});
  // Changed dropout or batch sizes are no reason to refuse.
  { std::ofstream(dir / "keep" / "config.yaml") << config; }
  train(cfg("keep", {"trainer.max_steps=6", "model.dropout=0.2", "data.eval_batch_size=7"}), {true, true});
  EXPECT_EQ(train_losses("keep").size(), 6u);
}

TEST_F(Trainer, DamagedCheckpointIsDetected) {
  train(cfg("bits", {"trainer.max_steps=3"}), {false, true});
  const fs::path ckpt = dir / "bits" / "last.pt";
  EXPECT_GT(evaluate_checkpoint(ckpt.string(), "test").examples, 0);  // intact: loads
  // The stored bytes of one weight (float32, little-endian, stored uncompressed), found and one bit flipped.
  std::string file = bytes(ckpt);
  torch::serialize::InputArchive ar;
  ar.load_from(ckpt.string());
  torch::serialize::InputArchive ma;
  ar.read("model", ma);
  torch::serialize::InputArchive decode;
  ma.read("decode", decode);
  torch::Tensor w;
  decode.read("weight", w);
  const std::string needle(static_cast<const char*>(w.contiguous().data_ptr()), 16);
  const size_t at = file.find(needle);
  ASSERT_NE(at, std::string::npos);
  file[at + 5] ^= 0x10;
  { std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << file; }
  test::expect_error([&] { evaluate_checkpoint(ckpt.string(), "test"); }, {ckpt.string(), "damaged", "checksum"});
}

TEST_F(Trainer, WriteFailuresNameTheFile) {
  // The temporary name of last.pt is taken by a folder with a file in it: the checkpoint cannot be written.
  fs::create_directories(dir / "ro" / "last.pt.tmp" / "x");
  test::expect_error([&] { train(cfg("ro", {"trainer.max_steps=2"}), {false, true}); },
                     {"cannot write " + (dir / "ro" / "last.pt").string()});
  EXPECT_FALSE(fs::exists(dir / "ro" / "last.pt"));
}

TEST_F(Trainer, NonFiniteWeightsAreNeverCheckpointed) {
  // Weights that turn non-finite on an epoch's last step (12 steps an epoch), after its loss was computed.
  train(cfg("inf", {"trainer.epochs=1"}), {false, true});
  const auto last = [&] { return bytes(dir / "inf" / "last.pt"); };
  const std::string good = last();
  TrainOptions poison{true, true};
  poison.after_step = [](int64_t step, model::SequenceModel& m) {
    if (step == 24) {
      torch::NoGradGuard g;
      m->named_parameters()["decode.bias"].fill_(std::numeric_limits<float>::infinity());
    }
  };
  test::expect_error([&] { train(cfg("inf", {"trainer.epochs=2"}), poison); },
                     {"non-finite weights", "decode.bias", "step 24", "last.pt"});
  EXPECT_EQ(last(), good);
  EXPECT_FALSE(fs::exists(dir / "inf" / "last.pt.tmp"));
}

TEST_F(Trainer, PrefetchedBatchesGiveTheSameRunAndValEveryValidatesInsideEpochs) {
  train(cfg("pre", {"data.prefetch=true"}), {false, true});
  train(cfg("nopre", {"data.prefetch=false"}), {false, true});
  const auto pre = train_losses("pre");
  EXPECT_EQ(pre.size(), 24u);
  EXPECT_EQ(pre, train_losses("nopre"));  // the same batches, the same numbers
  // 12 steps an epoch, validation every 5 steps and at each epoch's end.
  train(cfg("ve", {"trainer.val_every=5"}), {false, true});
  std::ifstream f(dir / "ve" / "metrics.jsonl");
  std::vector<int64_t> val_steps;
  const std::regex val("\"event\": \"val\", \"step\": ([0-9]+)");
  for (std::string line; std::getline(f, line);) {
    std::smatch m;
    if (std::regex_search(line, m, val)) val_steps.push_back(std::stoll(m[1]));
  }
  EXPECT_EQ(val_steps, (std::vector<int64_t>{5, 10, 12, 15, 20, 24}));
  // Resuming from a checkpoint written at a val_every point continues exactly.
  train(cfg("ve2", {"trainer.val_every=5"}), {false, true, 15});
  train(cfg("ve2", {"trainer.val_every=5"}), {true, true});
  EXPECT_EQ(train_losses("ve2"), train_losses("ve"));
}

TEST_F(Trainer, EvaluateCheckpointReproducesTheTestFigure) {
  const TrainSummary s = train(cfg("ev", {"trainer.max_steps=6"}), {false, true});
  const EvalSummary e = evaluate_checkpoint((dir / "ev" / "best.pt").string(), "test");
  EXPECT_EQ(e.examples, 60);
  EXPECT_NEAR(e.metrics.mean("accuracy"), s.test.mean("accuracy"), 1e-9);
  EXPECT_NEAR(e.metrics.mean("loss"), s.test.mean("loss"), 1e-6);
}

}  // namespace
}  // namespace ssm::train

namespace ssm::train {
namespace {

TEST(Configs, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(SSM_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    EXPECT_NO_THROW(check_config(config::Config::load(train_schema(), e.path().string()))) << e.path();
  }
  EXPECT_GE(n, 4);
}

TEST(Configs, ReadmeDescribesEveryKey) {
  std::ifstream f(std::string(SSM_SOURCE_DIR) + "/README.md");
  const std::string readme((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (const auto& k : train_schema())
    EXPECT_NE(readme.find("| `" + k.path + "` |"), std::string::npos) << k.path << " is not in the README's key table";
}

}  // namespace
}  // namespace ssm::train

namespace ssm::train {
namespace {

TEST(FourierNoise, NormAndBandAreAsAsked) {
  const torch::Tensor x = torch::randn({3, 200, 2});
  FourierNoise nz;
  nz.eps = 0.3;
  nz.band_lo = 0.5;
  nz.band_hi = 0.8;
  const torch::Tensor noise = (add_fourier_noise(x, nz) - x).to(torch::kDouble);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_NEAR(noise[i].norm().item<double>() / x[i].to(torch::kDouble).norm().item<double>(), 0.3, 1e-6);
  // Energy only on modes [50, 80) of the 100 below Nyquist.
  const torch::Tensor power = torch::abs(torch::fft_rfft(noise, std::nullopt, 1)).pow(2).sum(std::vector<int64_t>{0, 2});  // (101)
  const double inside = power.narrow(0, 50, 30).sum().item<double>(), total = power.sum().item<double>();
  EXPECT_GT(inside / total, 1 - 1e-9);
  nz.eps = 0;
  EXPECT_TRUE(torch::allclose(add_fourier_noise(x, nz), x));
  test::expect_error([&] { add_fourier_noise(torch::randint(0, 5, {2, 10}), nz); }, {"real-valued inputs"});
}

TEST_F(Trainer, EvaluationUnderFourierNoise) {
  train(cfg("noise", {"trainer.epochs=3", "optimizer.lr=0.03"}), {false, true});
  const std::string ckpt = (dir / "noise" / "best.pt").string();
  FourierNoise nz;
  nz.eps = 0;
  const EvalSummary clean = evaluate_checkpoint(ckpt, "test");
  EXPECT_NEAR(evaluate_checkpoint(ckpt, "test", &nz).metrics.mean("accuracy"), clean.metrics.mean("accuracy"), 1e-12);
  nz.eps = 50;  // noise far larger than the signal
  EXPECT_LT(evaluate_checkpoint(ckpt, "test", &nz).metrics.mean("accuracy"), clean.metrics.mean("accuracy"));
}

}  // namespace
}  // namespace ssm::train
