#include "data/images.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/index_select.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ssm::data {
namespace fs = std::filesystem;

std::pair<at::Tensor, at::Tensor> image_batch(const ImageSplit& s, const at::Tensor& index, const PixelEncoding& e) {
  const at::Tensor idx = s.rows.defined() ? at::index_select(s.rows, 0, index.to(at::kLong)) : index.to(at::kLong);
  const at::Tensor px = at::index_select(s.pixels, 0, idx);  // (B, L, C) uint8
  const at::Tensor y = at::index_select(s.y, 0, idx);
  if (e.tokens) return {px.select(2, 0).to(at::kLong), y};
  at::Tensor x = px.to(at::kFloat).div_(255.0);
  const int64_t C = px.size(2);
  for (int64_t c = 0; c < C; ++c) {
    const double m = c < static_cast<int64_t>(e.mean.size()) ? e.mean[c] : 0.0;
    const double d = c < static_cast<int64_t>(e.std.size()) ? e.std[c] : 1.0;
    x.select(2, c).sub_(m).div_(d);
  }
  return {x, y};
}

uint8_t lra_gray(uint8_t r, uint8_t g, uint8_t b) {
  const float v = 0.2989f * (r / 255.0f) + 0.5870f * (g / 255.0f) + 0.1140f * (b / 255.0f);
  const float scaled = v * 255.5f;
  return static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, std::trunc(scaled))));
}

at::Tensor read_cifar_batch(const std::string& path) {
  constexpr int64_t kRecord = 3073;
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw std::runtime_error(path + ": cannot open (data.root must be the cifar-10-batches-bin folder)");
  const int64_t size = static_cast<int64_t>(f.tellg());
  // 1 GiB: 35 times a release batch; a wrong file must not take the memory.
  if (size > (int64_t(1) << 30)) throw std::runtime_error(path + ": larger than 1 GiB: not a CIFAR-10 batch file");
  if (size == 0) throw std::runtime_error(path + ": empty file");
  if (size % kRecord != 0)
    throw std::runtime_error(path + ": record " + std::to_string(size / kRecord) + " (at byte " +
                             std::to_string(size / kRecord * kRecord) + ") is short: " +
                             std::to_string(size % kRecord) + " of 3073 bytes");
  const int64_t n = size / kRecord;
  at::Tensor t = at::empty({n, kRecord}, at::kByte);
  f.seekg(0);
  if (!f.read(reinterpret_cast<char*>(t.data_ptr<uint8_t>()), size)) throw std::runtime_error(path + ": read error");
  const uint8_t* p = t.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i)
    if (p[i * kRecord] > 9)
      throw std::runtime_error(path + ": record " + std::to_string(i) + " (at byte " + std::to_string(i * kRecord) +
                               "): label " + std::to_string(p[i * kRecord]) + " is not a class 0-9");
  return t;
}

namespace {

// Records (n, 3073) -> pixels (n, 1024, C) and labels.
ImageSplit to_split(const at::Tensor& rec, bool gray) {
  const int64_t n = rec.size(0), C = gray ? 1 : 3;
  ImageSplit s{at::empty({n, 1024, C}, at::kByte), at::empty({n}, at::kLong), {}};
  const uint8_t* p = rec.data_ptr<uint8_t>();
  uint8_t* q = s.pixels.data_ptr<uint8_t>();
  int64_t* y = s.y.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = p + i * 3073;
    y[i] = r[0];
    const uint8_t *R = r + 1, *G = r + 1025, *B = r + 2049;
    uint8_t* o = q + i * 1024 * C;
    for (int64_t j = 0; j < 1024; ++j) {
      if (gray) {
        o[j] = lra_gray(R[j], G[j], B[j]);
      } else {
        o[3 * j] = R[j];
        o[3 * j + 1] = G[j];
        o[3 * j + 2] = B[j];
      }
    }
  }
  return s;
}

}  // namespace

ImageData load_cifar(const CifarOptions& o) {
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) throw std::invalid_argument("cifar: val_fraction must be in [0, 1)");
  std::vector<std::string> files;
  for (int i = 1; i <= 5; ++i) files.push_back(o.root + "/data_batch_" + std::to_string(i) + ".bin");
  files.push_back(o.root + "/test_batch.bin");
  for (const auto& p : files)
    if (!fs::is_regular_file(p))
      throw std::runtime_error(p + ": no such file (data.root must be the cifar-10-batches-bin folder)");
  std::ostringstream key;
  key << "cifar v1 grayscale=" << o.grayscale << " val_fraction=" << o.val_fraction << " limit_train="
      << o.limit_train << " root=" << canonical_path(o.root);
  ImageData d;
  d.name = "cifar";
  d.n_classes = 10;
  d.height = d.width = 32;
  d.channels = o.grayscale ? 1 : 3;
  const Arrays a = cached(o.cache_dir, "cifar", key.str(), fingerprint_files(files), [&] {
    std::vector<at::Tensor> train;
    for (int i = 0; i < 5; ++i) train.push_back(read_cifar_batch(files[i]));
    int64_t n = 0;
    for (const auto& t : train) n += t.size(0);
    at::Tensor all = at::empty({n, 3073}, at::kByte);
    int64_t at_row = 0;
    for (const auto& t : train) {
      all.narrow(0, at_row, t.size(0)).copy_(t);
      at_row += t.size(0);
    }
    const int64_t nv = static_cast<int64_t>(std::llround(o.val_fraction * n));
    int64_t nt = n - nv;
    if (o.limit_train > 0) nt = std::min(nt, o.limit_train);
    const ImageSplit tr = to_split(all.narrow(0, 0, nt), o.grayscale), va = to_split(all.narrow(0, n - nv, nv), o.grayscale),
                     te = to_split(read_cifar_batch(files[5]), o.grayscale);
    return Arrays{{"train.pixels", tr.pixels}, {"train.y", tr.y}, {"val.pixels", va.pixels},
                  {"val.y", va.y},             {"test.pixels", te.pixels}, {"test.y", te.y}};
  }, &d.from_cache);
  d.train = {a.at("train.pixels"), a.at("train.y"), {}};
  d.val = {a.at("val.pixels"), a.at("val.y"), {}};
  d.test = {a.at("test.pixels"), a.at("test.y"), {}};
  return d;
}

}  // namespace ssm::data
