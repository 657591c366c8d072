// Strict YAML configuration: every key is declared in a schema (type, default, range, documentation); loading
// checks each key of the file against it and reports errors with the file, line and key path.
//
// A config file may name base files to start from:  base: [../tasks/sfmnist.yaml, ../models/s4d.yaml]
// (paths relative to the file; later files and the file itself override earlier ones, key by key).
// Command-line overrides (--set model.d_model=256) are applied last and checked the same way.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssm::config {

// A configuration error. what() reads "<file>:<line>: <key path>: <problem>".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Type { kInt, kFloat, kBool, kString, kEnum };

struct KeySpec {
  std::string path;     // e.g. "model.d_model"
  Type type;
  std::string fallback;  // default value, as YAML text
  std::string doc;
  double min = -1e300, max = 1e300;  // inclusive bounds (kInt, kFloat)
  bool min_exclusive = false;
  std::vector<std::string> choices;  // kEnum
};

using Schema = std::vector<KeySpec>;

// Where a value came from.
struct Origin {
  std::string file;  // a config file, "--set", or "default"
  int line = 0;      // 1-based; 0 when not from a file
};

class Config {
 public:
  // Loads `path` (with its bases), applies `overrides` ("key.path=value"), checks everything against `schema`.
  static Config load(const Schema& schema, const std::string& path, const std::vector<std::string>& overrides = {});
  // Only defaults and overrides, for programs and tests that build a config without a file.
  static Config from_overrides(const Schema& schema, const std::vector<std::string>& overrides);

  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;  // kString and kEnum

  const Origin& origin(const std::string& key) const;
  // Every key of the schema, in schema order, and a key's value in its canonical text (as to_yaml writes it).
  std::vector<std::string> keys() const;
  const std::string& text(const std::string& key) const;
  // Whether the key was given (by a file or --set) rather than left at its default.
  bool is_set(const std::string& key) const;
  // A ConfigError about `key`, located where its value came from ("<file>:<line>: <key>: <msg>").
  [[noreturn]] void fail(const std::string& key, const std::string& msg) const;
  // The fully resolved configuration as YAML, every key of the schema in order, with a comment naming each value's
  // origin when it is not the default.
  // `keep` (optional) selects the keys to write.
  std::string to_yaml(const std::function<bool(const std::string&)>& keep = nullptr) const;
  const std::string& source() const { return source_; }

 private:
  struct Value {
    std::string text;  // canonical text
    Origin origin;
  };
  const Value& find(const std::string& key, Type expect) const;
  Schema schema_;
  std::map<std::string, Value> values_;
  std::map<std::string, int64_t> ints_;
  std::map<std::string, double> floats_;
  std::string source_;
};

// Text describing every key (type, default, range, documentation): for --help and the README.
std::string describe(const Schema& schema);

}  // namespace ssm::config
