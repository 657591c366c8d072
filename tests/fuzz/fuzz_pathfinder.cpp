// Fuzz target: the Pathfinder metadata reader (src/data/pathfinder), text lines or binary NPY (recognized by its
// magic), and the NPY string-array reader.
// Failures must be std::runtime_error naming the file; what reads must be records of label 0 or 1 whose image paths
// stay inside the difficulty folder.
#include "data/pathfinder.h"
#include "fuzz_support.h"

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string path = ssm::fuzz::write_file("0.npy", ssm::fuzz::as_string(data, size));
  const std::string base = "/base";
  if (size >= 6 && std::string(reinterpret_cast<const char*>(data), 6) == "\x93NUMPY") {
    try {
      const auto rows = read_npy_strings(path);
      for (const auto& r : rows)
        for (const auto& f : r)
          if (f.find('\0') != std::string::npos) ssm::fuzz::broken("NUL inside an NPY string");
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find(path) == std::string::npos) ssm::fuzz::broken("an NPY error without the file");
    }
  }
  std::vector<PathfinderRecord> recs;
  try {
    recs = read_pathfinder_metadata(path, base);
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find(path) == std::string::npos) ssm::fuzz::broken("a metadata error without the file");
    return 0;
  }
  for (const auto& r : recs) {
    if (r.label != 0 && r.label != 1) ssm::fuzz::broken("label not 0 or 1");
    if (r.image.compare(0, base.size() + 1, base + "/") != 0 || r.image.find("..") != std::string::npos)
      ssm::fuzz::broken("image path outside the folder: " + r.image);
    if (r.where.compare(0, path.size(), path) != 0) ssm::fuzz::broken("record location without the file");
  }
  return 0;
}
