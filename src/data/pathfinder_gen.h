// The Pathfinder generator (Linsley et al. 2018, as used by the Long Range Arena; ../shared/reference/lra.md): each
// image holds two target snakes grown side by side from seeds seed_distance apart, distractor snakes, and two
// circles: one on the first tip of a target snake, the other on the last tip of the same snake (label 1) or of the
// other one (label 0).
//
// A snake is a chain of paddles (dashes paddle_length long, paddle_thickness thick) separated by a margin. Each next
// paddle turns by an angle drawn with weight cos(min(|turn| * continuity, pi/2))^2 among the turns whose paddle stays
// inside the image and clear (by the margin) of everything drawn so far; a snake that cannot go on is drawn again.
// Strokes and circles are drawn antialiased at aa_scale times the resolution and averaged down; the image is scaled
// so that its brightest pixel is 255 (as the release's writer does). Our own implementation of the published
// algorithm: the same parameters, not the same random stream.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ssm::data {

struct PathfinderGenOptions {
  int64_t resolution = 32;
  int contour_length = 14;      // paddles per target snake (6: curv_baseline, 9, 14)
  int distractor_length = 0;    // paddles per distractor snake (0: contour_length / 3)
  int distractors = -1;         // distractor snakes (-1: the preset's count / distractor_length)
  double paddle_length = 2, paddle_thickness = 0.5, continuity = 1.0, seed_distance = 7, marker_radius = 1.5;
  std::vector<int> margins = {1};  // paddle margin, one drawn per image
  int padding = 1;
  int aa_scale = 2;
  int max_snake_retrial = 40;   // draws of a distractor snake before it is left out
  int max_target_retrial = 400; // draws of the target pair before the image starts over
  uint64_t seed = 0;
};

// The LRA parameters of a resolution (32 and 128 from the release; 64 and 256 scaled between and beyond them, our
// choice) and a contour length (6, 9 or 14).
PathfinderGenOptions pathfinder_preset(int64_t resolution, int contour_length);
// The release's difficulty folder of a contour length: curv_baseline (6), curv_contour_length_9, _14.
std::string pathfinder_difficulty(int contour_length);

struct Paddle {
  double y0, x0, y1, x1;  // tail and head, in pixels of the image (not of the antialiasing canvas)
};

struct PathfinderImage {
  int64_t height = 0, width = 0;
  std::vector<uint8_t> pixels;  // row-major
  int label = 0;
  int margin = 0;
  // The generator's record: every snake's paddles (the two targets first), which target carries each circle and the
  // circles' centres.
  std::vector<std::vector<Paddle>> snakes;
  int origin_snake = 0, terminal_snake = 0;
  double origin_y = 0, origin_x = 0, terminal_y = 0, terminal_x = 0;
};

// Image `index` of the data set of options `o`: its random stream depends on (o.seed, index) only, so that any
// subset of images, in any order and on any thread, comes out the same.
PathfinderImage generate_pathfinder_image(const PathfinderGenOptions& o, int64_t index);

struct PathfinderWriteOptions {
  std::string out;        // writes out/<difficulty>/imgs/<batch>/sample_<i>.png and out/<difficulty>/metadata/<batch>.npy
  int64_t count = 1000;
  int64_t per_batch = 1000;  // images per batch folder
  int threads = 0;           // 0: all cores
};
struct PathfinderWriteSummary {
  int64_t images = 0, positives = 0;
  double seconds = 0;
  std::string folder;  // out/<difficulty>
};
// Generates and writes a data set in the release's layout with text metadata ("imgs/<batch> sample_<i>.png <i>
// <label> <continuity> <contour_length> <distractor_length> <paddle_length> <paddle_thickness> <margin> 1").
PathfinderWriteSummary write_pathfinder(const PathfinderGenOptions& o, const PathfinderWriteOptions& w,
                                        const std::function<void(int64_t done)>& progress = nullptr);

}  // namespace ssm::data
