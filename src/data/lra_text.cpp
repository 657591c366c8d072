#include "data/lra_text.h"

#include "data/text.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/tensor.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace ssm::data {
namespace fs = std::filesystem;

TextLevel text_level(const std::string& name) {
  if (name == "bytes") return TextLevel::kBytes;
  if (name == "chars") return TextLevel::kChars;
  throw std::invalid_argument("text level must be bytes or chars, got '" + name + "'");
}

std::vector<int32_t> utf8_code_points(const std::string& s) {
  std::vector<int32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    int32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len > 0 && i + len <= n;
    for (int k = 1; ok && k < len; ++k) {
      if ((p[i + k] >> 6) != 2) ok = false;
      else cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid too.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF))
      ok = false;
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
    } else {
      out.push_back(cp);
      i += len;
    }
  }
  return out;
}

std::string utf8_encode(int32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

namespace {

constexpr int32_t kUnk = 1, kEos = 2;

// The tokenizer of one task: for chars, count() the training documents, then build() the vocabulary; encode() adds a
// document to a builder.
class Encoder {
 public:
  explicit Encoder(const TextOptions& o) : o_(o) {
    if (o.max_length < 2) throw std::invalid_argument("text: max_length must be >= 2");
    if (o.min_freq < 1) throw std::invalid_argument("text: min_freq must be >= 1");
  }
  void count(const std::string& doc) {
    if (o_.level == TextLevel::kBytes) return;
    const auto cps = utf8_code_points(doc);
    const size_t n = std::min<size_t>(cps.size(), o_.max_length - 1);
    for (size_t i = 0; i < n; ++i) ++freq_[cps[i]];
  }
  void build() {
    if (o_.level == TextLevel::kBytes) return;
    std::vector<std::pair<int32_t, int64_t>> v;
    for (const auto& [cp, n] : freq_)
      if (n >= o_.min_freq) v.emplace_back(cp, n);
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (v.size() + 3 > 32767) v.resize(32767 - 3);  // ids stay 16-bit; the rarest characters read as <unk>
    for (const auto& [cp, n] : v) {
      id_[cp] = static_cast<int32_t>(3 + chars_.size());
      chars_.push_back(utf8_encode(cp));
    }
    freq_.clear();
  }
  int64_t vocab_size() const { return o_.level == TextLevel::kBytes ? 257 : 3 + static_cast<int64_t>(chars_.size()); }
  const std::vector<std::string>& chars() const { return chars_; }
  RaggedBuilder builder() const {
    return o_.level == TextLevel::kBytes ? RaggedBuilder(1, 256) : RaggedBuilder(0, vocab_size() - 1);
  }
  // Returns the document's length in tokens.
  int64_t encode(const std::string& doc, RaggedBuilder& b) const {
    if (o_.level == TextLevel::kBytes) {
      const int64_t n = std::min<int64_t>(static_cast<int64_t>(doc.size()), o_.max_length);
      b.add_bytes(reinterpret_cast<const uint8_t*>(doc.data()), n);
      return n;
    }
    const auto cps = utf8_code_points(doc);
    const size_t n = std::min<size_t>(cps.size(), o_.max_length - 1);
    ids_.resize(n + 1);
    for (size_t i = 0; i < n; ++i) {
      const auto it = id_.find(cps[i]);
      ids_[i] = it == id_.end() ? kUnk : it->second;
    }
    ids_[n] = kEos;
    b.add(ids_);
    return static_cast<int64_t>(n + 1);
  }

 private:
  TextOptions o_;
  std::unordered_map<int32_t, int64_t> freq_;
  std::unordered_map<int32_t, int32_t> id_;
  std::vector<std::string> chars_;
  mutable std::vector<int32_t> ids_;
};

at::Tensor labels_tensor(const std::vector<int64_t>& y) {
  at::Tensor t = at::empty({static_cast<int64_t>(y.size())}, at::kLong);
  std::copy(y.begin(), y.end(), t.data_ptr<int64_t>());
  return t;
}

}  // namespace

void put_text_split(Arrays& a, const std::string& prefix, const TextSplit& s) {
  a[prefix + ".x.values"] = s.x.values;
  a[prefix + ".x.offsets"] = s.x.offsets;
  if (s.x2.size() > 0 || s.x2.offsets.defined()) {
    a[prefix + ".x2.values"] = s.x2.values;
    a[prefix + ".x2.offsets"] = s.x2.offsets;
  }
  a[prefix + ".y"] = s.y;
}

TextSplit get_text_split(const Arrays& a, const std::string& prefix, int64_t shift) {
  auto at = [&](const std::string& k) {
    const auto it = a.find(prefix + k);
    if (it == a.end()) throw std::runtime_error("data cache: array " + prefix + k + " is missing");
    return it->second;
  };
  TextSplit s;
  s.x = {at(".x.values"), at(".x.offsets"), shift};
  if (a.count(prefix + ".x2.values")) s.x2 = {at(".x2.values"), at(".x2.offsets"), shift};
  s.y = at(".y");
  return s;
}

namespace {

std::string text_key(const TextOptions& t) {
  return std::string("level=") + (t.level == TextLevel::kBytes ? "bytes" : "chars") +
         " max_length=" + std::to_string(t.max_length) + " min_freq=" + std::to_string(t.min_freq);
}

void finish_vocab(TextData& d, const Encoder& e, Arrays& a) {
  d.vocab = e.chars();
  d.vocab_size = e.vocab_size();
  a["vocab"] = pack_strings(d.vocab);
}

// ---- IMDB ----------------------------------------------------------------------------------------------------

struct Review {
  std::string path;
  int64_t id = 0;
  int label = 0;
};

// The reviews of aclImdb/<split>/{neg,pos}: neg then pos, by id; names and ratings checked.
std::vector<Review> list_reviews(const std::string& root, const std::string& split) {
  std::vector<Review> out;
  for (int label : {0, 1}) {
    const std::string dir = root + "/" + split + "/" + (label ? "pos" : "neg");
    if (!fs::is_directory(dir))
      throw std::runtime_error(dir + ": no such folder (data.root must be the aclImdb folder of the IMDB release)");
    std::vector<Review> part;
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || e.path().extension() != ".txt") continue;
      const std::string stem = e.path().stem().string();
      const size_t us = stem.find('_');
      auto digits = [](const std::string& s) {
        return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
      };
      if (us == std::string::npos || !digits(stem.substr(0, us)) || !digits(stem.substr(us + 1)))
        throw std::runtime_error(e.path().string() + ": expected a review named <id>_<rating>.txt");
      const int rating = std::atoi(stem.substr(us + 1).c_str());
      if (label ? (rating < 7 || rating > 10) : (rating < 1 || rating > 4))
        throw std::runtime_error(e.path().string() + ": rating " + std::to_string(rating) + " does not belong in " +
                                 (label ? "pos (7-10)" : "neg (1-4)"));
      part.push_back({e.path().string(), std::atoll(stem.substr(0, us).c_str()), label});
    }
    std::sort(part.begin(), part.end(), [](const Review& a, const Review& b) { return a.id < b.id; });
    out.insert(out.end(), part.begin(), part.end());
  }
  if (out.empty()) throw std::runtime_error(root + "/" + split + ": no reviews in neg/ or pos/");
  return out;
}

