// The Long Range Arena tasks: ListOps, Text (imdb), Retrieval (aan), Image (cifar), Pathfinder and Path-X, from their
// released files (data/listops.h, data/lra_text.h, data/images.h, data/pathfinder.h), through the data cache.
#include "tasks/lra.h"

#include "data/images.h"
#include "data/listops.h"
#include "data/lra_text.h"
#include "data/pathfinder.h"

#include <cstdio>

#include <ATen/ops/index_select.h>

namespace ssm::tasks {

model::ModelShape TextTask::model_shape() const {
  model::ModelShape s;
  s.vocab_size = d_.vocab_size;
  s.n_classes = d_.n_classes;
  s.head = retrieval() ? model::ModelShape::Head::kRetrieval : model::ModelShape::Head::kClassify;
  return s;
}

const data::TextSplit& TextTask::split(SplitId s) const {
  return s == SplitId::kTrain ? d_.train : s == SplitId::kVal ? d_.val : d_.test;
}

Batch TextTask::batch(SplitId s, const at::Tensor& index) const {
  const data::TextSplit& sp = split(s);
  Batch b;
  std::tie(b.x, b.lengths) = sp.x.gather(index);
  if (retrieval()) std::tie(b.x2, b.lengths2) = sp.x2.gather(index);
  b.y = at::index_select(sp.y, 0, index.to(at::kLong));
  return b;
}

model::ModelShape ImageTask::model_shape() const {
  model::ModelShape s;
  s.vocab_size = enc_.tokens ? 256 : 0;
  s.d_input = d_.channels;
  s.n_classes = d_.n_classes;
  s.head = model::ModelShape::Head::kClassify;
  return s;
}

const data::ImageSplit& ImageTask::split(SplitId s) const {
  return s == SplitId::kTrain ? d_.train : s == SplitId::kVal ? d_.val : d_.test;
}

Batch ImageTask::batch(SplitId s, const at::Tensor& index) const {
  Batch b;
  std::tie(b.x, b.y) = data::image_batch(split(s), index, enc_);
  return b;
}

namespace {

using config::Type;

data::TextOptions text_options(const config::Config& c, const std::string& task) {
  data::TextOptions t;
  t.level = data::text_level(c.get_string("data." + task + ".level"));
  t.max_length = c.get_int("data." + task + ".max_length");
  t.min_freq = c.get_int("data." + task + ".min_freq");
  return t;
}

config::Schema text_keys(const std::string& task, const std::string& max_length, const std::string& min_freq,
                         const std::string& what) {
  return {
      {"data." + task + ".level", Type::kEnum, "chars",
       task + ": tokens (bytes: UTF-8 bytes + 1, vocabulary 257, as LRA; chars: characters by training frequency with "
              "<pad> <unk> <eos>, as s4)",
       -1e300, 1e300, false, {"bytes", "chars"}},
      {"data." + task + ".max_length", Type::kInt, max_length,
       task + ": tokens kept per " + what + " (chars: <eos> included)", 2, 1e9},
      {"data." + task + ".min_freq", Type::kInt, min_freq,
       task + ": chars: characters seen fewer times in the training split read as <unk>", 1, 1e12},
  };
}

}  // namespace

TaskSpec listops_spec() {
  TaskSpec s;
  s.name = "listops";
  s.doc = "LRA ListOps: nested list operations as tokens, 10 classes (data.root: basic_{train,val,test}.tsv)";
  s.keys = {
      {"data.listops.max_length", Type::kInt, "2048",
       "listops: longest token sequence, <eos> included (longer ones are cut)", 2, 1e9},
  };
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    const DataCommon common = data_common(c);
    if (common.root.empty()) c.fail("data.root", "listops needs the folder of basic_{train,val,test}.tsv");
    data::ListOpsOptions o;
    o.root = common.root;
    o.limit_train = common.limit_train;
    o.max_length = c.get_int("data.listops.max_length");
    o.cache_dir = common.cache_dir;
    return std::make_unique<TextTask>("listops", data::load_listops(o));
  };
  return s;
}

