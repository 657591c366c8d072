// The two text tasks of the Long Range Arena: Text (IMDB reviews, 2 classes) and Retrieval (AAN citation pairs, 2
// classes), read from their released formats and tokenized at the byte level (LRA) or by characters (s4).
//
// IMDB: the original release's folder aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt (pos: rating 7-10, label 1;
// neg: rating 1-4, label 0; train/unsup is ignored). Files are taken neg then pos, by id.
// AAN: lra_release/tsv_data/new_aan_pairs.{train,eval,test}.tsv, no header, 5 tab-separated columns
// "label id1 id2 text1 text2", the label written as a float (1.0 / 0.0), no quoting.
//
// Tokenization:
//   bytes (LRA): id = UTF-8 byte + 1, 0 is the padding; vocabulary 257; the first max_length bytes.
//   chars (s4):  Unicode characters (UTF-8 decoded; an invalid byte reads as U+FFFD); vocabulary <pad>=0, <unk>=1,
//                <eos>=2, then the training split's characters seen at least min_freq times, by descending count
//                (ties by code point); the first max_length - 1 characters, then <eos>.
#pragma once

#include "data/store.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ssm::data {

enum class TextLevel { kBytes, kChars };
TextLevel text_level(const std::string& name);  // "bytes" | "chars"

struct TextOptions {
  TextLevel level = TextLevel::kChars;
  int64_t max_length = 4096;  // per document, <eos> included
  int64_t min_freq = 1;       // chars: characters rarer than this in the training split read as <unk>
};

// One split of a text task: documents (x), second documents of retrieval pairs (x2, else empty), labels.
struct TextSplit {
  RaggedTokens x, x2;
  at::Tensor y;  // (n) int64
  int64_t size() const { return y.defined() ? y.size(0) : 0; }
};

struct TextData {
  std::string name;
  TextSplit train, val, test;
  std::vector<std::string> vocab;  // chars: the characters of ids 3... (UTF-8); bytes: empty
  int64_t vocab_size = 0;
  int64_t n_classes = 2;
  bool val_is_test = false;  // the validation split is the test split (LRA's protocol for IMDB)
  bool from_cache = false;
};

struct ImdbOptions {
  std::string root;  // the aclImdb folder
  TextOptions text;
  double val_fraction = 0;  // 0: validate on the test split, as LRA and s4 do; else a seeded share of train
  uint64_t split_seed = 42;
  int64_t limit_train = 0;
  std::string cache_dir;  // data::cache_path's dir ("none": no cache)
};
TextData load_imdb(const ImdbOptions& o);

struct AanOptions {
  std::string root;  // the folder of new_aan_pairs.{train,eval,test}.tsv
  TextOptions text;  // max_length per document
  int64_t limit_train = 0;
  std::string cache_dir;
};
TextData load_aan(const AanOptions& o);

// A split as named arrays of a cache ("<prefix>.x.values", ".x.offsets", ".x2.*", ".y"), and back (a missing array
// is an error naming it).
void put_text_split(Arrays& a, const std::string& prefix, const TextSplit& s);
TextSplit get_text_split(const Arrays& a, const std::string& prefix, int64_t shift);

// One AAN row: label (0/1), the two documents. Errors name the file and line.
struct AanRow {
  int label = 0;
  std::string text1, text2;
};
// Calls `row` for each row of a TSV file (at most `limit` rows when limit > 0).
void read_aan_tsv(const std::string& path, const std::function<void(AanRow&&)>& row, int64_t limit = 0);

// UTF-8 text as code points (invalid bytes read as U+FFFD), and a code point back as UTF-8.
std::vector<int32_t> utf8_code_points(const std::string& s);
std::string utf8_encode(int32_t cp);

}  // namespace ssm::data