std::string read_review(const Review& r) {
  std::string s = read_bounded(r.path, size_t(16) << 20);
  if (s.empty()) throw std::runtime_error(r.path + ": empty review");
  return s;
}

}  // namespace

TextData load_imdb(const ImdbOptions& o) {
  if (!(o.val_fraction >= 0 && o.val_fraction < 1)) throw std::invalid_argument("imdb: val_fraction must be in [0, 1)");
  Encoder enc(o.text);  // checks the options
  std::vector<Review> train = list_reviews(o.root, "train"), test = list_reviews(o.root, "test");
  // The held-out share and limit_train act on a seeded shuffle of the training reviews.
  std::vector<Review> val;
  if (o.val_fraction > 0 || o.limit_train > 0) {
    std::mt19937_64 rng(o.split_seed);
    std::shuffle(train.begin(), train.end(), rng);
  }
  if (o.val_fraction > 0) {
    const size_t nv = static_cast<size_t>(std::llround(o.val_fraction * train.size()));
    val.assign(train.end() - nv, train.end());
    train.resize(train.size() - nv);
  }
  if (o.limit_train > 0 && static_cast<size_t>(o.limit_train) < train.size()) train.resize(o.limit_train);

  std::vector<std::string> files;
  for (const auto* v : {&train, &val, &test})
    for (const auto& r : *v) files.push_back(r.path);
  std::ostringstream key;
  key << "imdb v1 " << text_key(o.text) << " val_fraction=" << o.val_fraction << " split_seed=" << o.split_seed
      << " limit_train=" << o.limit_train << " root=" << canonical_path(o.root);
  TextData d;
  d.name = "imdb";
  d.val_is_test = val.empty();
  const int64_t shift = o.text.level == TextLevel::kBytes ? 1 : 0;
  const Arrays a = cached(o.cache_dir, "imdb", key.str(), fingerprint_files(files), [&] {
    Arrays a;
    std::vector<std::string> train_text;
    train_text.reserve(train.size());
    for (const auto& r : train) {
      train_text.push_back(read_review(r));
      enc.count(train_text.back());
    }
    enc.build();
    auto encode = [&](const std::vector<Review>& rs, const std::vector<std::string>* text) {
      TextSplit s;
      RaggedBuilder b = enc.builder();
      std::vector<int64_t> y;
      for (size_t i = 0; i < rs.size(); ++i) {
        enc.encode(text ? (*text)[i] : read_review(rs[i]), b);
        y.push_back(rs[i].label);
      }
      s.x = b.finish();
      s.y = labels_tensor(y);
      return s;
    };
    put_text_split(a, "train", encode(train, &train_text));
    train_text.clear();
    if (!val.empty()) put_text_split(a, "val", encode(val, nullptr));
    put_text_split(a, "test", encode(test, nullptr));
    finish_vocab(d, enc, a);
    return a;
  }, &d.from_cache);
  d.train = get_text_split(a, "train", shift);
  d.test = get_text_split(a, "test", shift);
  d.val = d.val_is_test ? d.test : get_text_split(a, "val", shift);
  d.vocab = unpack_strings(a.at("vocab"));
  d.vocab_size = o.text.level == TextLevel::kBytes ? 257 : 3 + static_cast<int64_t>(d.vocab.size());
  return d;
}

