#include "data/listops.h"
#include "data/text.h"
#include "io/atomic_write.h"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

namespace ssm::data {
namespace {

const char* const kOps[] = {"[MIN", "[MAX", "[MED", "[SM"};

// A tree rendered directly to text: ( ( ( op v1 ) v2 ) ... ] ) as the official generator's to_string does.
struct Gen {
  const ListOpsGenOptions& o;
  std::mt19937_64& rng;
  int64_t length = 0;

  std::string tree(int depth) {
    std::uniform_real_distribution<double> u(0, 1);
    const double r = depth < o.max_depth ? u(rng) : 1.0;
    if (r > 0.25) {  // a leaf with probability 0.75
      ++length;
      return std::to_string(std::uniform_int_distribution<int>(0, 9)(rng));
    }
    length += 2;
    const int n = std::uniform_int_distribution<int>(2, o.max_args)(rng);
    std::vector<std::string> children;
    for (int i = 0; i < n; ++i) children.push_back(tree(depth + 1));
    const char* op = kOps[std::uniform_int_distribution<int>(0, 3)(rng)];
    std::string t = "( " + std::string(op) + " " + children[0] + " )";
    for (int i = 1; i < n; ++i) t = "( " + t + " " + children[i] + " )";
    return "( " + t + " ] )";
  }
};

}  // namespace

std::vector<ListOpsExample> generate_listops(const ListOpsGenOptions& o, int64_t count, std::mt19937_64& rng) {
  if (o.min_length >= o.max_length - 1)
    throw std::invalid_argument("listops: need min_length < max_length - 1 (lengths are strictly between)");
  std::unordered_set<std::string> seen;
  std::vector<ListOpsExample> out;
  int64_t attempts = 0;
  while (static_cast<int64_t>(out.size()) < count) {
    if (++attempts > 1000 * (count + 1000))
      throw std::runtime_error("listops: could not draw enough distinct trees with " + std::to_string(o.min_length) +
                               " < length < " + std::to_string(o.max_length) + " (widen the bounds)");
    Gen g{o, rng};
    std::string t = g.tree(1);
    if (g.length <= o.min_length || g.length >= o.max_length) continue;
    if (!seen.insert(t).second) continue;
    const int label = evaluate_listops(t);
    out.push_back({std::move(t), label, g.length});
  }
  return out;
}

int evaluate_listops(const std::string& source) {
  std::vector<std::pair<std::string, std::vector<int>>> stack;  // open operators and their arguments
  int result = -1;
  std::istringstream in(source);
  for (std::string tok; in >> tok;) {
    if (tok == "(" || tok == ")") continue;
    if (tok[0] == '[') {
      stack.push_back({tok, {}});
    } else if (tok == "]") {
      if (stack.empty()) throw std::invalid_argument("listops: unbalanced ']'");
      auto [op, v] = stack.back();
      stack.pop_back();
      if (v.empty()) throw std::invalid_argument("listops: operator without arguments");
      int r;
      if (op == "[MIN") r = *std::min_element(v.begin(), v.end());
      else if (op == "[MAX") r = *std::max_element(v.begin(), v.end());
      else if (op == "[SM") { r = 0; for (int x : v) r += x; r %= 10; }
      else if (op == "[MED") {
        std::sort(v.begin(), v.end());
        const size_t n = v.size();
        r = n % 2 ? v[n / 2] : static_cast<int>((v[n / 2 - 1] + v[n / 2]) / 2.0);
      } else throw std::invalid_argument("listops: unknown operator " + op);
      if (stack.empty()) result = r; else stack.back().second.push_back(r);
    } else {
      if (tok.size() != 1 || !std::isdigit(static_cast<unsigned char>(tok[0])))
        throw std::invalid_argument("listops: bad token '" + tok + "'");
      if (stack.empty()) result = tok[0] - '0'; else stack.back().second.push_back(tok[0] - '0');
    }
  }
  if (!stack.empty() || result < 0) throw std::invalid_argument("listops: incomplete expression");
  return result;
}

void write_listops_tsv(const std::string& path, const std::vector<ListOpsExample>& examples) {
  std::string text = "Source\tTarget\n";
  for (const auto& e : examples) text += e.source + "\t" + std::to_string(e.label) + "\n";
  io::write_text_atomically(path, text);
}

void read_listops_tsv(const std::string& path, const std::function<void(std::string&&, int)>& row, int64_t limit) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  // 1 MiB a line: 100 times the longest line of the LRA release (2000 tokens), so that a wrong file cannot take
  // gigabytes of memory in tokens.
  constexpr size_t kMaxLine = size_t(1) << 20;
  std::string line;
  int64_t no = 0, rows = 0;
  if (!read_line(f, line, no, path, kMaxLine))
    throw std::runtime_error(path + ":1: empty file (expected the header Source<TAB>Target)");
  if (line != "Source\tTarget")
    throw std::runtime_error(path + ":1: expected the header 'Source<TAB>Target', got '" + printable(line) + "'");
  while ((limit <= 0 || rows < limit) && read_line(f, line, no, path, kMaxLine)) {
    if (line.empty()) continue;
    const auto cols = std::count(line.begin(), line.end(), '\t') + 1;
    if (cols != 2)
      throw std::runtime_error(path + ":" + std::to_string(no) + ": expected 2 tab-separated columns, got " +
                               std::to_string(cols));
    const auto tab = line.find('\t');
    const std::string label = line.substr(tab + 1);
    if (label.size() != 1 || !std::isdigit(static_cast<unsigned char>(label[0])))
      throw std::runtime_error(path + ":" + std::to_string(no) + ": label '" + printable(label) + "' is not an integer 0-9");
    line.resize(tab);
    row(std::move(line), label[0] - '0');
    ++rows;
  }
}

