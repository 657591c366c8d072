#include "data/fashion_mnist.h"

#include <ATen/ops/arange.h>
#include <ATen/ops/full.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/randperm.h>
#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace ssm::data {
namespace {

// Pixel statistics of the Fashion-MNIST training set.
constexpr double kMean = 0.2860, kStd = 0.3530;

// Reads the file's first `limit` + 1 bytes, or all of it when it is shorter (gzip-decompressed when the file is
// compressed): one byte past the limit tells that there is more. The bound keeps a wrong or hostile file (a small gzip
// stream that expands to gigabytes) from exhausting memory.
std::vector<uint8_t> read_file(const std::string& path, size_t limit) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files as they are
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  int n = 0;
  while (out.size() <= limit &&
         (n = gzread(f, buf, static_cast<unsigned>(std::min<size_t>(sizeof buf, limit + 1 - out.size())))) > 0)
    out.insert(out.end(), buf, buf + n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  const std::string what = (n < 0 || (err != Z_OK && err != Z_BUF_ERROR)) ? std::string(msg) : "";
  gzclose(f);
  if (!what.empty()) throw std::runtime_error(path + ": read error at byte " + std::to_string(out.size()) + ": " + what);
  return out;
}

std::string find(const std::string& root, const std::string& name) {
  for (const std::string& candidate : {root + "/" + name, root + "/" + name + ".gz"})
    if (std::filesystem::exists(candidate)) return candidate;
  throw std::runtime_error(root + "/" + name + "[.gz]: no such file (Debian: apt-get install dataset-fashion-mnist)");
}

at::Tensor labels(const IdxArray& a, const std::string& path) {
  if (a.dims.size() != 1) throw std::runtime_error(path + ": expected a label file (1 dimension)");
  for (size_t i = 0; i < a.data.size(); ++i)
    if (a.data[i] > 9)
      throw std::runtime_error(path + ": byte offset " + std::to_string(8 + i) + ": label " +
                               std::to_string(a.data[i]) + " is not a class 0-9");
  return at::from_blob(const_cast<uint8_t*>(a.data.data()), {a.dims[0]}, at::kByte).to(at::kLong);
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  // The header first (at most 4 + 4 * 4 bytes), then exactly the data it declares: the declared size is checked
  // before anything of that size is read or allocated.
  constexpr uint64_t kMaxBytes = uint64_t(1) << 32;  // 4 GiB: 80 times the Fashion-MNIST training images
  std::vector<uint8_t> bytes = read_file(path, 4 + 4 * 4);
  auto be32 = [&](size_t off) -> uint32_t {
    if (off + 4 > bytes.size())
      throw std::runtime_error(path + ": truncated header at byte offset " + std::to_string(off) + " (file has " +
                               std::to_string(bytes.size()) + " bytes)");
    return (uint32_t(bytes[off]) << 24) | (uint32_t(bytes[off + 1]) << 16) | (uint32_t(bytes[off + 2]) << 8) |
           bytes[off + 3];
  };
  const uint32_t magic = be32(0);
  if ((magic >> 8) != 0x08)
    throw std::runtime_error(path + ": byte offset 0: not an unsigned-byte IDX file (magic 0x" +
                             [&] { char s[16]; std::snprintf(s, sizeof s, "%08x", magic); return std::string(s); }() +
                             ", expected 0x000008NN)");
  const int ndim = magic & 0xff;
  if (ndim < 1 || ndim > 4) throw std::runtime_error(path + ": byte offset 3: bad dimension count " + std::to_string(ndim));
  IdxArray a;
  uint64_t count = 1;
  bool too_big = false;
  for (int d = 0; d < ndim; ++d) {
    a.dims.push_back(be32(4 + 4 * d));
    if (a.dims.back() != 0 && count > kMaxBytes / static_cast<uint64_t>(a.dims.back())) too_big = true;
    else count *= static_cast<uint64_t>(a.dims.back());
  }
  if (too_big || count > kMaxBytes) {
    std::string shape;
    for (const int64_t d : a.dims) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
    throw std::runtime_error(path + ": byte offset 4: the declared dimensions (" + shape + ") exceed " +
                             std::to_string(kMaxBytes >> 30) + " GiB of data: not an IDX file of this reader?");
  }
  const size_t header = 4 + 4 * static_cast<size_t>(ndim);
  bytes = read_file(path, header + count);
  if (bytes.size() != header + count)
    throw std::runtime_error(path + ": byte offset " + std::to_string(std::min<size_t>(bytes.size(), header + count)) +
                             ": expected " + std::to_string(header + count) +
                             " bytes for the declared dimensions, file has " +
                             (bytes.size() < header + count ? std::to_string(bytes.size()) + " (truncated)"
                                                            : "more"));
  a.data.assign(bytes.begin() + header, bytes.end());
  return a;
}

Split take(const Split& s, const at::Tensor& index) {
  return {s.x.index_select(0, index), s.y.index_select(0, index), s.lengths.index_select(0, index)};
}

TaskData load_fashion_mnist(const FashionMnistOptions& o) {
  auto load = [&](const std::string& images, const std::string& labels_name) {
    const std::string ip = find(o.root, images), lp = find(o.root, labels_name);
    const IdxArray img = read_idx(ip), lab = read_idx(lp);
    if (img.dims.size() != 3 || img.dims[1] != 28 || img.dims[2] != 28)
      throw std::runtime_error(ip + ": expected images of 28 x 28 pixels");
    const at::Tensor y = labels(lab, lp);
    if (y.size(0) != img.dims[0])
      throw std::runtime_error(lp + ": " + std::to_string(y.size(0)) + " labels for " + std::to_string(img.dims[0]) +
                               " images in " + ip);
    at::Tensor x = at::from_blob(const_cast<uint8_t*>(img.data.data()), {img.dims[0], 784}, at::kByte)
                       .to(at::kFloat)
                       .div_(255.0)
                       .sub_(kMean)
                       .div_(kStd);  // (n, 784)
    if (o.permute) {
      at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(o.permute_seed));
      x = x.index_select(1, at::randperm(784, gen, at::TensorOptions().dtype(at::kLong)));
    }
    const int64_t n = x.size(0);
    return Split{x.unsqueeze(-1).contiguous(), y, at::full({n}, 784, at::TensorOptions().dtype(at::kLong))};
  };
  TaskData t;
  t.name = o.permute ? "psfmnist" : "sfmnist";
  t.d_input = 1;
  t.n_classes = 10;
  Split train = load("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
  t.test = load("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");
  const int64_t n = train.size();
  const int64_t n_val = static_cast<int64_t>(n * o.val_fraction);
  int64_t n_train = n - n_val;
  if (o.limit_train > 0) n_train = std::min(n_train, o.limit_train);
  const auto lo = at::TensorOptions().dtype(at::kLong);
  t.train = take(train, at::arange(n_train, lo));
  t.val = take(train, at::arange(n - n_val, n, lo));
  return t;
}

}  // namespace ssm::data
