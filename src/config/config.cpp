#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

namespace ssm::config {
namespace {

namespace fs = std::filesystem;

struct Leaf {
  std::string text;
  Origin origin;
};

[[noreturn]] void fail_at(const Origin& o, const std::string& key, const std::string& msg) {
  std::ostringstream s;
  if (o.file == "--set")
    s << "--set " << key << ": " << msg;
  else if (o.line > 0)
    s << o.file << ":" << o.line << ": " << key << ": " << msg;
  else
    s << o.file << ": " << key << ": " << msg;
  throw ConfigError(s.str());
}

const KeySpec* spec_of(const Schema& schema, const std::string& key) {
  for (const auto& k : schema)
    if (k.path == key) return &k;
  return nullptr;
}

bool is_section(const Schema& schema, const std::string& prefix) {
  for (const auto& k : schema)
    if (k.path.size() > prefix.size() && k.path.compare(0, prefix.size(), prefix) == 0 && k.path[prefix.size()] == '.')
      return true;
  return false;
}

std::string near_keys(const Schema& schema, const std::string& key) {
  // The names one level below the key's section (keys and sections, each once), to help with a typo.
  const auto dot = key.rfind('.');
  const std::string section = dot == std::string::npos ? "" : key.substr(0, dot + 1);
  std::vector<std::string> heads;
  for (const auto& k : schema)
    if (k.path.compare(0, section.size(), section) == 0) {
      const std::string rest = k.path.substr(section.size());
      const std::string head = rest.substr(0, rest.find('.'));
      if (std::find(heads.begin(), heads.end(), head) == heads.end()) heads.push_back(head);
    }
  std::string out;
  for (const auto& h : heads) out += (out.empty() ? " (known here: " : ", ") + h;
  return out.empty() ? "" : out + ")";
}

// Whether the quoted scalar starting at (line, column) of `lines` (0-based) closes on that line. YAML lets a quoted
// scalar run over several lines, so an unclosed quote silently swallows the lines after it; no value of a config
// spans lines, so that is an error here.
bool quote_closes_on_its_line(const std::vector<std::string>& lines, int line, int column) {
  if (line < 0 || line >= static_cast<int>(lines.size())) return true;
  const std::string& l = lines[static_cast<size_t>(line)];
  if (column < 0 || column >= static_cast<int>(l.size())) return true;
  const char q = l[static_cast<size_t>(column)];
  if (q != '"' && q != '\'') return true;
  for (size_t i = static_cast<size_t>(column) + 1; i < l.size(); ++i) {
    if (q == '"' && l[i] == '\\') {
      ++i;
    } else if (l[i] == q) {
      if (q == '\'' && i + 1 < l.size() && l[i + 1] == '\'') {
        ++i;  // '' inside single quotes
        continue;
      }
      return true;
    }
  }
  return false;
}

std::string hex_byte(char c) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%02X", static_cast<unsigned char>(c));
  return b;
}

// The UTF-8 sequence of `s` at byte `i`: its length, with its code point in `cp`, or 0 when it is not UTF-8
// (overlong forms and surrogates included). A YAML reader replaces such bytes with U+FFFD, so that a value would not
// read back as it was written.
size_t utf8_char(const std::string& s, size_t i, uint32_t& cp) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  cp = c;
  if (c < 0x80) return 1;
  size_t len;
  if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F;
  else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F;
  else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07;
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

// The byte offset of the first sequence of `s` that is not UTF-8, or npos.
size_t invalid_utf8(const std::string& s) {
  uint32_t cp;
  for (size_t i = 0, len; i < s.size(); i += len)
    if ((len = utf8_char(s, i, cp)) == 0) return i;
  return std::string::npos;
}

// What is wrong with a value's text, or "": it must be UTF-8 on one line without control characters (a NUL would cut
// a path short, a newline cannot be written back on the key's line) and without the characters YAML cannot hold in a
// scalar, which a YAML reader replaces with U+FFFD (found by tests/fuzz/fuzz_config): the C1 controls U+0080-U+009F
// (U+0085 is a YAML line break) and the noncharacters U+FFFE and U+FFFF.
std::string bad_value_text(const std::string& v) {
  uint32_t cp;
  for (size_t i = 0, len; i < v.size(); i += len) {
    if ((len = utf8_char(v, i, cp)) == 0)
      return "is not UTF-8 text (byte " + hex_byte(v[i]) + " at offset " + std::to_string(i) + ")";
    if ((cp < 0x20 && cp != '\t') || cp == 0x7F)
      return "contains a control character (" + hex_byte(v[i]) + (cp == '\n' ? ", a line break" : "") +
             "): a value is one line of text";
    const bool c1 = cp >= 0x80 && cp <= 0x9F;
    if (c1 || cp == 0xFFFE || cp == 0xFFFF) {
      char code[16];
      std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(cp));
      return std::string("contains ") + code + " at offset " + std::to_string(i) +
             (c1 ? " (a control character)" : " (a noncharacter)") + ", which YAML cannot hold in a value";
    }
  }
  return "";
}