TaskSpec imdb_spec() {
  TaskSpec s;
  s.name = "imdb";
  s.doc = "LRA Text: IMDB reviews as byte or character tokens, 2 classes (data.root: the aclImdb folder)";
  s.keys = text_keys("imdb", "4096", "15", "review");
  s.keys.push_back({"data.imdb.val_fraction", Type::kFloat, "0.0",
                    "imdb: share of the training reviews held out for validation (0: validate on the test split, "
                    "as LRA and s4 do)",
                    0, 0.9});
  s.keys.push_back({"data.imdb.split_seed", Type::kInt, "42",
                    "imdb: seed of the shuffle that picks the held-out and the limit_train reviews", 0, 1e18});
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    const DataCommon common = data_common(c);
    if (common.root.empty()) c.fail("data.root", "imdb needs the aclImdb folder of the IMDB release");
    data::ImdbOptions o;
    o.root = common.root;
    o.text = text_options(c, "imdb");
    o.val_fraction = c.get_float("data.imdb.val_fraction");
    o.split_seed = static_cast<uint64_t>(c.get_int("data.imdb.split_seed"));
    o.limit_train = common.limit_train;
    o.cache_dir = common.cache_dir;
    return std::make_unique<TextTask>("imdb", data::load_imdb(o));
  };
  return s;
}

TaskSpec aan_spec() {
  TaskSpec s;
  s.name = "aan";
  s.doc = "LRA Retrieval: pairs of AAN papers, cited or not, 2 classes (data.root: the folder of "
          "new_aan_pairs.{train,eval,test}.tsv)";
  s.keys = text_keys("aan", "4000", "1", "document");
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    const DataCommon common = data_common(c);
    if (common.root.empty()) c.fail("data.root", "aan needs the folder of new_aan_pairs.{train,eval,test}.tsv");
    data::AanOptions o;
    o.root = common.root;
    o.text = text_options(c, "aan");
    o.limit_train = common.limit_train;
    o.cache_dir = common.cache_dir;
    return std::make_unique<TextTask>("aan", data::load_aan(o));
  };
  return s;
}

TaskSpec cifar_spec() {
  TaskSpec s;
  s.name = "cifar";
  s.doc = "LRA Image: CIFAR-10 as a sequence of 1024 pixels, 10 classes (data.root: cifar-10-batches-bin)";
  s.keys = {
      {"data.cifar.input", Type::kEnum, "values",
       "cifar: pixels as tokens 0-255 (LRA) or normalized values (s4: mean 122.6/255, std 61.0/255 in gray)", -1e300,
       1e300, false, {"values", "tokens"}},
      {"data.cifar.grayscale", Type::kBool, "true",
       "cifar: LRA's grayscale (else the three colour channels as 3 features; values only)"},
      {"data.cifar.val_fraction", Type::kFloat, "0.1",
       "cifar: share of the 50,000 training images held out for validation (their end; LRA: 5,000)", 0, 0.9},
  };
  s.make = [](const config::Config& c) -> std::unique_ptr<Task> {
    const DataCommon common = data_common(c);
    if (common.root.empty()) c.fail("data.root", "cifar needs the cifar-10-batches-bin folder of the CIFAR-10 release");
    data::CifarOptions o;
    o.root = common.root;
    o.grayscale = c.get_bool("data.cifar.grayscale");
    o.val_fraction = c.get_float("data.cifar.val_fraction");
    o.limit_train = common.limit_train;
    o.cache_dir = common.cache_dir;
    data::PixelEncoding e;
    e.tokens = c.get_string("data.cifar.input") == "tokens";
    if (e.tokens && !o.grayscale)
      c.fail("data.cifar.input", "pixels as tokens need data.cifar.grayscale: true (one value per position)");
    if (o.grayscale) {
      e.mean = {122.6 / 255};
      e.std = {61.0 / 255};
    } else {
      e.mean = {0.4914, 0.4822, 0.4465};
      e.std = {0.247, 0.243, 0.261};
    }
    return std::make_unique<ImageTask>("cifar", data::load_cifar(o), e);
  };
  return s;
}

