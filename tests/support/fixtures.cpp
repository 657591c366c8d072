#include "support/fixtures.h"

#include <zlib.h>

#include <cstdlib>
#include <fstream>

#include <unistd.h>
#include <random>
#include <stdexcept>

namespace ssm::test {

void use_temp_cache() {
  static const bool done = [] {
    const auto d = std::filesystem::temp_directory_path() / ("ssm_test_cache_" + std::to_string(::getpid()));
    return setenv("SSM_CACHE", d.c_str(), 1) == 0;
  }();
  (void)done;
}

void TempDirTest::SetUp() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  dir = std::filesystem::temp_directory_path() /
        ("ssm_test_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
}

void TempDirTest::TearDown() { std::filesystem::remove_all(dir); }

std::string TempDirTest::write(const std::string& name, const std::string& text) {
  const std::filesystem::path p = dir / name;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}


void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data, bool gz) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (const int64_t d : dims)
    for (int s = 24; s >= 0; s -= 8) bytes.push_back(static_cast<uint8_t>((d >> s) & 0xff));
  bytes.insert(bytes.end(), data.begin(), data.end());
  if (gz) {
    gzFile f = gzopen(path.c_str(), "wb");
    if (!f || gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size()))
      throw std::runtime_error("cannot write " + path);
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
}

void write_fashion_like(const std::filesystem::path& dir, int64_t n_train, int64_t n_test, uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  auto make = [&](const std::string& prefix, int64_t n) {
    std::vector<uint8_t> img(n * 784), lab(n);
    std::uniform_int_distribution<int> cls(0, 9), noise(0, 40);
    for (int64_t i = 0; i < n; ++i) {
      lab[i] = static_cast<uint8_t>(cls(rng));
      for (int p = 0; p < 784; ++p) img[i * 784 + p] = static_cast<uint8_t>(20 * lab[i] + noise(rng));
    }
    write_idx((dir / (prefix + "-images-idx3-ubyte.gz")).string(), {n, 28, 28}, img, true);
    write_idx((dir / (prefix + "-labels-idx1-ubyte")).string(), {n}, lab, false);
  };
  make("train", n_train);
  make("t10k", n_test);
}

namespace {

std::string random_text(std::mt19937& rng, int64_t words, const std::vector<std::string>& marks, double mark_p) {
  static const std::vector<std::string> common = {"the", "film", "was", "a", "of", "and", "plot", "actors", "scene",
                                                  "caf\xc3\xa9", "na\xc3\xafve", "\xe2\x80\x94", "it", "movie"};
  std::uniform_real_distribution<double> u(0, 1);
  std::string out;
  for (int64_t w = 0; w < words; ++w) {
    if (!out.empty()) out += ' ';
    const auto& pool = u(rng) < mark_p ? marks : common;
    out += pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)];
  }
  return out;
}

}  // namespace

void write_imdb_like(const std::filesystem::path& root, int64_t n_per_class, uint32_t seed) {
  std::mt19937 rng(seed);
  int64_t id = 0;
  for (const char* split : {"train", "test"})
    for (int label : {0, 1}) {
      const auto d = root / split / (label ? "pos" : "neg");
      std::filesystem::create_directories(d);
      for (int64_t i = 0; i < n_per_class; ++i) {
        const int rating = label ? 7 + static_cast<int>(id % 4) : 1 + static_cast<int>(id % 4);
        const std::vector<std::string> marks = label ? std::vector<std::string>{"good", "great"}
                                                     : std::vector<std::string>{"bad", "awful"};
        std::ofstream(d / (std::to_string(id++) + "_" + std::to_string(rating) + ".txt"), std::ios::binary)
            << random_text(rng, 10 + static_cast<int64_t>(rng() % 40), marks, 0.3);
      }
    }
}

void write_aan_like(const std::filesystem::path& dir, int64_t n_train, int64_t n_eval, int64_t n_test, uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  const std::vector<std::string> topics = {"parsing", "translation", "tagging", "speech"};
  auto write = [&](const std::string& name, int64_t n) {
    std::ofstream f(dir / name, std::ios::binary);
    for (int64_t i = 0; i < n; ++i) {
      const int label = static_cast<int>(rng() % 2);
      const size_t t1 = rng() % topics.size(), t2 = label ? t1 : (t1 + 1 + rng() % (topics.size() - 1)) % topics.size();
      f << (label ? "1.0" : "0.0") << "\tP" << i << "-a\tP" << i << "-b\t"
        << random_text(rng, 20 + static_cast<int64_t>(rng() % 30), {topics[t1]}, 0.25) << "\t"
        << random_text(rng, 20 + static_cast<int64_t>(rng() % 30), {topics[t2]}, 0.25) << "\n";
    }
  };
  write("new_aan_pairs.train.tsv", n_train);
  write("new_aan_pairs.eval.tsv", n_eval);
  write("new_aan_pairs.test.tsv", n_test);
}

void write_cifar_like(const std::filesystem::path& dir, int64_t n_per_batch, int64_t n_test, uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  auto write = [&](const std::string& name, int64_t n) {
    std::vector<uint8_t> rec(n * 3073);
    std::uniform_int_distribution<int> cls(0, 9), noise(0, 60);
    for (int64_t i = 0; i < n; ++i) {
      uint8_t* r = rec.data() + i * 3073;
      r[0] = static_cast<uint8_t>(cls(rng));
      for (int j = 0; j < 3072; ++j) r[1 + j] = static_cast<uint8_t>(18 * r[0] + noise(rng) + (j / 1024) * 5);
    }
    std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(rec.data()), rec.size());
  };
  for (int b = 1; b <= 5; ++b) write("data_batch_" + std::to_string(b) + ".bin", n_per_batch);
  write("test_batch.bin", n_test);
}

}  // namespace ssm::test
