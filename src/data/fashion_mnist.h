// Sequential Fashion-MNIST: the IDX files of Debian's dataset-fashion-mnist package (gzip-compressed or not), each
// image a sequence of 784 pixels in row-major order (optionally under one fixed random permutation).
#pragma once

#include "data/dataset.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ssm::data {

// The contents of an IDX file: dims and the uint8 data. Errors name the file and the byte offset.
struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;
};
IdxArray read_idx(const std::string& path);

struct FashionMnistOptions {
  std::string root = "/usr/share/datasets/fashion-mnist";
  double val_fraction = 0.1;  // the end of the training set
  int64_t limit_train = 0;    // 0: all
  bool permute = false;
  int64_t permute_seed = 0;
};
TaskData load_fashion_mnist(const FashionMnistOptions& o);

}  // namespace ssm::data
