// Config loading: values, bases, overrides, and every error path with its file, line and key.
#include "config/config.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

namespace ssm::config {
namespace {

using test::expect_error;

namespace fs = std::filesystem;

const Schema& schema() {
  static const Schema s = {
      {"model.d_model", Type::kInt, "128", "width", 1, 4096},
      {"model.dropout", Type::kFloat, "0.0", "dropout", 0, 1},
      {"model.prenorm", Type::kBool, "true", "prenorm"},
      {"model.norm", Type::kEnum, "layer", "norm", -1e300, 1e300, false, {"layer", "batch"}},
      {"model.s4d.dt_min", Type::kFloat, "0.001", "dt", 0, 1, true},
      {"trainer.out_dir", Type::kString, "runs/x", "where"},
      // Not adjacent to the other model keys: to_yaml must still write the model section once.
      {"model.s4d.dt_max", Type::kFloat, "0.1", "dt", 0, 1, true},
  };
  return s;
}

class ConfigTest : public test::TempDirTest {};

TEST_F(ConfigTest, ValuesDefaultsAndOrigins) {
  const auto p = write("a.yaml", "model:\n  d_model: 256\n  s4d:\n    dt_min: 1e-4\ntrainer:\n  out_dir: runs/a\n");
  const Config c = Config::load(schema(), p);
  EXPECT_EQ(c.get_int("model.d_model"), 256);
  EXPECT_DOUBLE_EQ(c.get_float("model.s4d.dt_min"), 1e-4);
  EXPECT_DOUBLE_EQ(c.get_float("model.dropout"), 0.0);
  EXPECT_TRUE(c.get_bool("model.prenorm"));
  EXPECT_EQ(c.get_string("model.norm"), "layer");
  EXPECT_EQ(c.get_string("trainer.out_dir"), "runs/a");
  EXPECT_EQ(c.origin("model.d_model").file, p);
  EXPECT_EQ(c.origin("model.d_model").line, 2);
  EXPECT_EQ(c.origin("model.dropout").file, "default");
}

TEST_F(ConfigTest, BasesMergeInOrderAndOverridesComeLast) {
  write("base/task.yaml", "model:\n  d_model: 64\n  dropout: 0.1\n");
  write("base/model.yaml", "model:\n  d_model: 32\n  norm: batch\n");
  const auto p = write("run.yaml", "base: [base/task.yaml, base/model.yaml]\nmodel:\n  dropout: 0.2\n");
  const Config c = Config::load(schema(), p, {"model.prenorm=false"});
  EXPECT_EQ(c.get_int("model.d_model"), 32);  // the later base wins
  EXPECT_EQ(c.get_string("model.norm"), "batch");
  EXPECT_DOUBLE_EQ(c.get_float("model.dropout"), 0.2);  // the file itself wins over its bases
  EXPECT_FALSE(c.get_bool("model.prenorm"));
  EXPECT_EQ(c.origin("model.prenorm").file, "--set");
  EXPECT_NE(c.origin("model.d_model").file.find("model.yaml"), std::string::npos);
}

TEST_F(ConfigTest, ResolvedYamlLoadsToTheSameValues) {
  const auto p = write("a.yaml", "model:\n  d_model: 96\n  norm: batch\ntrainer:\n  out_dir: 'runs/with space: x'\n");
  const Config c = Config::load(schema(), p, {"model.dropout=0.25", "model.s4d.dt_max=0.2"});
  const std::string yaml = c.to_yaml();
  const std::string lines = "\n" + yaml;
  ASSERT_NE(lines.find("\nmodel:\n"), std::string::npos) << yaml;
  EXPECT_EQ(lines.find("\nmodel:\n"), lines.rfind("\nmodel:\n")) << yaml;
  EXPECT_EQ(lines.find("\n  s4d:\n"), lines.rfind("\n  s4d:\n")) << yaml;
  const auto q = write("resolved.yaml", yaml);
  const Config r = Config::load(schema(), q);
  for (const auto& k : schema()) {
    if (k.type == Type::kInt) EXPECT_EQ(r.get_int(k.path), c.get_int(k.path)) << k.path;
    if (k.type == Type::kFloat) EXPECT_DOUBLE_EQ(r.get_float(k.path), c.get_float(k.path)) << k.path;
    if (k.type == Type::kBool) EXPECT_EQ(r.get_bool(k.path), c.get_bool(k.path)) << k.path;
    if (k.type == Type::kString || k.type == Type::kEnum) EXPECT_EQ(r.get_string(k.path), c.get_string(k.path));
  }
}

TEST_F(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  const auto p = write("a.yaml", "model:\n  d_model: 64\n  d_modle: 3\n");
  expect_error([&] { Config::load(schema(), p); }, {p + ":3:", "model.d_modle", "unknown key", "d_model"});
  const auto q = write("b.yaml", "modle:\n  d_model: 64\n");
  expect_error([&] { Config::load(schema(), q); }, {q + ":1:", "modle", "unknown key"});
}

TEST_F(ConfigTest, WrongTypesNameFileLineAndKey) {
  expect_error([&] { Config::load(schema(), write("a.yaml", "model:\n  d_model: wide\n")); },
               {"a.yaml:2:", "model.d_model", "expected an integer", "'wide'"});
  expect_error([&] { Config::load(schema(), write("b.yaml", "model:\n  d_model: 1.5\n")); },
               {"b.yaml:2:", "expected an integer", "'1.5'"});
  expect_error([&] { Config::load(schema(), write("c.yaml", "model:\n\n  dropout: lots\n")); },
               {"c.yaml:3:", "model.dropout", "expected a finite number"});
  expect_error([&] { Config::load(schema(), write("d.yaml", "model:\n  prenorm: maybe\n")); },
               {"d.yaml:2:", "model.prenorm", "expected true or false"});
  expect_error([&] { Config::load(schema(), write("e.yaml", "model:\n  norm: group\n")); },
               {"e.yaml:2:", "model.norm", "expected one of layer, batch", "'group'"});
  expect_error([&] { Config::load(schema(), write("f.yaml", "model:\n  d_model: [1, 2]\n")); },
               {"f.yaml:2:", "model.d_model", "got a list"});
  expect_error([&] { Config::load(schema(), write("g.yaml", "model: 3\n")); },
               {"g.yaml:1:", "model", "is a section"});
  expect_error([&] { Config::load(schema(), write("h.yaml", "model:\n  d_model:\n")); },
               {"h.yaml:2:", "model.d_model", "has no value"});
  expect_error([&] { Config::load(schema(), write("i.yaml", "model:\n  d_model:\n    x: 1\n")); },
               {"i.yaml:2:", "model.d_model", "got a mapping"});
}

TEST_F(ConfigTest, OutOfRangeValues) {
  expect_error([&] { Config::load(schema(), write("a.yaml", "model:\n  d_model: 0\n")); },
               {"a.yaml:2:", "model.d_model", "must be in [1, 4096], got 0"});
  expect_error([&] { Config::load(schema(), write("b.yaml", "model:\n  s4d:\n    dt_min: 0\n")); },
               {"b.yaml:3:", "model.s4d.dt_min", "must be in (0, 1]"});
  expect_error([&] { Config::load(schema(), write("c.yaml", "model:\n  dropout: .nan\n")); },
               {"c.yaml:2:", "finite"});
}

TEST_F(ConfigTest, OverrideErrors) {
  const auto p = write("a.yaml", "model:\n  d_model: 64\n");
  expect_error([&] { Config::load(schema(), p, {"model.width=3"}); }, {"--set model.width", "unknown key"});
  expect_error([&] { Config::load(schema(), p, {"model.d_model"}); }, {"--set model.d_model", "key.path=value"});
  expect_error([&] { Config::load(schema(), p, {"model.d_model=x"}); }, {"--set model.d_model", "expected an integer"});
}

TEST_F(ConfigTest, FileErrors) {
  expect_error([&] { Config::load(schema(), (dir / "missing.yaml").string()); }, {"missing.yaml", "no such config file"});
  expect_error([&] { Config::load(schema(), write("a.yaml", "model:\n  d_model: [1,\n")); },
               {"a.yaml:", "YAML syntax error"});
  expect_error([&] { Config::load(schema(), write("b.yaml", "base: nothere.yaml\n")); },
               {"b.yaml", "base file", "nothere.yaml", "does not exist"});
  write("c1.yaml", "base: c2.yaml\n");
  const auto c2 = write("c2.yaml", "base: c1.yaml\n");
  expect_error([&] { Config::load(schema(), c2); }, {"cycle"});
  expect_error([&] { Config::load(schema(), write("d.yaml", "- 1\n- 2\n")); }, {"d.yaml:1:", "mapping"});
}

TEST_F(ConfigTest, StrictAboutWhatYamlWouldLetThrough) {
  // An unclosed quote would swallow the following lines into the value.
  expect_error(
      [&] { Config::load(schema(), write("q.yaml", "trainer:\n  out_dir: \"runs/a\nmodel:\n  d_model: 64\"\n")); },
      {"q.yaml:2:", "trainer.out_dir", "quote", "not closed"});
  // Quotes that close (escapes included) are fine.
  const Config ok = Config::load(
      schema(), write("q2.yaml", "trainer:\n  out_dir: \"runs/\\\"a\\\" b\"\nmodel:\n  norm: 'batch'\n"));
  EXPECT_EQ(ok.get_string("trainer.out_dir"), "runs/\"a\" b");
  EXPECT_EQ(ok.get_string("model.norm"), "batch");
  // Duplicate keys in one mapping (YAML readers keep the last silently); a base file's values may be overridden.
  expect_error([&] { Config::load(schema(), write("d.yaml", "model:\n  d_model: 64\n  d_model: 32\n")); },
               {"d.yaml:3:", "model.d_model", "appears twice", "line 2"});
  expect_error([&] { Config::load(schema(), write("d2.yaml", "model:\n  d_model: 64\nmodel:\n  dropout: 0.1\n")); },
               {"d2.yaml:3:", "model", "appears twice", "line 1"});
  write("base.yaml", "model:\n  d_model: 64\n");
  EXPECT_EQ(Config::load(schema(), write("child.yaml", "base: base.yaml\nmodel:\n  d_model: 32\n")).get_int("model.d_model"),
            32);
  // An empty or comment-only config, and a folder given as the config.
  expect_error([&] { Config::load(schema(), write("e.yaml", "")); }, {"e.yaml", "empty"});
  expect_error([&] { Config::load(schema(), write("f.yaml", "# nothing here\n\n")); }, {"f.yaml", "empty"});
  EXPECT_EQ(Config::load(schema(), write("g.yaml", "# all on the command line\n"), {"model.d_model=3"}).get_int("model.d_model"), 3);
  fs::create_directories(dir / "folder.yaml");
  expect_error([&] { Config::load(schema(), (dir / "folder.yaml").string()); }, {"folder.yaml", "is a folder"});
  // Bases that are not config files: a device (read without end before), a name the file system refuses (an
  // uncaught std::filesystem error before), a folder; a file past the size bound; a key without a name.
  expect_error([&] { Config::load(schema(), write("dev.yaml", "base: /dev/zero\n")); },
               {"dev.yaml", "base file '/dev/zero'", "not a regular file"});
  expect_error([&] { Config::load(schema(), write("long.yaml", "base: " + std::string(300, 'a') + "\n")); },
               {"long.yaml", "base file", "cannot be read", "too long"});
  expect_error([&] { Config::load(schema(), write("bfolder.yaml", "base: folder.yaml\n")); },
               {"bfolder.yaml", "base file", "is a folder"});
  expect_error([&] { Config::load(schema(), write("big.yaml", "# " + std::string(1 << 20, 'x') + "\n")); },
               {"big.yaml", "larger than 1 MiB"});
  expect_error([&] { Config::load(schema(), write("nokey.yaml", "model:\n  ~: 3\n")); },
               {"nokey.yaml:2:", "model", "expected a key name, got no name"});
  // Found by fuzzing (tests/fuzz): text that a YAML reader changes or cuts. Bytes that are not UTF-8 (read back as
  // U+FFFD, so that config.yaml said something else), NUL bytes ("12\0junk" read as 12; a path cut short), line breaks.
  expect_error([&] { Config::load(schema(), write("latin1.yaml", "model:\n  d_model: 3\n  norm: caf\xe9\n")); },
               {"latin1.yaml:3:", "not UTF-8 text (byte 0xE9 at column 12)"});
  expect_error([&] { Config::load(schema(), write("nul.yaml", "model:\n  d_model: \"12\\0junk\"\n")); },
               {"nul.yaml:2:", "model.d_model", "control character (0x00)"});
  expect_error([&] { Config::load(schema(), write("block.yaml", "model:\n  norm: |\n    a\n    b\n")); },
               {"block.yaml:2:", "model.norm", "a line break"});
  expect_error([&] { Config::load(schema(), {}, {std::string("model.norm=a\xff")}); },
               {"--set model.norm", "not UTF-8 text (byte 0xFF at offset 1)"});
  EXPECT_EQ(Config::load(schema(), write("utf8.yaml", "trainer:\n  out_dir: \"caf\\u00e9\\ttab\"\n")).get_string("trainer.out_dir"),
            "caf\xc3\xa9\ttab");
  // Characters YAML cannot hold in a scalar, which a reader turns into U+FFFD: the noncharacters U+FFFE and U+FFFF
  // (raw or escaped) and the C1 controls (U+0085 is a YAML line break). U+FFFD itself is a character like any other.
  expect_error([&] { Config::load(schema(), write("nonchar.yaml", "trainer:\n  out_dir: ab\xef\xbf\xbf\n")); },
               {"nonchar.yaml:2:", "trainer.out_dir", "contains U+FFFF at offset 2 (a noncharacter)"});
  expect_error([&] { Config::load(schema(), write("nonchar2.yaml", "trainer:\n  out_dir: \"\\uFFFE\"\n")); },
               {"nonchar2.yaml:2:", "trainer.out_dir", "contains U+FFFE at offset 0"});
  expect_error([&] { Config::load(schema(), write("nel.yaml", "trainer:\n  out_dir: \"a\\x85b\"\n")); },
               {"nel.yaml:2:", "trainer.out_dir", "U+0085 at offset 1 (a control character)"});
  expect_error([&] { Config::load(schema(), {}, {std::string("trainer.out_dir=x\xef\xbf\xbf")}); },
               {"--set trainer.out_dir", "contains U+FFFF at offset 1"});
  EXPECT_EQ(Config::load(schema(), write("fffd.yaml", "trainer:\n  out_dir: a\xef\xbf\xbd\n")).get_string("trainer.out_dir"),
            "a\xef\xbf\xbd");
  // --set on a section names it as one and lists its keys, each once.
  expect_error([&] { Config::load(schema(), {}, {"model=3"}); },
               {"--set model", "is a section", "known here: d_model, dropout, prenorm, norm, s4d)"});
  try {
    Config::load(schema(), {}, {"model.s4d.dt=3"});
    ADD_FAILURE() << "expected an error";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("(known here: dt_min, dt_max)"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ssm::config
