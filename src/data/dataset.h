// In-memory classification data sets and their batches.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace ssm::data {

// One split: inputs x ((n, L) int64 tokens or (n, L, d) float values), labels y (n) int64, valid lengths (n) int64.
struct Split {
  at::Tensor x, y, lengths;
  int64_t size() const { return y.defined() ? y.size(0) : 0; }
};

struct TaskData {
  std::string name;
  Split train, val, test;
  int64_t vocab_size = 0;  // > 0 for token inputs
  int64_t d_input = 1;     // features per position for real inputs
  int64_t n_classes = 0;
};

// Rows `index` of a split.
Split take(const Split& s, const at::Tensor& index);

}  // namespace ssm::data