std::vector<std::pair<std::string, int>> read_listops_tsv(const std::string& path) {
  std::vector<std::pair<std::string, int>> out;
  read_listops_tsv(path, [&](std::string&& source, int label) { out.emplace_back(std::move(source), label); });
  return out;
}

std::vector<std::string> tokenize_listops(const std::string& source) {
  std::vector<std::string> out;
  std::istringstream in(source);
  for (std::string tok; in >> tok;) {
    std::string t;
    for (char c : tok)
      if (c != '(' && c != ')') t += c == ']' ? 'X' : c;
    if (!t.empty()) out.push_back(t);
  }
  return out;
}

TextData load_listops(const ListOpsOptions& o) {
  if (o.max_length < 2) throw std::invalid_argument("listops: max_length must be >= 2");
  const std::string train = o.root + "/basic_train.tsv", val = o.root + "/basic_val.tsv",
                    test = o.root + "/basic_test.tsv";
  std::ostringstream key;
  key << "listops v2 max_length=" << o.max_length << " limit_train=" << o.limit_train
      << " root=" << canonical_path(o.root);
  TextData d;
  d.name = "listops";
  d.n_classes = 10;
  const Arrays a = cached(o.cache_dir, "listops", key.str(), fingerprint_files({train, val, test}), [&] {
    // Pass 1: the vocabulary from the training split's token counts (the rows are not held).
    std::map<std::string, int64_t> freq;
    read_listops_tsv(train, [&](std::string&& src, int) {
      for (auto& tok : tokenize_listops(src)) ++freq[tok];
    }, o.limit_train);
    std::vector<std::pair<std::string, int64_t>> by_freq(freq.begin(), freq.end());
    std::stable_sort(by_freq.begin(), by_freq.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
    std::map<std::string, int32_t> vocab;
    std::vector<std::string> names;
    for (const auto& [tok, n] : by_freq) {
      vocab.emplace(tok, static_cast<int32_t>(3 + names.size()));
      names.push_back(tok);
    }
    if (3 + names.size() > 32768)
      throw std::runtime_error(train + ": " + std::to_string(names.size()) +
                               " distinct tokens (ListOps has 15; not a ListOps file?)");
    // Pass 2: each split encoded straight into its store.
    const int64_t max_id = 2 + static_cast<int64_t>(names.size());
    auto encode = [&](const std::string& path, int64_t limit) {
      TextSplit s;
      RaggedBuilder b(0, std::max<int64_t>(max_id, 2));
      std::vector<int64_t> y;
      std::vector<int32_t> ids;
      read_listops_tsv(path, [&](std::string&& src, int label) {
        const auto toks = tokenize_listops(src);
        const size_t len = std::min<size_t>(toks.size(), static_cast<size_t>(o.max_length - 1));
        ids.resize(len + 1);
        for (size_t j = 0; j < len; ++j) {
          const auto it = vocab.find(toks[j]);
          ids[j] = it == vocab.end() ? 1 : it->second;
        }
        ids[len] = 2;
        b.add(ids);
        y.push_back(label);
      }, limit);
      s.x = b.finish();
      s.y = at::empty({static_cast<int64_t>(y.size())}, at::kLong);
      std::copy(y.begin(), y.end(), s.y.data_ptr<int64_t>());
      return s;
    };
    Arrays a;
    put_text_split(a, "train", encode(train, o.limit_train));
    put_text_split(a, "val", encode(val, 0));
    put_text_split(a, "test", encode(test, 0));
    a["vocab"] = pack_strings(names);
    return a;
  }, &d.from_cache);
  d.train = get_text_split(a, "train", 0);
  d.val = get_text_split(a, "val", 0);
  d.test = get_text_split(a, "test", 0);
  d.vocab = unpack_strings(a.at("vocab"));
  d.vocab_size = 3 + static_cast<int64_t>(d.vocab.size());
  return d;
}

}  // namespace ssm::data
