// The LRA loaders (IMDB, AAN, CIFAR-10) on files written here in the released formats: counts, labels and tokens
// against values computed in the test, malformed files named with their record, and the data cache (exact
// reproduction, rebuilt when a source changes or the file is damaged, a failed write harmless).
#include "data/images.h"
#include "data/lra_text.h"
#include "data/store.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

namespace ssm::data {
namespace {

using test::expect_error;
namespace fs = std::filesystem;

class Lra : public test::TempDirTest {
 protected:
  std::string cache() const { return (dir / "cache").string(); }
};

std::vector<int64_t> row(const RaggedTokens& r, int64_t i) {
  const auto [x, len] = r.gather(torch::tensor({i}, torch::kLong));
  std::vector<int64_t> out;
  for (int64_t j = 0; j < len[0].item<int64_t>(); ++j) out.push_back(x[0][j].item<int64_t>());
  return out;
}

bool same(const RaggedTokens& a, const RaggedTokens& b) {
  return a.shift == b.shift && a.values.scalar_type() == b.values.scalar_type() && torch::equal(a.values, b.values) &&
         torch::equal(a.offsets, b.offsets);
}

// ---- Storage -----------------------------------------------------------------------------------------------------

TEST_F(Lra, RaggedTokensPadPerBatchAndKeepTheirSmallestType) {
  RaggedBuilder narrow(1, 256);
  const std::string a = "hello", b = "hi there, world";
  narrow.add_bytes(reinterpret_cast<const uint8_t*>(a.data()), a.size());
  narrow.add_bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size());
  narrow.add_bytes(reinterpret_cast<const uint8_t*>(a.data()), 2);
  const RaggedTokens r = narrow.finish();
  EXPECT_EQ(r.values.scalar_type(), torch::kByte);
  EXPECT_EQ(r.size(), 3);
  const auto [x, len] = r.gather(torch::tensor({2, 0}, torch::kLong));
  ASSERT_EQ(x.sizes(), (torch::IntArrayRef{2, 5}));  // the longest of these two rows, not of the store
  EXPECT_EQ(len[0].item<int64_t>(), 2);
  EXPECT_EQ(x[0][1].item<int64_t>(), 'e' + 1);
  EXPECT_EQ(x[0][2].item<int64_t>(), 0);  // padding
  EXPECT_EQ(x[1][4].item<int64_t>(), 'o' + 1);
  EXPECT_TRUE(same(r.take(torch::tensor({1}, torch::kLong)), [&] {
    RaggedBuilder one(1, 256);
    one.add_bytes(reinterpret_cast<const uint8_t*>(b.data()), b.size());
    return one.finish();
  }()));
  RaggedBuilder wide(0, 1000);
  wide.add(std::vector<int32_t>{3, 999, 0});
  const RaggedTokens w = wide.finish();
  EXPECT_EQ(w.values.scalar_type(), torch::kShort);
  EXPECT_EQ(row(w, 0), (std::vector<int64_t>{3, 999, 0}));
  expect_error([&] { wide.add(std::vector<int32_t>{1001}); }, {"token id 1001 outside [0, 1000]"});
  expect_error([&] { r.gather(torch::tensor({3}, torch::kLong)); }, {"row 3 is outside [0, 3)"});
}

TEST_F(Lra, CacheFilesRoundTripAndRefuseStaleOrDamagedOnes) {
  const std::string p = (dir / "c" / "x.bin").string();
  Arrays in = {{"a", torch::randint(0, 255, {7, 3}).to(torch::kByte)},
               {"b", torch::randn({5}, torch::kDouble)},
               {"c", torch::randint(-9, 9, {2, 2, 2}).to(torch::kShort)},
               {"empty", torch::empty({0}, torch::kLong)}};
  write_cache(p, "key one", in);
  std::string why;
  auto out = map_cache(p, "key one", &why);
  ASSERT_TRUE(out.has_value()) << why;
  ASSERT_EQ(out->size(), in.size());
  for (const auto& [k, t] : in) EXPECT_TRUE(torch::equal(out->at(k), t)) << k;
  // Writing into a mapped array touches a private copy only.
  out->at("a").fill_(0);
  EXPECT_TRUE(torch::equal(map_cache(p, "key one")->at("a"), in.at("a")));
  EXPECT_FALSE(map_cache(p, "key two", &why).has_value());
  EXPECT_NE(why.find("stale"), std::string::npos) << why;
  EXPECT_FALSE(map_cache((dir / "none.bin").string(), "k", &why).has_value());
  EXPECT_EQ(why, "absent");
  // A truncated file is damaged, not a crash.
  const auto size = fs::file_size(p);
  fs::copy_file(p, dir / "cut.bin");
  fs::resize_file(dir / "cut.bin", size - 10);
  EXPECT_FALSE(map_cache((dir / "cut.bin").string(), "key one", &why).has_value());
  EXPECT_NE(why.find("damaged"), std::string::npos) << why;
  // A write that fails (an array of a type the format has no name for) leaves the old cache as it was.
  const std::string before = [&] {
    std::ifstream f(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }();
  expect_error([&] { write_cache(p, "key one", {{"z", torch::zeros({2}, torch::kBool)}}); }, {"unsupported dtype"});
  std::ifstream f(p, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>()), before);

  // A cache of another format version (the magic's last byte) is stale, and rebuilt, not misread.
  std::string old = before;
  old[7] = '1';
  {
    std::ofstream o(dir / "old.bin", std::ios::binary);
    o << old;
  }
  EXPECT_FALSE(map_cache((dir / "old.bin").string(), "key one", &why).has_value());
  EXPECT_NE(why.find("another version"), std::string::npos) << why;
}

TEST_F(Lra, PackedStringsHoldAnyBytes) {
  // Random strings of random bytes, NUL and empty ones among them (a vocabulary of a text with NUL characters).
  std::vector<std::string> in = {"", std::string(1, '\0'), std::string("a\0b", 3)};
  const auto r = torch::randint(0, 256, {40}, torch::kLong);
  for (int k = 0; k < 8; ++k) {
    std::string x;
    for (int64_t j = 0; j < 5 * k; ++j) x += static_cast<char>(r[j % 40].item<int64_t>());
    in.push_back(x);
  }
  EXPECT_EQ(unpack_strings(pack_strings(in)), in);
  EXPECT_TRUE(unpack_strings(pack_strings({})).empty());
  // A damaged array (cut inside a length or inside a string) is an error, never a read past its end.
  const at::Tensor t = pack_strings({"abc", "defgh"});
  expect_error([&] { unpack_strings(t.slice(0, 0, 2)); }, {"damaged"});
  expect_error([&] { unpack_strings(t.slice(0, 0, t.numel() - 1)); }, {"damaged"});
}

// ---- IMDB --------------------------------------------------------------------------------------------------------

TEST_F(Lra, ImdbBytesAreTheReviewsBytesPlusOne) {
  // A hand-made folder: ids sort numerically (9 before 10), neg before pos.
  write("aclImdb/train/neg/10_2.txt", "bad.");
  write("aclImdb/train/neg/9_1.txt", "awful film");
  write("aclImdb/train/pos/3_8.txt", "caf\xc3\xa9 great");
  write("aclImdb/train/unsup/0_0.txt", "ignored");
  write("aclImdb/test/neg/1_4.txt", "meh");
  write("aclImdb/test/pos/2_10.txt", "a very long review indeed");
  ImdbOptions o;
  o.root = (dir / "aclImdb").string();
  o.text.level = TextLevel::kBytes;
  o.text.max_length = 12;
  o.cache_dir = cache();
  const TextData d = load_imdb(o);
  EXPECT_EQ(d.vocab_size, 257);
  ASSERT_EQ(d.train.size(), 3);
  EXPECT_TRUE(d.val_is_test);
  EXPECT_EQ(d.val.size(), 2);
  EXPECT_TRUE(torch::equal(d.train.y, torch::tensor({0, 0, 1}, torch::kLong)));
  auto bytes = [](const std::string& s, size_t n) {
    std::vector<int64_t> v;
    for (size_t i = 0; i < std::min(n, s.size()); ++i) v.push_back(static_cast<unsigned char>(s[i]) + 1);
    return v;
  };
  EXPECT_EQ(row(d.train.x, 0), bytes("awful film", 12));
  EXPECT_EQ(row(d.train.x, 1), bytes("bad.", 12));
  EXPECT_EQ(row(d.train.x, 2), bytes("caf\xc3\xa9 great", 12));  // the two bytes of e-acute are two tokens
  EXPECT_EQ(row(d.test.x, 1), bytes("a very long review indeed", 12));  // cut at max_length
  EXPECT_TRUE(torch::equal(d.test.y, torch::tensor({0, 1}, torch::kLong)));
}

TEST_F(Lra, ImdbCharactersFollowTheTrainingFrequencies) {
  write("aclImdb/train/neg/0_1.txt", "aab\xc3\xa9");
  write("aclImdb/train/pos/1_9.txt", "abz\xc3\xa9\xc3\xa9\xc3\xa9");
  write("aclImdb/test/neg/2_3.txt", "zq\xff" "a");  // q unseen, \xff invalid UTF-8
  write("aclImdb/test/pos/3_7.txt", "abababab");
  ImdbOptions o;
  o.root = (dir / "aclImdb").string();
  o.text.max_length = 5;  // 4 characters, then <eos>
  o.text.min_freq = 2;
  o.cache_dir = "none";
  const TextData d = load_imdb(o);
  // Counts over the first 4 characters of each training review: a 3, b 2, e-acute 2 (the second review's last two
  // are cut), z 1. By count, then code point: b (98) before e-acute (233); z is below min_freq.
  ASSERT_EQ(d.vocab, (std::vector<std::string>{"a", "b", "\xc3\xa9"}));
  EXPECT_EQ(d.vocab_size, 6);
  const int64_t a = 3, b = 4, e = 5, unk = 1, eos = 2;
  EXPECT_EQ(row(d.train.x, 0), (std::vector<int64_t>{a, a, b, e, eos}));
  EXPECT_EQ(row(d.train.x, 1), (std::vector<int64_t>{a, b, unk, e, eos}));
  EXPECT_EQ(row(d.test.x, 0), (std::vector<int64_t>{unk, unk, unk, a, eos}));
  EXPECT_EQ(row(d.test.x, 1), (std::vector<int64_t>{a, b, a, b, eos}));
  EXPECT_FALSE(d.from_cache);
}

TEST_F(Lra, ImdbHeldOutValidationIsSeededAndDisjoint) {
  test::write_imdb_like(dir / "aclImdb", 20, 1);
  ImdbOptions o;
  o.root = (dir / "aclImdb").string();
  o.val_fraction = 0.25;
  o.cache_dir = "none";
  const TextData d = load_imdb(o), again = load_imdb(o);
  EXPECT_EQ(d.train.size(), 30);
  EXPECT_EQ(d.val.size(), 10);
  EXPECT_EQ(d.test.size(), 40);
  EXPECT_FALSE(d.val_is_test);
  EXPECT_TRUE(same(d.val.x, again.val.x));
  o.split_seed = 7;
  EXPECT_FALSE(same(load_imdb(o).val.x, d.val.x));
  // Both classes in the held-out share of a shuffled (not class-sorted) training set.
  EXPECT_GT(d.val.y.sum().item<int64_t>(), 0);
  EXPECT_LT(d.val.y.sum().item<int64_t>(), 10);
  o.val_fraction = 0;
  o.limit_train = 6;
  EXPECT_EQ(load_imdb(o).train.size(), 6);
}

TEST_F(Lra, MalformedImdbFoldersNameTheFile) {
  ImdbOptions o;
  o.root = (dir / "aclImdb").string();
  o.cache_dir = "none";
  expect_error([&] { load_imdb(o); }, {"aclImdb/train/neg: no such folder", "aclImdb folder"});
  write("aclImdb/train/neg/0_1.txt", "x");
  write("aclImdb/train/pos/1_8.txt", "y");
  write("aclImdb/test/neg/2_2.txt", "z");
  write("aclImdb/test/pos/3_5.txt", "w");  // 5 is neither positive nor negative
  expect_error([&] { load_imdb(o); }, {"test/pos/3_5.txt", "rating 5", "pos (7-10)"});
  fs::remove(dir / "aclImdb/test/pos/3_5.txt");
  write("aclImdb/test/pos/review.txt", "w");
  expect_error([&] { load_imdb(o); }, {"test/pos/review.txt", "<id>_<rating>.txt"});
  fs::remove(dir / "aclImdb/test/pos/review.txt");
  write("aclImdb/test/pos/3_9.txt", "");
  expect_error([&] { load_imdb(o); }, {"test/pos/3_9.txt: empty review"});
}

TEST_F(Lra, TheCacheReproducesTheDataAndFollowsTheSources) {
  test::write_imdb_like(dir / "aclImdb", 6, 2);
  ImdbOptions o;
  o.root = (dir / "aclImdb").string();
  o.cache_dir = cache();
  o.text.min_freq = 2;
  const TextData built = load_imdb(o);
  EXPECT_FALSE(built.from_cache);
  const TextData mapped = load_imdb(o);
  EXPECT_TRUE(mapped.from_cache);
  EXPECT_TRUE(same(built.train.x, mapped.train.x));
  EXPECT_TRUE(same(built.test.x, mapped.test.x));
  EXPECT_TRUE(torch::equal(built.train.y, mapped.train.y));
  EXPECT_EQ(built.vocab, mapped.vocab);
  // Other options: another cache file; the first stays valid.
  o.text.min_freq = 1;
  EXPECT_FALSE(load_imdb(o).from_cache);
  o.text.min_freq = 2;
  EXPECT_TRUE(load_imdb(o).from_cache);
  // A source that changes invalidates the cache: the new text is read.
  const fs::path first = dir / "aclImdb/train/neg/0_1.txt";
  ASSERT_TRUE(fs::exists(first));
  std::ofstream(first, std::ios::binary) << "zzzz zzzz zzzz";
  fs::last_write_time(first, fs::last_write_time(first) + std::chrono::seconds(5));
  auto files = [&] {
    int n = 0;
    for (const auto& e : fs::directory_iterator(cache())) n += e.path().extension() == ".bin";
    return n;
  };
  EXPECT_EQ(files(), 2);  // min_freq 1 and 2
  const TextData changed = load_imdb(o);
  EXPECT_FALSE(changed.from_cache);
  EXPECT_EQ(files(), 2);  // rebuilt in place, not beside the stale one
  EXPECT_NE(row(changed.train.x, 0), row(built.train.x, 0));
  EXPECT_TRUE(load_imdb(o).from_cache);
  // A damaged cache file is rebuilt, not trusted.
  for (const auto& e : fs::directory_iterator(cache())) fs::resize_file(e.path(), 100);
  const TextData rebuilt = load_imdb(o);
  EXPECT_FALSE(rebuilt.from_cache);
  EXPECT_TRUE(same(rebuilt.train.x, changed.train.x));
  // A cache that cannot be written (its folder is a file) does not stop the load.
  write("blocked", "a file");
  o.cache_dir = (dir / "blocked").string();
  EXPECT_EQ(load_imdb(o).train.size(), 12);
}

// ---- AAN ---------------------------------------------------------------------------------------------------------

TEST_F(Lra, AanPairsTokenizeBothDocuments) {
  write("aan/new_aan_pairs.train.tsv", "1.0\tA\tB\tparsing trees\tparsing\n0.0\tC\tD\tspeech\ttagging words\n\n0\tE\tF\tab\tcd\n");
  write("aan/new_aan_pairs.eval.tsv", "1\tG\tH\tx\ty\n");
  write("aan/new_aan_pairs.test.tsv", "0.0\tI\tJ\tlonger than six\tz\n");
  AanOptions o;
  o.root = (dir / "aan").string();
  o.text.level = TextLevel::kBytes;
  o.text.max_length = 6;
  o.cache_dir = cache();
  const TextData d = load_aan(o);
  ASSERT_EQ(d.train.size(), 3);
  EXPECT_EQ(d.val.size(), 1);
  EXPECT_TRUE(torch::equal(d.train.y, torch::tensor({1, 0, 0}, torch::kLong)));
  auto bytes = [](const std::string& s) {
    std::vector<int64_t> v;
    for (size_t i = 0; i < std::min<size_t>(6, s.size()); ++i) v.push_back(static_cast<unsigned char>(s[i]) + 1);
    return v;
  };
  EXPECT_EQ(row(d.train.x, 0), bytes("parsing trees"));
  EXPECT_EQ(row(d.train.x2, 0), bytes("parsing"));
  EXPECT_EQ(row(d.train.x2, 1), bytes("tagging words"));
  EXPECT_EQ(row(d.test.x, 0), bytes("longer"));
  EXPECT_EQ(row(d.test.x2, 0), bytes("z"));
  EXPECT_TRUE(load_aan(o).from_cache);
  // Characters: one vocabulary over both documents of the training pairs.
  o.text.level = TextLevel::kChars;
  o.text.max_length = 100;
  o.cache_dir = "none";
  const TextData c = load_aan(o);
  std::map<std::string, int> seen;
  for (const std::string s : {"parsing trees", "parsing", "speech", "tagging words", "ab", "cd"})
    for (char ch : s) seen[std::string(1, ch)] = 1;
  EXPECT_EQ(c.vocab.size(), seen.size());
  EXPECT_EQ(c.vocab[0], "g");  // the most frequent character of the training documents (5 times)
}

TEST_F(Lra, MalformedAanRowsNameTheFileAndLine) {
  AanOptions o;
  o.root = (dir / "aan").string();
  o.cache_dir = "none";
  write("aan/new_aan_pairs.eval.tsv", "1\tG\tH\tx\ty\n");
  write("aan/new_aan_pairs.test.tsv", "1\tG\tH\tx\ty\n");
  expect_error([&] { load_aan(o); }, {"new_aan_pairs.train.tsv: no such file", "tsv_data"});
  write("aan/new_aan_pairs.train.tsv", "1.0\tA\tB\tx\ty\n0.0\tA\tB\tonly four\n");
  expect_error([&] { load_aan(o); }, {"new_aan_pairs.train.tsv:2:", "expected 5 tab-separated columns", "got 4"});
  write("aan/new_aan_pairs.train.tsv", "1.0\tA\tB\tx\ty\nyes\tA\tB\tx\ty\n");
  expect_error([&] { load_aan(o); }, {"new_aan_pairs.train.tsv:2:", "label 'yes' is not a number"});
  write("aan/new_aan_pairs.train.tsv", "2.0\tA\tB\tx\ty\n");
  expect_error([&] { load_aan(o); }, {"new_aan_pairs.train.tsv:1:", "is not 0 or 1"});
}

// ---- CIFAR-10 ----------------------------------------------------------------------------------------------------

// tf.image.rgb_to_grayscale on uint8, in double: trunc(255.5 * (0.2989 R + 0.5870 G + 0.1140 B) / 255).
double tf_gray(int r, int g, int b) { return 255.5 * (0.2989 * r + 0.5870 * g + 0.1140 * b) / 255.0; }

TEST_F(Lra, CifarRecordsBecomeGrayOrColourSequences) {
  test::write_cifar_like(dir / "cifar", 8, 6, 3);
  std::vector<uint8_t> all;  // the 40 training records, read back independently
  for (int b = 1; b <= 5; ++b) {
    std::ifstream f(dir / "cifar" / ("data_batch_" + std::to_string(b) + ".bin"), std::ios::binary);
    all.insert(all.end(), std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(all.size(), 40u * 3073);
  CifarOptions o;
  o.root = (dir / "cifar").string();
  o.val_fraction = 0.25;
  o.cache_dir = cache();
  const ImageData d = load_cifar(o);
  EXPECT_EQ(d.train.size(), 30);
  EXPECT_EQ(d.val.size(), 10);  // the last quarter of the training records
  EXPECT_EQ(d.test.size(), 6);
  ASSERT_EQ(d.train.pixels.sizes(), (torch::IntArrayRef{30, 1024, 1}));
  int checked = 0;
  for (int64_t i = 0; i < 40; ++i) {
    const uint8_t* r = all.data() + i * 3073;
    const ImageSplit& s = i < 30 ? d.train : d.val;
    const int64_t k = i < 30 ? i : i - 30;
    EXPECT_EQ(s.y[k].item<int64_t>(), r[0]);
    for (int j = 0; j < 1024; j += 37) {
      const double g = tf_gray(r[1 + j], r[1025 + j], r[2049 + j]);
      if (std::abs(g - std::round(g)) < 1e-3) continue;  // on a rounding boundary float and double may differ
      EXPECT_EQ(s.pixels[k][j][0].item<int64_t>(), static_cast<int64_t>(std::trunc(g))) << i << " " << j;
      ++checked;
    }
  }
  EXPECT_GT(checked, 900);
  EXPECT_TRUE(load_cifar(o).from_cache);
  // Tokens are the gray values; values are normalized with s4's statistics.
  const auto idx = torch::tensor({3, 0}, torch::kLong);
  PixelEncoding tok;
  tok.tokens = true;
  const auto [xt, yt] = image_batch(d.train, idx, tok);
  EXPECT_EQ(xt.sizes(), (torch::IntArrayRef{2, 1024}));
  EXPECT_EQ(xt[0][5].item<int64_t>(), d.train.pixels[3][5][0].item<int64_t>());
  PixelEncoding val;
  val.mean = {122.6 / 255};
  val.std = {61.0 / 255};
  const auto [xv, yv] = image_batch(d.train, idx, val);
  EXPECT_EQ(xv.sizes(), (torch::IntArrayRef{2, 1024, 1}));
  EXPECT_NEAR(xv[1][7][0].item<double>(), (d.train.pixels[0][7][0].item<double>() - 122.6) / 61.0, 1e-5);
  EXPECT_TRUE(torch::equal(yv, torch::stack({d.train.y[3], d.train.y[0]})));
  // Colour: the three planes, position by position.
  o.grayscale = false;
  const ImageData c = load_cifar(o);
  ASSERT_EQ(c.train.pixels.sizes(), (torch::IntArrayRef{30, 1024, 3}));
  for (int j : {0, 500, 1023})
    for (int ch = 0; ch < 3; ++ch)
      EXPECT_EQ(c.train.pixels[2][j][ch].item<int64_t>(), all[2 * 3073 + 1 + ch * 1024 + j]);
}

TEST_F(Lra, MalformedCifarBatchesNameTheFileAndRecord) {
  test::write_cifar_like(dir / "cifar", 4, 4, 5);
  CifarOptions o;
  o.root = (dir / "cifar").string();
  o.cache_dir = "none";
  fs::resize_file(dir / "cifar/data_batch_3.bin", 3 * 3073 + 100);
  expect_error([&] { load_cifar(o); }, {"data_batch_3.bin: record 3 (at byte 9219) is short: 100 of 3073 bytes"});
  fs::resize_file(dir / "cifar/data_batch_3.bin", 3 * 3073);
  {
    std::fstream f(dir / "cifar/data_batch_2.bin", std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(2 * 3073);
    f.put(static_cast<char>(10));
  }
  expect_error([&] { load_cifar(o); }, {"data_batch_2.bin: record 2 (at byte 6146): label 10 is not a class 0-9"});
  fs::remove(dir / "cifar/test_batch.bin");
  expect_error([&] { load_cifar(o); }, {"test_batch.bin: no such file", "cifar-10-batches-bin"});
}

}  // namespace
}  // namespace ssm::data
