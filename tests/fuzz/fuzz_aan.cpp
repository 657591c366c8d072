// Fuzz target: the AAN (LRA Retrieval) TSV reader and the whole loader (src/data/lra_text) on a folder whose three
// splits are the input, tokenized by bytes or characters (chosen from the input).
// Failures must be std::runtime_error naming the file; what loads must be consistent: as many pairs in each split as
// the reader returned, ids inside the vocabulary and never <pad> inside a document, lengths within max_length.
#include "data/lra_text.h"
#include "fuzz_support.h"

#include <ATen/ops/arange.h>

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string bytes = ssm::fuzz::as_string(data, size);
  const std::string train = ssm::fuzz::write_file("aan/new_aan_pairs.train.tsv", bytes);
  int64_t rows = 0;
  try {
    read_aan_tsv(train, [&](AanRow&& r) {
      if (r.label != 0 && r.label != 1) ssm::fuzz::broken("label not 0 or 1");
      ++rows;
    });
  } catch (const std::runtime_error&) {
    return 0;
  }
  ssm::fuzz::write_file("aan/new_aan_pairs.eval.tsv", bytes);
  ssm::fuzz::write_file("aan/new_aan_pairs.test.tsv", bytes);
  const uint64_t h = ssm::fuzz::digest(data, size);
  AanOptions o;
  o.root = ssm::fuzz::workdir() + "/aan";
  o.text.level = h & 1 ? TextLevel::kBytes : TextLevel::kChars;
  o.text.max_length = 2 + static_cast<int64_t>((h >> 1) % 60);
  o.text.min_freq = 1 + static_cast<int64_t>((h >> 8) % 3);
  o.cache_dir = "none";
  TextData d;
  try {
    d = load_aan(o);
  } catch (const std::runtime_error&) {
    if (rows > 0) ssm::fuzz::broken("the reader accepted the rows but the loader did not");
    return 0;
  }
  if (rows == 0) ssm::fuzz::broken("a split without rows loaded");
  const int64_t expected_vocab = o.text.level == TextLevel::kBytes ? 257 : 3 + static_cast<int64_t>(d.vocab.size());
  if (d.vocab_size != expected_vocab) ssm::fuzz::broken("vocabulary size");
  for (const TextSplit* s : {&d.train, &d.val, &d.test}) {
    if (s->size() != rows || s->x.size() != rows || s->x2.size() != rows) ssm::fuzz::broken("pair count");
    for (const RaggedTokens* doc : {&s->x, &s->x2}) {
      const auto [xt, lt] = doc->gather(at::arange(rows, at::kLong));
      const auto x = xt.accessor<int64_t, 2>();
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t len = lt[i].item<int64_t>();
        if (len < 0 || len > o.text.max_length) ssm::fuzz::broken("document length out of range");
        if (o.text.level == TextLevel::kChars && (len < 1 || x[i][len - 1] != 2)) ssm::fuzz::broken("no <eos>");
        for (int64_t j = 0; j < xt.size(1); ++j) {
          if (x[i][j] < 0 || x[i][j] >= d.vocab_size) ssm::fuzz::broken("token id outside the vocabulary");
          if ((j < len) != (x[i][j] != 0)) ssm::fuzz::broken("<pad> inside a document or ids after its end");
        }
      }
    }
  }
  return 0;
}
