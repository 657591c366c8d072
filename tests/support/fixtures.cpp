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

}  // namespace ssm::test
