// The IDX reader and the sequential Fashion-MNIST loader: real format, compressed or not, and malformed files.
#include "data/fashion_mnist.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

namespace ssm::data {
namespace {

using test::expect_error;

namespace fs = std::filesystem;

class FashionMnist : public test::TempDirTest {};

TEST_F(FashionMnist, IdxRoundTripPlainAndCompressed) {
  std::vector<uint8_t> data(2 * 3 * 5);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7);
  for (const bool gz : {false, true}) {
    const std::string p = (dir / (gz ? "a.gz" : "a")).string();
    test::write_idx(p, {2, 3, 5}, data, gz);
    const IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 3, 5}));
    EXPECT_EQ(a.data, data);
  }
}

TEST_F(FashionMnist, MalformedIdxFilesNameFileAndOffset) {
  const std::string p = (dir / "bad").string();
  std::ofstream(p, std::ios::binary) << std::string("\x00\x00\x09\x01\x00\x00\x00\x01\x05", 9);
  expect_error([&] { read_idx(p); }, {p, "byte offset 0", "not an unsigned-byte IDX file"});
  std::ofstream(p, std::ios::binary) << std::string("\x00\x00\x08\x03\x00\x00", 6);
  expect_error([&] { read_idx(p); }, {p, "truncated header", "byte offset 4"});
  test::write_idx(p, {4, 2}, {1, 2, 3, 4, 5});
  expect_error([&] { read_idx(p); }, {p, "expected 20 bytes", "truncated"});
  test::write_idx(p, {1}, {1, 2});
  expect_error([&] { read_idx(p); }, {p, "expected 9 bytes", "file has more"});
  // Declared sizes past 4 GiB, and ones whose product wraps around 64 bits (2^16 to the 4th is 2^64, "0"), are refused
  // before anything is allocated (the second was accepted as an empty array with dimensions of 65536).
  test::write_idx(p, {65536, 65536, 65536, 65536}, {});
  expect_error([&] { read_idx(p); }, {p, "byte offset 4", "65536 x 65536 x 65536 x 65536", "exceed 4 GiB"});
  test::write_idx(p, {0xFFFFFFFFu, 2}, {});
  expect_error([&] { read_idx(p); }, {p, "exceed 4 GiB"});
  // A gzip stream that expands past its header's size is read only one byte past it.
  test::write_idx(p + ".gz", {3}, std::vector<uint8_t>(1 << 20, 7), true);
  expect_error([&] { read_idx(p + ".gz"); }, {"byte offset 11", "expected 11 bytes", "file has more"});
  expect_error([&] { read_idx((dir / "none").string()); }, {"none", "cannot open"});
}

TEST_F(FashionMnist, LoaderSplitsNormalizesAndChecksLabels) {
  test::write_fashion_like(dir, 50, 20, 1);
  FashionMnistOptions o;
  o.root = dir.string();
  o.val_fraction = 0.2;
  const TaskData t = load_fashion_mnist(o);
  EXPECT_EQ(t.train.size(), 40);
  EXPECT_EQ(t.val.size(), 10);
  EXPECT_EQ(t.test.size(), 20);
  EXPECT_EQ(t.train.x.sizes(), (torch::IntArrayRef{40, 784, 1}));
  EXPECT_EQ(t.train.lengths[0].item<int64_t>(), 784);
  EXPECT_LT(t.train.x.max().item<double>(), (1.0 - 0.2860) / 0.3530 + 1e-4);
  o.permute = true;
  const TaskData p = load_fashion_mnist(o);
  EXPECT_FALSE(torch::equal(p.train.x, t.train.x));
  EXPECT_TRUE(torch::allclose(std::get<0>(p.train.x.sort(1)), std::get<0>(t.train.x.sort(1))));  // the same pixels, reordered
  // A label out of range names the file and its offset.
  test::write_idx((dir / "t10k-labels-idx1-ubyte").string(), {20}, std::vector<uint8_t>(20, 12));
  expect_error([&] { load_fashion_mnist(o); }, {"t10k-labels-idx1-ubyte", "byte offset 8", "label 12"});
  test::write_idx((dir / "t10k-labels-idx1-ubyte").string(), {19}, std::vector<uint8_t>(19, 1));
  expect_error([&] { load_fashion_mnist(o); }, {"19 labels for 20 images"});
  o.root = (dir / "nowhere").string();
  expect_error([&] { load_fashion_mnist(o); }, {"nowhere", "no such file"});
}

}  // namespace
}  // namespace ssm::data
