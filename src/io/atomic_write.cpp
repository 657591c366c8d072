#include "io/atomic_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace ssm::io {
namespace fs = std::filesystem;
namespace {

// Flushes a file (or folder) to the disk; a failure names the path.
void sync_path(const fs::path& path, bool folder) {
  const int fd = ::open(path.c_str(), (folder ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) cannot_write(path, std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) cannot_write(path, std::strerror(err));  // EINVAL: a file system without fsync
}

}  // namespace

void cannot_write(const fs::path& path, const std::string& why) {
  throw std::runtime_error("cannot write " + path.string() + ": " + why);
}

void write_atomically(const fs::path& path, const std::function<void(const std::string& tmp)>& write) {
  const fs::path tmp = path.string() + ".tmp";
  try {
    write(tmp.string());
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    const std::string what = e.what();
    cannot_write(path, what.substr(0, what.find('\n')));  // LibTorch's errors continue with a backtrace
  }
  if (!fs::exists(tmp)) cannot_write(path, "the temporary file " + tmp.string() + " was not created");
  sync_path(tmp, false);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) cannot_write(path, "renaming " + tmp.string() + " onto it failed: " + ec.message());
  sync_path(path.has_parent_path() ? path.parent_path() : fs::path("."), true);
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) cannot_write(tmp, std::strerror(errno));
    f << text;
    if (!f.flush()) cannot_write(tmp, std::strerror(errno));
  });
}

}  // namespace ssm::io
