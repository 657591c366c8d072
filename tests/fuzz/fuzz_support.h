// What the fuzz targets share: a private folder for the input files of one fuzzing process (the readers take paths),
// a deterministic choice of parameters from the input, and the way an invariant failure is reported (abort, which
// libFuzzer records as a crash with its input).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace ssm::fuzz {

// The files and folders to remove at exit (never destroyed: the exit handler runs after static destructors would).
inline std::vector<std::string>& created() {
  static auto* files = new std::vector<std::string>;
  return *files;
}

// The folder, created on first use and emptied at exit (plain unlink/rmdir: no std::filesystem beside LibTorch).
inline const std::string& workdir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string t = std::string(base && *base ? base : "/tmp") + "/ssm-fuzz-XXXXXX";
    if (!mkdtemp(t.data())) {
      std::perror("ssm fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      for (auto it = created().rbegin(); it != created().rend(); ++it) ::remove(it->c_str());
    });
    created().push_back(t);
    return t;
  }();
  return dir;
}

// Writes `bytes` to <workdir>/<name> (a name with one '/' may name a subfolder, created once) and returns its path.
inline std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = workdir() + "/" + name;
  const auto slash = name.find('/');
  if (slash != std::string::npos) {
    const std::string sub = workdir() + "/" + name.substr(0, slash);
    if (::mkdir(sub.c_str(), 0700) == 0) created().push_back(sub);
  }
  bool fresh = false;
  {
    std::ifstream probe(path);
    fresh = !probe;
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) {
    std::fprintf(stderr, "ssm fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  if (fresh) created().push_back(path);
  return path;
}

inline std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// FNV-1a of the input: parameters that vary with the input without a format of their own.
inline uint64_t digest(const uint8_t* data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

// An invariant the reader promises does not hold: report and abort (libFuzzer keeps the input as a crash).
[[noreturn]] inline void broken(const std::string& what) {
  std::fprintf(stderr, "ssm fuzz: invariant broken: %s\n", what.c_str());
  std::abort();
}

}  // namespace ssm::fuzz
