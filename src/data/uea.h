// The UEA/UCR time-series classification format (.ts), as the archive and sktime write it:
//   '#' comment lines; header lines "@key value" with case-insensitive keys (@problemName, @timeStamps, @missing,
//   @univariate, @dimensions, @equalLength, @seriesLength, @classLabel true <labels...>); then @data and one case per
//   line: dimensions separated by ':', values by ',', the class label last; '?' is a missing value; unequal lengths
//   have different value counts per case.
// A malformed file is reported with its file and line: std::runtime_error.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace ssm::data {

struct TsFile {
  std::string problem;              // @problemName (empty when absent)
  std::vector<std::string> labels;  // @classLabel, in header order; y indexes it
  at::Tensor x;                     // (n, L_max, D) float32, right-padded with 0; missing values are NaN
  at::Tensor lengths;               // (n) int64: the longest dimension of each case
  at::Tensor y;                     // (n) int64
};

// `labels`: the label set to map labels into (a test file's labels must be the training file's); empty: the file's
// own @classLabel list.
TsFile read_ts(const std::string& path, const std::vector<std::string>& labels = {});

// The documented rule for missing values, applied to a (n, L, D) tensor with NaN for missing values and `lengths`:
// within each case and dimension, a missing value takes the last observed value before it, leading missing values
// the first observed one, and a dimension with no observed value is 0. Padding (positions >= length) stays 0.
void fill_missing(at::Tensor& x, const at::Tensor& lengths);

}  // namespace ssm::data
