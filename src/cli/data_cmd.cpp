// ssm data: the generators (listops, pathfinder) and inspect.
#include "config/config.h"
#include "data/listops.h"
#include "data/pathfinder_gen.h"
#include "tasks/lra.h"
#include "tasks/task.h"
#include "train/schema.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/bincount.h>

#include <ATen/ops/full.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace ssm::cli {
namespace {

namespace fs = std::filesystem;
using Usage = int (*)(const std::string&);

const char* kDataHelp =
    "usage: ssm data listops --out DIR [--seed S] [--train N] [--val N] [--test N] [--min-length N]\n"
    "                        [--max-length N] [--max-depth N] [--max-args N] [--force]\n"
    "       ssm data pathfinder --out DIR [--resolution 32|64|128|256] [--contour-length 6|9|14] [--count N]\n"
    "                        [--seed S] [--per-batch N] [--threads T] [--force]\n"
    "       ssm data inspect TASK DIR [--set key.path=value ...]\n\n"
    "listops: generates ListOps with the algorithm of the Long Range Arena release and writes basic_train.tsv,\n"
    "  basic_val.tsv and basic_test.tsv (Source<TAB>Target) into DIR. Defaults are the release's: 96000 / 2000 /\n"
    "  2000 distinct trees with 500 < length < 2000, depth <= 10, 2-10 arguments per operator, seed 0.\n"
    "pathfinder: generates Pathfinder images with the published algorithm and the LRA parameters of the resolution\n"
    "  (default 32, contour length 14: the hard setting; 10000 images; seed 0), in the release's layout:\n"
    "  DIR/<difficulty>/imgs/<batch>/sample_<i>.png and DIR/<difficulty>/metadata/<batch>.npy (text), <batch> of\n"
    "  --per-batch images (1000). Point data.root of the pathfinder task at DIR. Reports images per second.\n"
    "inspect: loads a task's data set from DIR as training would (data.task TASK, data.root DIR, any --set) and\n"
    "  reports the examples per split, the label balance, the sequence lengths and the records it left out.\n"
    "An existing data set in DIR is kept: the generators refuse unless --force is given.\n";

// A non-negative integer option value, or a usage error naming the option.
bool parse_count(const std::string& cmd, const std::string& a, const std::string& v, int64_t max, int64_t& n,
                 Usage usage_error, int& rc) {
  char* end = nullptr;
  errno = 0;
  n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || n < 0 || errno == ERANGE) {
    rc = usage_error("data " + cmd + ": " + a + " needs a non-negative integer, got '" + v + "'");
    return false;
  }
  if (n > max) {
    rc = usage_error("data " + cmd + ": " + a + " " + v + " is beyond what this generator supports (at most " +
                     std::to_string(max) + ")");
    return false;
  }
  return true;
}

int cmd_listops(int argc, char** argv, Usage usage_error) {
  ssm::data::ListOpsGenOptions o;
  std::string out;
  int64_t n_train = 96000, n_val = 2000, n_test = 2000;
  bool force = false;
  constexpr int64_t kMaxExamples = 100000000, kMaxLength = 100000000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--force") {
      force = true;
      continue;
    }
    if (i + 1 >= argc) return usage_error("data listops: " + a + " needs a value");
    const std::string v = argv[++i];
    int64_t n = 0;
    if (a != "--out") {
      const bool count = a == "--train" || a == "--val" || a == "--test";
      const bool length = a == "--min-length" || a == "--max-length";
      const int64_t max = count ? kMaxExamples : length ? kMaxLength : a == "--seed" ? INT64_MAX : 1000;
      int rc = 0;
      if (!parse_count("listops", a, v, max, n, usage_error, rc)) return rc;
    }
    if (a == "--out") out = v;
    else if (a == "--seed") o.seed = static_cast<uint64_t>(n);
    else if (a == "--train") n_train = n;
    else if (a == "--val") n_val = n;
    else if (a == "--test") n_test = n;
    else if (a == "--min-length") o.min_length = n;
    else if (a == "--max-length") o.max_length = n;
    else if (a == "--max-depth") o.max_depth = static_cast<int>(n);
    else if (a == "--max-args") o.max_args = static_cast<int>(n);
    else return usage_error("data listops: unknown option '" + a + "'");
  }
  if (out.empty()) return usage_error("data listops: --out DIR is required");
  if (o.max_args < 2) return usage_error("data listops: --max-args must be >= 2");
  if (o.max_depth < 2)
    return usage_error("data listops: --max-depth must be >= 2 (a tree of depth 1 is a single digit), got " +
                       std::to_string(o.max_depth));
  for (const char* f : {"basic_train.tsv", "basic_val.tsv", "basic_test.tsv"})
    if (!force && fs::exists(fs::path(out) / f))
      return usage_error("data listops: " + (fs::path(out) / f).string() +
                         " exists: remove the data set, choose another --out, or pass --force to overwrite it");
  fs::create_directories(out);
  std::mt19937_64 rng(o.seed);
  const auto all = ssm::data::generate_listops(o, n_train + n_val + n_test, rng);
  const auto part = [&](int64_t begin, int64_t n) {
    return std::vector<ssm::data::ListOpsExample>(all.begin() + begin, all.begin() + begin + n);
  };
  ssm::data::write_listops_tsv(out + "/basic_train.tsv", part(0, n_train));
  ssm::data::write_listops_tsv(out + "/basic_val.tsv", part(n_train, n_val));
  ssm::data::write_listops_tsv(out + "/basic_test.tsv", part(n_train + n_val, n_test));
  std::printf("wrote %lld / %lld / %lld ListOps examples to %s\n", static_cast<long long>(n_train),
              static_cast<long long>(n_val), static_cast<long long>(n_test), out.c_str());
  return 0;
}

