// ListOps: the generator (length bounds, labels, determinism), its TSV round trip through the loader, tokenization,
// and malformed files.
#include "data/listops.h"
#include "data/text.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace ssm::data {
namespace {

using test::expect_error;

namespace fs = std::filesystem;

// An independent evaluator: recursive descent over the tokens in prefix form ("[MAX", args..., "X").
int eval_tokens(const std::vector<std::string>& t, size_t& i) {
  const std::string tok = t.at(i++);
  if (tok[0] != '[') return tok[0] - '0';
  std::vector<int> args;
  while (t.at(i) != "X") args.push_back(eval_tokens(t, i));
  ++i;
  std::sort(args.begin(), args.end());
  if (tok == "[MIN") return args.front();
  if (tok == "[MAX") return args.back();
  int s = 0;
  for (int a : args) s += a;
  if (tok == "[SM") return s % 10;
  const size_t n = args.size();
  return n % 2 ? args[n / 2] : (args[n / 2 - 1] + args[n / 2]) / 2;
}

class ListOps : public test::TempDirTest {
 protected:
  // n generated trees of min-max tokens, from a generator seeded with `seed`.
  static std::vector<ListOpsExample> generated(int64_t min_length, int64_t max_length, int64_t n, uint64_t seed) {
    ListOpsGenOptions o;
    o.min_length = min_length;
    o.max_length = max_length;
    std::mt19937_64 rng(seed);
    return generate_listops(o, n, rng);
  }
};

TEST_F(ListOps, EvaluatorOnKnownExpressions) {
  EXPECT_EQ(evaluate_listops("( ( ( ( [MAX 4 ) 5 ) 3 ) ] )"), 5);
  EXPECT_EQ(evaluate_listops("( ( ( [SM 7 ) 8 ) ] )"), 5);
  EXPECT_EQ(evaluate_listops("( ( ( ( ( [MED 1 ) 2 ) 3 ) 4 ) ] )"), 2);  // median 2.5 truncated
  EXPECT_EQ(evaluate_listops("( ( ( [MIN ( ( ( [MAX 1 ) 9 ) ] ) ) 4 ) ] )"), 4);
  EXPECT_EQ(tokenize_listops("( ( ( [MIN 3 ) 4 ) ] )"), (std::vector<std::string>{"[MIN", "3", "4", "X"}));
}

TEST_F(ListOps, GeneratorRespectsBoundsLabelsAndSeed) {
  ListOpsGenOptions o;
  o.min_length = 30;
  o.max_length = 120;
  o.seed = 5;
  std::mt19937_64 rng(o.seed);
  const auto ex = generate_listops(o, 300, rng);
  ASSERT_EQ(ex.size(), 300u);
  std::set<std::string> distinct;
  int max_depth_seen = 0;
  for (const auto& e : ex) {
    EXPECT_GT(e.length, 30);
    EXPECT_LT(e.length, 120);
    int ops = 0, values = 0, depth = 0;
    for (const auto& t : tokenize_listops(e.source)) {
      if (t[0] == '[') ops++, max_depth_seen = std::max(max_depth_seen, ++depth);
      else if (t == "X") depth--;
      else values++;
    }
    EXPECT_EQ(e.length, 2 * ops + values);
    size_t pos = 0;
    EXPECT_EQ(e.label, eval_tokens(tokenize_listops(e.source), pos)) << e.source;
    EXPECT_EQ(e.label, evaluate_listops(e.source));
    distinct.insert(e.source);
  }
  EXPECT_EQ(distinct.size(), 300u);
  EXPECT_LE(max_depth_seen, 10);
  std::mt19937_64 again(o.seed), other(o.seed + 1);
  const auto same = generate_listops(o, 300, again), diff = generate_listops(o, 300, other);
  for (size_t i = 0; i < ex.size(); ++i) EXPECT_EQ(same[i].source, ex[i].source);
  EXPECT_NE(diff[0].source + diff[1].source, ex[0].source + ex[1].source);
}

TEST_F(ListOps, RoundTripThroughTheLoader) {
  const auto ex = generated(10, 60, 60, 1);
  write_listops_tsv((dir / "basic_train.tsv").string(), {ex.begin(), ex.begin() + 40});
  write_listops_tsv((dir / "basic_val.tsv").string(), {ex.begin() + 40, ex.begin() + 50});
  write_listops_tsv((dir / "basic_test.tsv").string(), {ex.begin() + 50, ex.end()});
  const auto rows = read_listops_tsv((dir / "basic_train.tsv").string());
  ASSERT_EQ(rows.size(), 40u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].first, ex[i].source);
    EXPECT_EQ(rows[i].second, ex[i].label);
  }
  // The vocabulary computed here: <pad> <unk> <eos>, then the training tokens by descending count, ties by name.
  std::map<std::string, int64_t> freq;
  for (int i = 0; i < 40; ++i)
    for (const auto& tok : tokenize_listops(ex[i].source)) ++freq[tok];
  std::vector<std::pair<std::string, int64_t>> order(freq.begin(), freq.end());
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::map<std::string, int64_t> id;
  for (const auto& [tok, n] : order) id.emplace(tok, 3 + static_cast<int64_t>(id.size()));

  ListOpsOptions lo;
  lo.root = dir.string();
  lo.max_length = 32;  // shorter than some examples: truncated, <eos> kept
  lo.cache_dir = (dir / "cache").string();
  const TextData t = load_listops(lo);
  EXPECT_FALSE(t.from_cache);
  ASSERT_EQ(t.train.size(), 40);
  EXPECT_EQ(t.val.size(), 10);
  EXPECT_EQ(t.test.size(), 10);
  EXPECT_EQ(t.n_classes, 10);
  EXPECT_EQ(t.vocab_size, 3 + static_cast<int64_t>(id.size()));
  ASSERT_EQ(t.vocab.size(), id.size());
  for (size_t k = 0; k < t.vocab.size(); ++k) EXPECT_EQ(id.at(t.vocab[k]), 3 + static_cast<int64_t>(k));
  EXPECT_EQ(t.train.x.values.scalar_type(), at::kByte);  // 18 ids: one byte a token
  const auto [x, lengths] = t.train.x.gather(at::arange(40, at::kLong));
  for (int64_t i = 0; i < 40; ++i) {
    const auto toks = tokenize_listops(ex[i].source);
    const int64_t len = lengths[i].item<int64_t>();
    ASSERT_EQ(len, std::min<int64_t>(toks.size(), 31) + 1);
    for (int64_t j = 0; j + 1 < len; ++j) EXPECT_EQ(x[i][j].item<int64_t>(), id.at(toks[j])) << i << " " << j;
    EXPECT_EQ(x[i][len - 1].item<int64_t>(), 2);  // <eos>
    if (len < x.size(1)) EXPECT_EQ(x[i].narrow(0, len, x.size(1) - len).abs().sum().item<int64_t>(), 0);
    EXPECT_EQ(t.train.y[i].item<int64_t>(), ex[i].label);
  }
  // A token of the val split that training never saw reads as <unk>.
  for (int64_t i = 0; i < 10; ++i) {
    const auto toks = tokenize_listops(ex[40 + i].source);
    const auto [xv, lv] = t.val.x.gather(at::tensor({i}, at::kLong));
    for (int64_t j = 0; j + 1 < lv[0].item<int64_t>(); ++j)
      EXPECT_EQ(xv[0][j].item<int64_t>(), id.count(toks[j]) ? id.at(toks[j]) : 1);
    EXPECT_EQ(t.val.y[i].item<int64_t>(), ex[40 + i].label);
  }

  // The second load maps the cache and reproduces every array exactly.
  const TextData c = load_listops(lo);
  EXPECT_TRUE(c.from_cache);
  EXPECT_EQ(c.vocab, t.vocab);
  for (const auto& [a, b] : {std::pair{&t.train, &c.train}, {&t.val, &c.val}, {&t.test, &c.test}}) {
    EXPECT_TRUE(at::equal(a->x.values, b->x.values));
    EXPECT_TRUE(at::equal(a->x.offsets, b->x.offsets));
    EXPECT_TRUE(at::equal(a->y, b->y));
  }
  // limit_train keeps the first examples and is a different cache entry.
  lo.limit_train = 7;
  const TextData l = load_listops(lo);
  EXPECT_FALSE(l.from_cache);
  EXPECT_EQ(l.train.size(), 7);
  EXPECT_TRUE(at::equal(l.train.y, t.train.y.narrow(0, 0, 7)));
}

