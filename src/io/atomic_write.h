// Files that are either the old version or the complete new one, never a mix: what every file ssm writes (checkpoints,
// config.yaml, metrics.jsonl rewrites, data sets, caches, examples) goes through here. Free of torch headers.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace ssm::io {

// Writes `path` through `path`.tmp: `write` creates and fills the temporary file (any exception it throws becomes an
// error naming `path`, its first line kept), then the file is flushed to the disk (fsync), renamed onto `path` and
// the folder flushed, so that neither a crash nor a power loss leaves a half-written file under `path`.
void write_atomically(const std::filesystem::path& path, const std::function<void(const std::string& tmp)>& write);

// The same for a text.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// Throws std::runtime_error("cannot write <path>: <why>").
[[noreturn]] void cannot_write(const std::filesystem::path& path, const std::string& why);

}  // namespace ssm::io