int cmd_pathfinder(int argc, char** argv, Usage usage_error) {
  std::string out;
  int64_t resolution = 32, contour = 14, count = 10000, seed = 0, per_batch = 1000, threads = 0;
  bool force = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--force") {
      force = true;
      continue;
    }
    if (i + 1 >= argc) return usage_error("data pathfinder: " + a + " needs a value");
    const std::string v = argv[++i];
    if (a == "--out") {
      out = v;
      continue;
    }
    int64_t n = 0;
    int rc = 0;
    const int64_t max = a == "--count" ? 100000000 : a == "--seed" ? INT64_MAX : a == "--threads" ? 4096 : 1000000;
    if (!parse_count("pathfinder", a, v, max, n, usage_error, rc)) return rc;
    if (a == "--resolution") resolution = n;
    else if (a == "--contour-length") contour = n;
    else if (a == "--count") count = n;
    else if (a == "--seed") seed = n;
    else if (a == "--per-batch") per_batch = n;
    else if (a == "--threads") threads = n;
    else return usage_error("data pathfinder: unknown option '" + a + "'");
  }
  if (out.empty()) return usage_error("data pathfinder: --out DIR is required");
  if (resolution != 32 && resolution != 64 && resolution != 128 && resolution != 256)
    return usage_error("data pathfinder: --resolution must be 32, 64, 128 or 256, got " + std::to_string(resolution));
  if (contour != 6 && contour != 9 && contour != 14)
    return usage_error("data pathfinder: --contour-length must be 6, 9 or 14 (the release's difficulties), got " +
                       std::to_string(contour));
  if (count < 1) return usage_error("data pathfinder: --count must be >= 1");
  if (per_batch < 1) return usage_error("data pathfinder: --per-batch must be >= 1");
  ssm::data::PathfinderGenOptions o = ssm::data::pathfinder_preset(resolution, static_cast<int>(contour));
  o.seed = static_cast<uint64_t>(seed);
  const fs::path folder = fs::path(out) / ssm::data::pathfinder_difficulty(static_cast<int>(contour));
  if (!force && fs::exists(folder / "metadata"))
    return usage_error("data pathfinder: " + (folder / "metadata").string() +
                       " exists: remove the data set, choose another --out, or pass --force to overwrite it");
  if (force) fs::remove_all(folder);
  ssm::data::PathfinderWriteOptions w;
  w.out = out;
  w.count = count;
  w.per_batch = per_batch;
  w.threads = static_cast<int>(threads);
  const bool tty = isatty(fileno(stderr));
  const auto s = ssm::data::write_pathfinder(o, w, [&](int64_t done) {
    if (tty) std::fprintf(stderr, "\r%lld / %lld images", static_cast<long long>(done), static_cast<long long>(count));
  });
  if (tty) std::fprintf(stderr, "\n");
  std::printf("wrote %lld Pathfinder-%lld images (contour length %lld, %lld positive) to %s in %.1f s: %.0f images/s\n",
              static_cast<long long>(s.images), static_cast<long long>(resolution), static_cast<long long>(contour),
              static_cast<long long>(s.positives), s.folder.c_str(), s.seconds, s.images / s.seconds);
  return 0;
}

// This process's resident memory from /proc/self/status, MiB: anonymous (heap) and file-backed (mapped files).
std::pair<double, double> resident_mib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  double anon = 0, file = 0;
  if (!f) return {anon, file};
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    long kb = 0;
    if (std::sscanf(line, "RssAnon: %ld kB", &kb) == 1) anon = kb / 1024.0;
    if (std::sscanf(line, "RssFile: %ld kB", &kb) == 1) file = kb / 1024.0;
  }
  std::fclose(f);
  return {anon, file};
}

