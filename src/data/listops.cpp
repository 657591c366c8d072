#include "data/listops.h"
#include "data/text.h"
#include "io/atomic_write.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

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

std::vector<std::pair<std::string, int>> read_listops_tsv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error(path + ": cannot open");
  // 1 MiB a line: 100 times the longest line of the LRA release (2000 tokens), so that a wrong file cannot take
  // gigabytes of memory in tokens.
  constexpr size_t kMaxLine = size_t(1) << 20;
  std::string line;
  int64_t no = 0;
  if (!read_line(f, line, no, path, kMaxLine))
    throw std::runtime_error(path + ":1: empty file (expected the header Source<TAB>Target)");
  if (line != "Source\tTarget")
    throw std::runtime_error(path + ":1: expected the header 'Source<TAB>Target', got '" + printable(line) + "'");
  std::vector<std::pair<std::string, int>> out;
  while (read_line(f, line, no, path, kMaxLine)) {
    if (line.empty()) continue;
    const auto cols = std::count(line.begin(), line.end(), '\t') + 1;
    if (cols != 2)
      throw std::runtime_error(path + ":" + std::to_string(no) + ": expected 2 tab-separated columns, got " +
                               std::to_string(cols));
    const auto tab = line.find('\t');
    const std::string label = line.substr(tab + 1);
    if (label.size() != 1 || !std::isdigit(static_cast<unsigned char>(label[0])))
      throw std::runtime_error(path + ":" + std::to_string(no) + ": label '" + printable(label) + "' is not an integer 0-9");
    out.emplace_back(line.substr(0, tab), label[0] - '0');
  }
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

TaskData load_listops(const ListOpsOptions& o) {
  if (o.max_length < 2) throw std::invalid_argument("listops: max_length must be >= 2");
  auto read = [&](const std::string& name) {
    std::vector<std::vector<std::string>> toks;
    std::vector<int> labels;
    for (auto& [src, label] : read_listops_tsv(o.root + "/" + name)) {
      toks.push_back(tokenize_listops(src));
      labels.push_back(label);
    }
    return std::make_pair(toks, labels);
  };
  auto train = read("basic_train.tsv");
  if (o.limit_train > 0 && static_cast<int64_t>(train.first.size()) > o.limit_train) {
    train.first.resize(o.limit_train);
    train.second.resize(o.limit_train);
  }
  const auto val = read("basic_val.tsv"), test = read("basic_test.tsv");
  std::map<std::string, int64_t> freq;
  for (const auto& t : train.first)
    for (const auto& tok : t) ++freq[tok];
  std::vector<std::pair<std::string, int64_t>> by_freq(freq.begin(), freq.end());
  std::stable_sort(by_freq.begin(), by_freq.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::map<std::string, int64_t> vocab = {{"<pad>", 0}, {"<unk>", 1}, {"<eos>", 2}};
  for (const auto& [tok, n] : by_freq) vocab.emplace(tok, static_cast<int64_t>(vocab.size()));
  auto encode = [&](const std::pair<std::vector<std::vector<std::string>>, std::vector<int>>& d) {
    const int64_t n = d.first.size();
    int64_t L = 1;
    for (const auto& t : d.first) L = std::max<int64_t>(L, std::min<int64_t>(t.size() + 1, o.max_length));
    Split s{at::zeros({n, L}, at::kLong), at::empty({n}, at::kLong), at::empty({n}, at::kLong)};
    auto x = s.x.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t len = std::min<int64_t>(d.first[i].size(), o.max_length - 1);
      for (int64_t j = 0; j < len; ++j) {
        auto it = vocab.find(d.first[i][j]);
        x[i][j] = it == vocab.end() ? 1 : it->second;
      }
      x[i][len] = 2;
      s.lengths[i] = len + 1;
      s.y[i] = d.second[i];
    }
    return s;
  };
  TaskData t;
  t.name = "listops";
  t.train = encode(train);
  t.val = encode(val);
  t.test = encode(test);
  t.vocab_size = static_cast<int64_t>(vocab.size());
  t.n_classes = 10;
  return t;
}

}  // namespace ssm::data