namespace {

config::Schema pathfinder_keys(const std::string& task, const std::string& resolution) {
  const std::string p = "data." + task + ".";
  return {
      {p + "difficulty", Type::kEnum, "curv_contour_length_14",
       task + ": the release's difficulty folder (LRA: curv_contour_length_14, the hard one)", -1e300, 1e300, false,
       {"curv_baseline", "curv_contour_length_9", "curv_contour_length_14"}},
      {p + "resolution", Type::kInt, resolution, task + ": image side in pixels (the sequence is its square)", 4, 1024},
      {p + "input", Type::kEnum, "values",
       task + ": pixels as tokens 0-255 or values (see " + p + "range)", -1e300, 1e300, false, {"values", "tokens"}},
      {p + "range", Type::kEnum, "signed", task + ": values in [-1, 1] (s4: Normalize(0.5, 0.5)) or [0, 1]", -1e300,
       1e300, false, {"signed", "unit"}},
      {p + "val_fraction", Type::kFloat, "0.1", task + ": share of the images for validation", 0, 0.5},
      {p + "test_fraction", Type::kFloat, "0.1", task + ": share of the images for test", 0, 0.5},
      {p + "split_seed", Type::kInt, "42", task + ": seed of the permutation that splits the images", 0, 1e18},
  };
}

std::unique_ptr<Task> make_pathfinder(const config::Config& c, const std::string& task) {
  const std::string p = "data." + task + ".";
  const DataCommon common = data_common(c);
  if (common.root.empty()) c.fail("data.root", task + " needs a pathfinder<R> folder of the LRA release");
  data::PathfinderOptions o;
  o.name = task;
  o.root = common.root;
  o.difficulty = c.get_string(p + "difficulty");
  o.resolution = c.get_int(p + "resolution");
  o.val_fraction = c.get_float(p + "val_fraction");
  o.test_fraction = c.get_float(p + "test_fraction");
  if (o.val_fraction + o.test_fraction >= 0.9) c.fail(p + "test_fraction", "val_fraction + test_fraction must be below 0.9");
  o.split_seed = static_cast<uint64_t>(c.get_int(p + "split_seed"));
  o.limit_train = common.limit_train;
  o.cache_dir = common.cache_dir;
  data::PixelEncoding e;
  e.tokens = c.get_string(p + "input") == "tokens";
  if (c.get_string(p + "range") == "signed") {
    e.mean = {0.5};
    e.std = {0.5};
  } else {
    e.mean = {0.0};
    e.std = {1.0};
  }
  data::ImageData d = data::load_pathfinder(o);
  if (!d.skipped.empty()) {
    std::fprintf(stderr, "ssm: %s: %zu unreadable images left out, e.g. %s\n", task.c_str(), d.skipped.size(),
                 d.skipped.front().c_str());
  }
  return std::make_unique<ImageTask>(task, std::move(d), e);
}

}  // namespace

TaskSpec pathfinder_spec() {
  TaskSpec s;
  s.name = "pathfinder";
  s.doc = "LRA Pathfinder: are the two circles connected? R x R images as pixel sequences, 2 classes (data.root: a "
          "pathfinder<R> folder)";
  s.keys = pathfinder_keys("pathfinder", "32");
  s.make = [](const config::Config& c) { return make_pathfinder(c, "pathfinder"); };
  return s;
}

TaskSpec pathx_spec() {
  TaskSpec s;
  s.name = "pathx";
  s.doc = "LRA Path-X: Pathfinder at 128 x 128, sequences of 16,384 pixels (data.root: the pathfinder128 folder)";
  s.keys = pathfinder_keys("pathx", "128");
  s.make = [](const config::Config& c) { return make_pathfinder(c, "pathx"); };
  return s;
}

}  // namespace ssm::tasks