// ---- AAN -------------------------------------------------------------------------------------------------------

void read_aan_tsv(const std::string& path, const std::function<void(AanRow&&)>& row, int64_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::string line;
  int64_t no = 0, rows = 0;
  while ((limit <= 0 || rows < limit) && read_line(f, line, no, path)) {
    if (line.empty()) continue;
    const auto cols = split(line, '\t');
    if (cols.size() != 5)
      throw std::runtime_error(path + ":" + std::to_string(no) + ": expected 5 tab-separated columns (label, id1, id2, "
                               "text1, text2), got " + std::to_string(cols.size()));
    const std::string& lab = cols[0];
    char* end = nullptr;
    const double v = std::strtod(lab.c_str(), &end);
    if (lab.empty() || end != lab.c_str() + lab.size() || !std::isfinite(v))
      throw std::runtime_error(path + ":" + std::to_string(no) + ": label '" + printable(lab) + "' is not a number");
    const double t = std::trunc(v);
    if (t != 0 && t != 1)
      throw std::runtime_error(path + ":" + std::to_string(no) + ": label " + printable(lab) + " is not 0 or 1");
    row({static_cast<int>(t), cols[3], cols[4]});
    ++rows;
  }
}

TextData load_aan(const AanOptions& o) {
  Encoder enc(o.text);
  const std::string train = o.root + "/new_aan_pairs.train.tsv", val = o.root + "/new_aan_pairs.eval.tsv",
                    test = o.root + "/new_aan_pairs.test.tsv";
  for (const auto& p : {train, val, test})
    if (!fs::is_regular_file(p))
      throw std::runtime_error(p + ": no such file (data.root must be the release's tsv_data folder)");
  std::ostringstream key;
  key << "aan v1 " << text_key(o.text) << " limit_train=" << o.limit_train << " root=" << canonical_path(o.root);
  TextData d;
  d.name = "aan";
  const int64_t shift = o.text.level == TextLevel::kBytes ? 1 : 0;
  const Arrays a = cached(o.cache_dir, "aan", key.str(), fingerprint_files({train, val, test}), [&] {
    Arrays a;
    // Characters: a first pass counts them (the training file read twice rather than held: 147k pairs are GBs).
    if (o.text.level == TextLevel::kChars) {
      read_aan_tsv(train, [&](AanRow&& r) { enc.count(r.text1); enc.count(r.text2); }, o.limit_train);
      enc.build();
    }
    auto encode = [&](const std::string& path, int64_t limit) {
      TextSplit s;
      RaggedBuilder b1 = enc.builder(), b2 = enc.builder();
      std::vector<int64_t> y;
      read_aan_tsv(path, [&](AanRow&& r) {
        enc.encode(r.text1, b1);
        enc.encode(r.text2, b2);
        y.push_back(r.label);
      }, limit);
      if (y.empty()) throw std::runtime_error(path + ": no rows");
      s.x = b1.finish();
      s.x2 = b2.finish();
      s.y = labels_tensor(y);
      return s;
    };
    put_text_split(a, "train", encode(train, o.limit_train));
    put_text_split(a, "val", encode(val, 0));
    put_text_split(a, "test", encode(test, 0));
    finish_vocab(d, enc, a);
    return a;
  }, &d.from_cache);
  d.train = get_text_split(a, "train", shift);
  d.val = get_text_split(a, "val", shift);
  d.test = get_text_split(a, "test", shift);
  d.vocab = unpack_strings(a.at("vocab"));
  d.vocab_size = o.text.level == TextLevel::kBytes ? 257 : 3 + static_cast<int64_t>(d.vocab.size());
  return d;
}

}  // namespace ssm::data
