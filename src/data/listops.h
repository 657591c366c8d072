// ListOps (Long Range Arena): the generator of the official release's algorithm, its TSV format, and the s4
// tokenization.
//
// Format: a header line "Source<TAB>Target", then one example a line: the expression in binary-tuple
// parenthesization, e.g. "( ( ( ( [MAX 4 ) 5 ) 3 ) ] )", a tab, the label 0-9. Lines may end in CRLF.
// Tokens: ']' becomes 'X', '(' and ')' are dropped, the rest split on whitespace. Vocabulary: <pad>=0, <unk>=1,
// <eos>=2, then the training split's tokens by descending frequency (ties by name); <eos> is appended after
// truncation to max_length - 1. The loaded splits are ragged uint8 token stores (data/store.h), padded per batch,
// prepared once into the data cache.
#pragma once

#include "data/lra_text.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace ssm::data {

struct ListOpsGenOptions {
  int64_t min_length = 500;   // keep trees with min_length < length < max_length, length = 2 #operators + #values
  int64_t max_length = 2000;
  int max_depth = 10;
  int max_args = 10;
  uint64_t seed = 0;
};

struct ListOpsExample {
  std::string source;  // the rendered expression
  int label = 0;       // its value
  int64_t length = 0;  // 2 #operators + #values
};

// Draws `count` distinct trees with min_length < length < max_length (rejection sampling, as the official script).
std::vector<ListOpsExample> generate_listops(const ListOpsGenOptions& o, int64_t count, std::mt19937_64& rng);
// Evaluates a rendered expression (the generator's label): MIN, MAX, MED (median, truncated), SM (sum mod 10).
int evaluate_listops(const std::string& source);

void write_listops_tsv(const std::string& path, const std::vector<ListOpsExample>& examples);
// Reads a TSV file: (source, label) pairs. Errors name the file and line.
std::vector<std::pair<std::string, int>> read_listops_tsv(const std::string& path);
// The same one row at a time (at most `limit` rows when limit > 0), without holding the file's rows.
void read_listops_tsv(const std::string& path, const std::function<void(std::string&&, int)>& row, int64_t limit = 0);

std::vector<std::string> tokenize_listops(const std::string& source);

struct ListOpsOptions {
  std::string root;          // folder with basic_train.tsv, basic_val.tsv, basic_test.tsv
  int64_t max_length = 2048;  // l_max, <eos> included
  int64_t limit_train = 0;    // > 0: the first limit_train training examples only
  std::string cache_dir;      // data::cache_path's dir ("none": no cache)
};
// The three splits as ragged token stores; vocab holds the tokens of ids 3... (TextData::vocab).
TextData load_listops(const ListOpsOptions& o);

}  // namespace ssm::data
