// Fuzz target: the YAML config reader (src/config), with base files and --set overrides.
// Input: the text of a config file; lines after a line "#--set" are --set overrides, one a line. The file may name
// the base files base.yaml and sub/nested.yaml (which names ../base.yaml), or itself (a cycle).
// Every failure must be a ConfigError (anything else escaping is a finding); a config that loads must round-trip:
// its resolved YAML (to_yaml, what ssm writes as config.yaml) loads again to the same value of every key.
#include "config/config.h"
#include "fuzz_support.h"

#include <string>
#include <vector>

namespace {

using ssm::config::Config;
using ssm::config::ConfigError;
using ssm::config::Schema;
using ssm::config::Type;

// Every kind of key the trainer's schema has: enums, bounded integers and numbers (one bound exclusive), booleans,
// free text, nested sections, and a section (model) whose keys are not adjacent.
const Schema& schema() {
  static const Schema s = {
      {"model.layer", Type::kEnum, "s4d", "the layer", -1e300, 1e300, false, {"s4d", "s5", "mamba"}},
      {"model.d_model", Type::kInt, "16", "width", 1, 65536},
      {"model.dropout", Type::kFloat, "0.1", "dropout", 0, 1},
      {"model.bidirectional", Type::kBool, "false", "both directions"},
      {"model.s5.blocks", Type::kInt, "1", "blocks", 1, 64},
      {"model.s5.dt_min", Type::kFloat, "0.001", "smallest step", 0, 1, true},
      {"data.root", Type::kString, "", "data folder"},
      {"data.batch_size", Type::kInt, "8", "batch", 1, 1 << 20},
      {"trainer.lr", Type::kFloat, "0.001", "learning rate", 0, 10, true},
      {"trainer.out_dir", Type::kString, "runs/x", "run folder"},
      {"trainer.max_steps", Type::kInt, "0", "steps", 0, 9e18},
      {"model.s4d.init", Type::kEnum, "inv", "initialization", -1e300, 1e300, false, {"inv", "lin"}},
  };
  return s;
}

void setup_bases() {
  static const bool done = [] {
    ssm::fuzz::write_file("base.yaml", "model:\n  d_model: 32\ntrainer:\n  lr: 0.01\n");
    ssm::fuzz::write_file("sub/nested.yaml", "base: ../base.yaml\nmodel:\n  s5:\n    blocks: 2\n");
    return true;
  }();
  (void)done;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  setup_bases();
  std::string text = ssm::fuzz::as_string(data, size);
  std::vector<std::string> overrides;
  const auto sep = text.find("\n#--set\n");
  if (sep != std::string::npos) {
    const std::string rest = text.substr(sep + 8);
    size_t start = 0;
    while (start <= rest.size()) {
      const auto nl = rest.find('\n', start);
      const std::string line = rest.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
      if (!line.empty()) overrides.push_back(line);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
    text.resize(sep + 1);
  }
  const std::string path = ssm::fuzz::write_file("main.yaml", text);
  try {
    const Config c = Config::load(schema(), path, overrides);
    const std::string yaml = c.to_yaml();
    const std::string again = ssm::fuzz::write_file("resolved.yaml", yaml);
    Config d;
    try {
      d = Config::load(schema(), again);
    } catch (const ConfigError& e) {
      ssm::fuzz::broken("the resolved config does not load again: " + std::string(e.what()) + "\n" + yaml);
    }
    for (const auto& k : c.keys())
      if (c.text(k) != d.text(k))
        ssm::fuzz::broken(k + ": '" + c.text(k) + "' reads back as '" + d.text(k) + "'\n" + yaml);
  } catch (const ConfigError&) {
  }
  return 0;
}
