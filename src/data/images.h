// Image tasks of the Long Range Arena as pixel sequences: Image (CIFAR-10, 10 classes, 32x32 = 1024 steps) and
// Pathfinder / Path-X (2 classes, 32x32 ... 256x256), held as uint8 pixels and converted per batch into tokens
// (0-255, vocabulary 256) or normalized values.
//
// CIFAR-10 binary release (cifar-10-batches-bin/): data_batch_1.bin ... data_batch_5.bin and test_batch.bin, each
// 10,000 records of 3,073 bytes: the label (0-9), then 1024 red, 1024 green, 1024 blue bytes, rows top to bottom.
// Grayscale as LRA's input pipeline (tf.image.rgb_to_grayscale on uint8): gray = trunc(255.5 * (0.2989 R + 0.5870 G
// + 0.1140 B) / 255). Validation: the last val_fraction of the 50,000 training images (LRA: 45k / 5k / 10k).
#pragma once

#include "data/store.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ssm::data {

// One split of an image task: pixels (N, L, C) uint8 (C = 1 gray, 3 colour) and labels (N) int64; rows (n) int64,
// when defined, are the split's rows of arrays that all splits share (else the split is every row in order).
struct ImageSplit {
  at::Tensor pixels, y, rows;
  int64_t size() const { return rows.defined() ? rows.size(0) : y.defined() ? y.size(0) : 0; }
};

struct ImageData {
  std::string name;
  ImageSplit train, val, test;
  int64_t n_classes = 0;
  int64_t height = 0, width = 0, channels = 1;
  bool from_cache = false;
  std::vector<std::string> skipped;  // unreadable source images left out, each "path: why" (Pathfinder)
};

// How pixels become model inputs.
struct PixelEncoding {
  bool tokens = false;      // (B, L) int64 pixel values 0-255 (vocabulary 256); else (B, L, C) float
  std::vector<double> mean, std;  // values: (p / 255 - mean[c]) / std[c]
};

// Rows `index` of a split: x as the encoding says, y.
std::pair<at::Tensor, at::Tensor> image_batch(const ImageSplit& s, const at::Tensor& index, const PixelEncoding& e);

// tf.image.rgb_to_grayscale of one uint8 pixel.
uint8_t lra_gray(uint8_t r, uint8_t g, uint8_t b);

struct CifarOptions {
  std::string root;  // the cifar-10-batches-bin folder
  bool grayscale = true;
  double val_fraction = 0.1;
  int64_t limit_train = 0;
  std::string cache_dir;
};
ImageData load_cifar(const CifarOptions& o);
// The records of one batch file: (n, 3073) uint8. A size that is not a whole number of records names the file, the
// short record and its size; a label past 9 names the file and record.
at::Tensor read_cifar_batch(const std::string& path);

}  // namespace ssm::data