TEST_F(ListOps, LoaderErrorsNameTheFile) {
  const auto ex = generated(10, 40, 6, 3);
  write_listops_tsv((dir / "basic_train.tsv").string(), ex);
  write_listops_tsv((dir / "basic_val.tsv").string(), ex);
  ListOpsOptions lo;
  lo.root = dir.string();
  lo.cache_dir = "none";
  expect_error([&] { load_listops(lo); }, {"basic_test.tsv"});
  write("basic_test.tsv", "Source\tTarget\n( ( [MAX 1 ) ] )\t1\n( 2 )\t12\n");
  expect_error([&] { load_listops(lo); }, {"basic_test.tsv:3:", "label '12'"});
  lo.max_length = 1;
  expect_error([&] { load_listops(lo); }, {"max_length"});
}

TEST_F(ListOps, CrlfLinesAreAccepted) {
  const auto p = write("a.tsv", "Source\tTarget\r\n( ( ( [MAX 1 ) 2 ) ] )\t2\r\n");
  const auto rows = read_listops_tsv(p);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].second, 2);
}

TEST_F(ListOps, MalformedFilesNameFileAndLine) {
  expect_error([&] { read_listops_tsv(write("a.tsv", "Input\tLabel\n")); }, {"a.tsv:1:", "header"});
  expect_error([&] { read_listops_tsv(write("b.tsv", "Source\tTarget\n( 1 )\t1\n( 2 )\t2\t3\n")); },
               {"b.tsv:3:", "2 tab-separated columns, got 3"});
  expect_error([&] { read_listops_tsv(write("c.tsv", "Source\tTarget\n( 1 )\tseven\n")); },
               {"c.tsv:2:", "label 'seven'"});
  expect_error([&] { read_listops_tsv(write("d.tsv", "")); }, {"d.tsv:1:", "empty"});
  expect_error([&] { read_listops_tsv((dir / "none.tsv").string()); }, {"none.tsv", "cannot open"});
  // A line far beyond any real record is refused before it is held (or tokenized) in memory.
  expect_error([&] { read_listops_tsv(write("e.tsv", "Source\tTarget\n( 1 )\t1\n" + std::string(3 << 20, '1') + "\t1\n")); },
               {"e.tsv:3:", "line longer than 1 MiB"});
}

TEST(ReadLine, BoundsTheLineAndCountsLines) {
  std::istringstream in("ab\r\n\nabcdef\nlast");
  std::string line;
  int64_t no = 0;
  ASSERT_TRUE(read_line(in, line, no, "f", 6));
  EXPECT_EQ(line, "ab");
  ASSERT_TRUE(read_line(in, line, no, "f", 6));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(read_line(in, line, no, "f", 6));
  EXPECT_EQ(line, "abcdef");
  ASSERT_TRUE(read_line(in, line, no, "f", 6));
  EXPECT_EQ(line, "last");
  EXPECT_EQ(no, 4);
  EXPECT_FALSE(read_line(in, line, no, "f", 6));
  std::istringstream longer("abcdefg\n");
  no = 0;
  expect_error([&] { read_line(longer, line, no, "f", 6); }, {"f:1:", "line longer than"});
}

}  // namespace
}  // namespace ssm::data