Origin origin_of(const std::string& file, const YAML::Node& n) { return {file, n.Mark().line + 1}; }

void walk(const Schema& schema, const std::string& file, const std::vector<std::string>& lines, const YAML::Node& map,
          const std::string& prefix, std::map<std::string, Leaf>& leaves) {
  std::map<std::string, int> seen;  // names of this mapping -> their line
  for (const auto& kv : map) {
    if (!kv.first.IsScalar())
      fail_at(origin_of(file, kv.first), prefix.empty() ? "(top level)" : prefix,
              "expected a key name, got " + std::string(kv.first.IsMap()        ? "a mapping"
                                                         : kv.first.IsSequence() ? "a list"
                                                                                 : "no name"));
    const std::string name = kv.first.as<std::string>();
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    const YAML::Node& value = kv.second;
    const Origin o = origin_of(file, kv.first);
    const auto [first, fresh] = seen.emplace(name, o.line);
    if (!fresh) fail_at(o, key, "appears twice (also at line " + std::to_string(first->second) + ")");
    if (prefix.empty() && name == "base") continue;  // handled by collect()
    const KeySpec* spec = spec_of(schema, key);
    const bool section = is_section(schema, key);
    if (!spec && !section) fail_at(o, key, "unknown key" + near_keys(schema, key));
    if (value.IsMap()) {
      if (!section) fail_at(o, key, "expected a single value, got a mapping");
      walk(schema, file, lines, value, key, leaves);
    } else if (value.IsSequence()) {
      fail_at(o, key, "expected a single value, got a list");
    } else if (section) {
      fail_at(o, key, "is a section: expected a mapping of its keys" + near_keys(schema, key + ".x"));
    } else if (value.IsNull()) {
      fail_at(o, key, "has no value");
    } else {
      if (!quote_closes_on_its_line(lines, value.Mark().line, value.Mark().column))
        fail_at(origin_of(file, value), key, "the quote that opens this value is not closed on its line");
      if (const std::string bad = bad_value_text(value.Scalar()); !bad.empty()) fail_at(origin_of(file, value), key, bad);
      leaves[key] = {value.Scalar(), o};
    }
  }
}

// The largest config file read: configs are a few hundred bytes; a bound keeps a wrong base (a device, a huge file)
// from being read without end.
constexpr std::streamsize kMaxConfigBytes = 1 << 20;

