// Fuzz target: the ListOps TSV reader, tokenizer and evaluator (src/data/listops), and the whole loader (vocabulary,
// truncation, encoding) on a folder whose three splits are the input.
// Failures must be std::runtime_error (files) or std::invalid_argument (expressions); what loads must be consistent:
// token ids inside the vocabulary, <eos> at each length, padding after it.
#include "data/listops.h"
#include "fuzz_support.h"

#include <ATen/ops/arange.h>

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string bytes = ssm::fuzz::as_string(data, size);
  const std::string path = ssm::fuzz::write_file("lo/basic_train.tsv", bytes);
  std::vector<std::pair<std::string, int>> rows;
  try {
    rows = read_listops_tsv(path);
  } catch (const std::runtime_error&) {
    return 0;
  }
  for (const auto& [src, label] : rows) {
    if (label < 0 || label > 9) ssm::fuzz::broken("label out of range");
    for (const auto& tok : tokenize_listops(src))
      if (tok.empty() || tok.find_first_of("() \t") != std::string::npos) ssm::fuzz::broken("token '" + tok + "'");
    try {
      const int v = evaluate_listops(src);
      if (v < 0 || v > 9) ssm::fuzz::broken("value out of range");
    } catch (const std::invalid_argument&) {
    }
  }
  ssm::fuzz::write_file("lo/basic_val.tsv", bytes);
  ssm::fuzz::write_file("lo/basic_test.tsv", bytes);
  ListOpsOptions o;
  o.root = ssm::fuzz::workdir() + "/lo";
  o.max_length = 2 + static_cast<int64_t>(ssm::fuzz::digest(data, size) % 40);
  o.cache_dir = "none";
  TextData d;
  try {
    d = load_listops(o);
  } catch (const std::runtime_error&) {
    return 0;
  }
  for (const TextSplit* s : {&d.train, &d.val, &d.test}) {
    if (s->size() != static_cast<int64_t>(rows.size()) || s->x.size() != s->size()) ssm::fuzz::broken("example count");
    if (s->size() == 0) continue;
    const auto [xt, lt] = s->x.gather(at::arange(s->size(), at::kLong));
    const int64_t L = xt.size(1);
    if (L > o.max_length) ssm::fuzz::broken("longer than max_length");
    const auto x = xt.accessor<int64_t, 2>();
    for (int64_t i = 0; i < s->size(); ++i) {
      const int64_t len = lt[i].item<int64_t>();
      if (len < 1 || len > L) ssm::fuzz::broken("length out of range");
      if (x[i][len - 1] != 2) ssm::fuzz::broken("no <eos> at the end");
      for (int64_t j = 0; j < L; ++j) {
        if (x[i][j] < 0 || x[i][j] >= d.vocab_size) ssm::fuzz::broken("token id outside the vocabulary");
        if (j >= len && x[i][j] != 0) ssm::fuzz::broken("padding is not <pad>");
        if (j < len && x[i][j] == 0) ssm::fuzz::broken("<pad> inside a sequence");
      }
    }
  }
  return 0;
}