int cmd_inspect(int argc, char** argv, Usage usage_error) {
  if (argc < 3) return usage_error("data inspect: needs TASK and DIR");
  const std::string task = argv[1], root = argv[2];
  std::vector<std::string> sets = {"data.task=" + task, "data.root=" + root};
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--set" && i + 1 < argc) sets.push_back(argv[++i]);
    else if (a.rfind("--set=", 0) == 0) sets.push_back(a.substr(6));
    else return usage_error("data inspect: unknown option '" + a + "'");
  }
  const config::Config c = config::Config::from_overrides(train::train_schema(), sets);
  train::check_config(c);
  const auto before = resident_mib();
  const auto t = tasks::make_task(c);
  const model::ModelShape shape = t->model_shape();
  std::printf("%s from %s\n", t->name().c_str(), root.c_str());
  if (shape.vocab_size > 0) std::printf("  inputs: tokens, vocabulary %lld\n", static_cast<long long>(shape.vocab_size));
  else std::printf("  inputs: real values, %lld per position\n", static_cast<long long>(shape.d_input));
  for (const auto& [name, id] : {std::pair<const char*, tasks::SplitId>{"train", tasks::SplitId::kTrain},
                                 {"val", tasks::SplitId::kVal},
                                 {"test", tasks::SplitId::kTest}}) {
    const int64_t n = t->size(id);
    std::printf("  %-5s %8lld examples", name, static_cast<long long>(n));
    if (n == 0) {
      std::printf("\n");
      continue;
    }
    int64_t lo = INT64_MAX, hi = 0, lo2 = INT64_MAX, hi2 = 0;
    double total = 0;
    std::vector<int64_t> counts;
    bool labels = true;
    for (int64_t b = 0; b < n; b += 256) {
      const tasks::Batch batch = t->batch(id, at::arange(b, std::min(n, b + 256), at::kLong));
      const at::Tensor len =
          batch.lengths.defined() ? batch.lengths : at::full({batch.size()}, batch.x.size(1), at::kLong);
      lo = std::min(lo, len.min().item<int64_t>());
      hi = std::max(hi, len.max().item<int64_t>());
      total += len.sum().item<double>();
      if (batch.lengths2.defined()) {
        lo2 = std::min(lo2, batch.lengths2.min().item<int64_t>());
        hi2 = std::max(hi2, batch.lengths2.max().item<int64_t>());
      }
      if (batch.y.dim() != 1) {
        labels = false;
        continue;
      }
      const at::Tensor bc = at::bincount(batch.y);
      if (bc.size(0) > static_cast<int64_t>(counts.size())) counts.resize(bc.size(0), 0);
      for (int64_t k = 0; k < bc.size(0); ++k) counts[k] += bc[k].item<int64_t>();
    }
    std::printf(", length %lld-%lld (mean %.1f)", static_cast<long long>(lo), static_cast<long long>(hi), total / n);
    if (lo2 != INT64_MAX)
      std::printf(", second document %lld-%lld", static_cast<long long>(lo2), static_cast<long long>(hi2));
    if (labels) {
      std::printf(", labels");
      for (size_t k = 0; k < counts.size(); ++k)
        std::printf(" %zu:%lld (%.1f%%)", k, static_cast<long long>(counts[k]), 100.0 * counts[k] / n);
    }
    std::printf("\n");
  }
  // After every example was read once (all pages of a mapped cache touched): what training holds resident.
  const auto after = resident_mib();
  std::printf("  resident memory after reading every example: %.0f MiB heap + %.0f MiB mapped files (before loading: "
              "%.0f + %.0f; the data: +%.0f MiB)\n",
              after.first, after.second, before.first, before.second,
              after.first + after.second - before.first - before.second);
  if (const auto* img = dynamic_cast<const tasks::ImageTask*>(t.get())) {
    std::printf("  %zu unreadable images left out%s\n", img->data().skipped.size(), img->data().skipped.empty() ? "" : ":");
    for (const auto& s : img->data().skipped) std::printf("    %s\n", s.c_str());
    std::printf("  data %s\n", img->data().from_cache ? "mapped from the cache" : "parsed from the sources (cached now)");
  } else if (const auto* text = dynamic_cast<const tasks::TextTask*>(t.get())) {
    if (text->data().val_is_test) std::printf("  the val split is the test split (LRA's protocol)\n");
    std::printf("  data %s\n", text->data().from_cache ? "mapped from the cache" : "parsed from the sources (cached now)");
  }
  return 0;
}

}  // namespace

int cmd_data(int argc, char** argv, Usage usage_error) {
  bool help = argc < 1;
  for (int i = 0; i < argc; ++i) help |= std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h";
  if (help) {
    std::printf("%s", kDataHelp);
    return argc < 1 ? 2 : 0;
  }
  const std::string what = argv[0];
  if (what == "listops") return cmd_listops(argc, argv, usage_error);
  if (what == "pathfinder") return cmd_pathfinder(argc, argv, usage_error);
  if (what == "inspect") return cmd_inspect(argc, argv, usage_error);
  return usage_error("data: unknown data command '" + what + "' (listops, pathfinder, inspect)");
}

}  // namespace ssm::cli
