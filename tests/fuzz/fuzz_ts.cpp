// Fuzz target: the UEA/UCR .ts reader (src/data/uea) and the missing-value rule on what it read.
// Failures must be std::runtime_error naming the file and line; what loads must be consistent: x (n, L, D) with L the
// longest case, lengths in [1, L], labels indexing the label list, no NaN left after fill_missing.
#include "data/uea.h"
#include "fuzz_support.h"

#include <ATen/ops/isnan.h>

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string path = ssm::fuzz::write_file("cases.ts", ssm::fuzz::as_string(data, size));
  // Half the inputs read against a given label set (as a test file against its training file's labels).
  const bool given = ssm::fuzz::digest(data, size) % 2 == 1;
  const std::vector<std::string> labels = given ? std::vector<std::string>{"1", "2", "a"} : std::vector<std::string>{};
  TsFile t;
  try {
    t = read_ts(path, labels);
  } catch (const std::runtime_error&) {
    return 0;
  }
  const int64_t n = t.x.size(0), L = t.x.size(1);
  if (t.x.dim() != 3 || n < 1 || L < 1 || t.x.size(2) < 1 || t.lengths.size(0) != n || t.y.size(0) != n)
    ssm::fuzz::broken("shapes");
  if (given && t.labels != labels) ssm::fuzz::broken("the given labels were not kept");
  int64_t longest = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = t.lengths[i].item<int64_t>(), y = t.y[i].item<int64_t>();
    if (len < 1 || len > L) ssm::fuzz::broken("length out of range");
    if (y < 0 || y >= static_cast<int64_t>(t.labels.size())) ssm::fuzz::broken("label index out of range");
    longest = std::max(longest, len);
  }
  if (longest != L) ssm::fuzz::broken("L is not the longest case");
  fill_missing(t.x, t.lengths);
  if (at::isnan(t.x).any().item<bool>()) ssm::fuzz::broken("NaN left after fill_missing");
  return 0;
}
