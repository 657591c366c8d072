// Pathfinder and Path-X (Long Range Arena): is there a path between the two circles? Grayscale images of a resolution
// R (32, 64, 128, 256; Path-X is Pathfinder-128) read as sequences of R * R pixels, 2 classes.
//
// Release layout, one folder per resolution (lra_release/pathfinder32, ...):
//   <difficulty>/imgs/<batch>/sample_<i>.png and <difficulty>/metadata/<batch>.npy,
// difficulty one of curv_baseline, curv_contour_length_9, curv_contour_length_14 (LRA's "hard"). The metadata files are
// text despite their extension, one line per image: "subpath filename nimg label ..." (e.g. "imgs/0 sample_0.png 0 1
// 1.0 6 ..."; the label is field 4). Binary NPY metadata (the generator can write it: a 2-D array of strings, dtype
// <U or |S) is read too, recognized by its magic. Metadata files are taken in the order of their numeric names, their
// records in order; the 80/10/10 split is a seeded permutation of them.
#pragma once

#include "data/images.h"

#include <cstdint>
#include <string>
#include <vector>

namespace ssm::data {

struct PathfinderRecord {
  std::string image;  // path of the PNG, under the difficulty folder
  int label = 0;
  std::string where;  // "<metadata file>:<line or row>", for messages
};

// The records of one metadata file (text or NPY). Errors name the file and line (row).
std::vector<PathfinderRecord> read_pathfinder_metadata(const std::string& path, const std::string& base);

// The 2-D array of strings of an NPY file (dtype <U<n> or |S<n>, C or Fortran order), rows of fields.
std::vector<std::vector<std::string>> read_npy_strings(const std::string& path);

struct PathfinderOptions {
  std::string root;  // the pathfinder<R> folder
  std::string difficulty = "curv_contour_length_14";
  int64_t resolution = 32;
  double val_fraction = 0.1, test_fraction = 0.1;
  uint64_t split_seed = 42;
  int64_t limit_train = 0;
  std::string cache_dir;
  std::string name = "pathfinder";  // the task (pathfinder, pathx): cache file name and messages
};

// Unreadable images (empty, truncated, corrupt, of another size, missing) are left out and listed in
// ImageData::skipped with their path and reason; more than 10 % of them is an error (a wrong folder or resolution).
ImageData load_pathfinder(const PathfinderOptions& o);

}  // namespace ssm::data