void collect(const Schema& schema, const fs::path& file, std::vector<fs::path>& stack,
             std::map<std::string, Leaf>& leaves, bool allow_empty) {
  // "<file>: <problem>" for the config given, "<including file>: base file '<file>' <problem>" for a base.
  const auto file_error = [&](const std::string& problem) {
    return ConfigError(stack.empty() ? file.string() + ": " + problem
                                     : stack.back().string() + ": base file '" + file.string() + "' " + problem);
  };
  fs::path canon;
  try {
    canon = fs::weakly_canonical(file);
    if (std::find(stack.begin(), stack.end(), canon) != stack.end())
      throw ConfigError(file.string() + ": base files include each other in a cycle");
    const fs::file_status st = fs::status(file);
    if (!fs::exists(st)) throw file_error(stack.empty() ? "no such config file" : "does not exist");
    if (fs::is_directory(st)) throw file_error("is a folder, not a config file");
    if (!fs::is_regular_file(st)) throw file_error("is not a regular file (a device or a pipe?)");
  } catch (const fs::filesystem_error& e) {
    throw file_error("cannot be read: " + e.code().message());
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(file.string() + ": cannot read: " + std::strerror(errno));
  std::string text(static_cast<size_t>(kMaxConfigBytes) + 1, '\0');
  in.read(text.data(), kMaxConfigBytes + 1);
  text.resize(static_cast<size_t>(in.gcount()));
  if (static_cast<std::streamsize>(text.size()) > kMaxConfigBytes)
    throw ConfigError(file.string() + ": larger than 1 MiB: not a config file?");
  if (const size_t at = invalid_utf8(text); at != std::string::npos) {
    const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
    const size_t bol = text.rfind('\n', at);  // text[at] is not a line break
    const size_t column = at - (bol == std::string::npos ? 0 : bol + 1) + 1;
    throw ConfigError(file.string() + ":" + std::to_string(line) + ": not UTF-8 text (byte " + hex_byte(text[at]) +
                      " at column " + std::to_string(column) + "): config files are UTF-8");
  }
  std::vector<std::string> lines;
  {
    std::istringstream ls(text);
    for (std::string l; std::getline(ls, l);) lines.push_back(l);
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(file.string() + ":" + std::to_string(e.mark.line + 1) + ": YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    throw ConfigError(file.string() + ": cannot read: " + e.msg);
  }
  // An empty file with nothing set on the command line would silently train with every default: most likely the
  // wrong file. (An empty file plus --set is a way to give everything on the command line.)
  if (root.IsNull()) {
    if (stack.empty() && !allow_empty)
      throw ConfigError(file.string() + ": the config is empty (no keys, only comments or blanks; --set keys to use it)");
    return;
  }
  if (!root.IsMap()) throw ConfigError(file.string() + ":1: the top level must be a mapping of sections");
  stack.push_back(canon);
  if (const YAML::Node base = root["base"]) {
    std::vector<std::string> names;
    if (base.IsScalar()) {
      names.push_back(base.Scalar());
    } else if (base.IsSequence()) {
      for (const auto& b : base) {
        if (!b.IsScalar()) fail_at(origin_of(file.string(), b), "base", "expected file names");
        names.push_back(b.Scalar());
      }
    } else {
      fail_at(origin_of(file.string(), base), "base", "expected a file name or a list of file names");
    }
    for (const auto& n : names) collect(schema, file.parent_path() / n, stack, leaves, true);
  }
  walk(schema, file.string(), lines, root, "", leaves);
  stack.pop_back();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string fmt_double(double v) {
  std::ostringstream s;
  s.precision(12);
  s << v;
  return s.str();
}

}  // namespace

Config Config::load(const Schema& schema, const std::string& path, const std::vector<std::string>& overrides) {
  std::map<std::string, Leaf> leaves;
  std::vector<fs::path> stack;
  if (!path.empty()) collect(schema, path, stack, leaves, !overrides.empty());
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError("--set " + o + ": expected key.path=value");
    const std::string key = o.substr(0, eq);
    if (!spec_of(schema, key) && is_section(schema, key))
      fail_at({"--set", 0}, key, "is a section: --set one of its keys" + near_keys(schema, key + ".x"));
    if (!spec_of(schema, key)) fail_at({"--set", 0}, key, "unknown key" + near_keys(schema, key));
    if (const std::string bad = bad_value_text(o.substr(eq + 1)); !bad.empty()) fail_at({"--set", 0}, key, bad);
    leaves[key] = {o.substr(eq + 1), {"--set", 0}};
  }
  Config c;
  c.schema_ = schema;
  c.source_ = path;
  for (const auto& spec : schema) {
    auto it = leaves.find(spec.path);
    const Leaf leaf = it != leaves.end() ? it->second : Leaf{spec.fallback, {"default", 0}};
    const std::string& t = leaf.text;
    std::string canonical = t;
    switch (spec.type) {
      case Type::kInt: {
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(t.c_str(), &end, 10);
        if (t.empty() || end != t.c_str() + t.size() || errno != 0) fail_at(leaf.origin, spec.path, "expected an integer, got '" + t + "'");
        if (v < spec.min || v > spec.max || (spec.min_exclusive && v <= spec.min)) {
          std::ostringstream s;
          s << "must be in " << (spec.min_exclusive ? "(" : "[") << fmt_double(spec.min) << ", " << fmt_double(spec.max)
            << "], got " << v;
          fail_at(leaf.origin, spec.path, s.str());
        }
        c.ints_[spec.path] = v;
        canonical = std::to_string(v);
        break;
      }
      case Type::kFloat: {
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(t.c_str(), &end);
        if (t.empty() || end != t.c_str() + t.size() || errno != 0 || !std::isfinite(v))
          fail_at(leaf.origin, spec.path, "expected a finite number, got '" + t + "'");
        if (v < spec.min || v > spec.max || (spec.min_exclusive && v <= spec.min)) {
          std::ostringstream s;
          s << "must be in " << (spec.min_exclusive ? "(" : "[") << fmt_double(spec.min) << ", " << fmt_double(spec.max)
            << "], got " << fmt_double(v);
          fail_at(leaf.origin, spec.path, s.str());
        }
        c.floats_[spec.path] = v;
        canonical = fmt_double(v);
        break;
      }
      case Type::kBool: {
        const std::string l = lower(t);
        if (l == "true" || l == "yes" || l == "on") canonical = "true";
        else if (l == "false" || l == "no" || l == "off") canonical = "false";
        else fail_at(leaf.origin, spec.path, "expected true or false, got '" + t + "'");
        break;
      }
      case Type::kEnum: {
        if (std::find(spec.choices.begin(), spec.choices.end(), t) == spec.choices.end()) {
          std::string list;
          for (const auto& ch : spec.choices) list += (list.empty() ? "" : ", ") + ch;
          fail_at(leaf.origin, spec.path, "expected one of " + list + ", got '" + t + "'");
        }
        break;
      }
      case Type::kString: break;
    }
    c.values_[spec.path] = {canonical, leaf.origin};
  }
  return c;
}

Config Config::from_overrides(const Schema& schema, const std::vector<std::string>& overrides) {
  return load(schema, "", overrides);
}

const Config::Value& Config::find(const std::string& key, Type expect) const {
  const KeySpec* spec = spec_of(schema_, key);
  if (!spec) throw std::logic_error("config key '" + key + "' is not in the schema");
  const bool ok = spec->type == expect || (expect == Type::kString && spec->type == Type::kEnum);
  if (!ok) throw std::logic_error("config key '" + key + "' read with the wrong type");
  return values_.at(key);
}

int64_t Config::get_int(const std::string& key) const {
  find(key, Type::kInt);
  return ints_.at(key);
}
double Config::get_float(const std::string& key) const {
  find(key, Type::kFloat);
  return floats_.at(key);
}
bool Config::get_bool(const std::string& key) const { return find(key, Type::kBool).text == "true"; }
const std::string& Config::get_string(const std::string& key) const { return find(key, Type::kString).text; }
const Origin& Config::origin(const std::string& key) const { return values_.at(key).origin; }
bool Config::is_set(const std::string& key) const { return origin(key).file != "default"; }
std::vector<std::string> Config::keys() const {
  std::vector<std::string> out;
  for (const auto& k : schema_) out.push_back(k.path);
  return out;
}
const std::string& Config::text(const std::string& key) const {
  const auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("config key '" + key + "' is not in the schema");
  return it->second.text;
}
void Config::fail(const std::string& key, const std::string& msg) const {
  const Origin& o = origin(key);
  if (o.file == "default") throw ConfigError(key + ": " + msg);
  ssm::config::fail_at(o, key, msg);
}

std::string Config::to_yaml(const std::function<bool(const std::string&)>& keep) const {
  // Sections as a tree in the order of their first key, so that each section is written once (a section whose keys
  // are not adjacent in the schema would otherwise appear twice, which YAML readers merge or reject).
  struct Node {
    std::vector<std::string> order;
    std::map<std::string, Node> children;
    const KeySpec* leaf = nullptr;
  };
  Node root;
  for (const auto& spec : schema_) {
    if (keep && !keep(spec.path)) continue;
    Node* n = &root;
    std::stringstream ss(spec.path);
    for (std::string p; std::getline(ss, p, '.');) {
      if (!n->children.count(p)) n->order.push_back(p);
      n = &n->children[p];
    }
    n->leaf = &spec;
  }
  std::ostringstream s;
  std::function<void(const Node&, int)> emit = [&](const Node& n, int depth) {
    for (const auto& name : n.order) {
      const Node& c = n.children.at(name);
      if (!c.leaf) {
        s << std::string(2 * depth, ' ') << name << ":\n";
        emit(c, depth + 1);
        continue;
      }
      const Value& v = values_.at(c.leaf->path);
      std::string text = v.text;
      if (c.leaf->type == Type::kString) text = YAML::Dump(YAML::Node(text));
      s << std::string(2 * depth, ' ') << name << ": " << text;
      if (v.origin.file != "default")
        s << "  # " << v.origin.file << (v.origin.line ? ":" + std::to_string(v.origin.line) : "");
      s << "\n";
    }
  };
  emit(root, 0);
  return s.str();
}

std::string describe(const Schema& schema) {
  std::ostringstream s;
  for (const auto& k : schema) {
    s << "  " << k.path << " (";
    switch (k.type) {
      case Type::kInt: s << "integer"; break;
      case Type::kFloat: s << "number"; break;
      case Type::kBool: s << "true/false"; break;
      case Type::kString: s << "text"; break;
      case Type::kEnum: {
        std::string list;
        for (const auto& c : k.choices) list += (list.empty() ? "" : "|") + c;
        s << list;
        break;
      }
    }
    s << ", default " << (k.fallback.empty() ? "\"\"" : k.fallback);
    if ((k.type == Type::kInt || k.type == Type::kFloat) && (k.min > -1e299 || k.max < 1e299)) {
      s << ", " << (k.min_exclusive ? "(" : "[") << (k.min > -1e299 ? fmt_double(k.min) : "-inf") << ", "
        << (k.max < 1e299 ? fmt_double(k.max) : "inf") << "]";
    }
    s << ")\n      " << k.doc << "\n";
  }
  return s.str();
}

}  // namespace ssm::config
