// Pathfinder: the generator (sizes, value range, label balance, the circles on the snakes its own record names, snakes
// that keep clear of each other, determinism, the release layout) and the loader (counts, labels and pixels against
// the files, the seeded split, text and NPY metadata, bad images skipped and reported, malformed metadata, the cache).
#include "data/pathfinder.h"
#include "data/pathfinder_gen.h"
#include "data/png.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace ssm::data {
namespace {

using test::expect_error;
namespace fs = std::filesystem;

class Pathfinder : public test::TempDirTest {};

double point_seg(double py, double px, const Paddle& s) {
  const double dy = s.y1 - s.y0, dx = s.x1 - s.x0, l2 = dy * dy + dx * dx;
  const double t = l2 > 0 ? std::clamp(((py - s.y0) * dy + (px - s.x0) * dx) / l2, 0.0, 1.0) : 0.0;
  return std::hypot(s.y0 + t * dy - py, s.x0 + t * dx - px);
}

// Distance between two segments that do not cross (crossing ones are at distance 0: checked by orientation).
double seg_seg(const Paddle& a, const Paddle& b) {
  auto orient = [](double ay, double ax, double by, double bx, double cy, double cx) {
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax);
  };
  const double d1 = orient(a.y0, a.x0, a.y1, a.x1, b.y0, b.x0), d2 = orient(a.y0, a.x0, a.y1, a.x1, b.y1, b.x1);
  const double d3 = orient(b.y0, b.x0, b.y1, b.x1, a.y0, a.x0), d4 = orient(b.y0, b.x0, b.y1, b.x1, a.y1, a.x1);
  if (((d1 > 0) != (d2 > 0)) && ((d3 > 0) != (d4 > 0))) return 0;
  return std::min({point_seg(a.y0, a.x0, b), point_seg(a.y1, a.x1, b), point_seg(b.y0, b.x0, a),
                   point_seg(b.y1, b.x1, a)});
}

TEST_F(Pathfinder, GeneratedImagesFollowTheirRecord) {
  for (int64_t R : {32, 128}) {
    SCOPED_TRACE(R);
    const PathfinderGenOptions o = pathfinder_preset(R, 14);
    const int n = R == 32 ? 1000 : 60;
    int positives = 0;
    for (int i = 0; i < n; ++i) {
      const PathfinderImage img = generate_pathfinder_image(o, i);
      ASSERT_EQ(img.height, R);
      ASSERT_EQ(img.width, R);
      ASSERT_EQ(img.pixels.size(), static_cast<size_t>(R * R));
      const auto [lo, hi] = std::minmax_element(img.pixels.begin(), img.pixels.end());
      EXPECT_EQ(*lo, 0);
      EXPECT_EQ(*hi, 255);
      positives += img.label;
      // The circles: the first tip of one target and the last tip of the same target exactly when label 1.
      ASSERT_GE(img.snakes.size(), 2u);
      EXPECT_TRUE(img.origin_snake == 0 || img.origin_snake == 1);
      EXPECT_TRUE(img.terminal_snake == 0 || img.terminal_snake == 1);
      EXPECT_EQ(img.origin_snake == img.terminal_snake, img.label == 1) << i;
      const Paddle& first = img.snakes[img.origin_snake].front();
      const Paddle& last = img.snakes[img.terminal_snake].back();
      EXPECT_DOUBLE_EQ(img.origin_y, first.y0);
      EXPECT_DOUBLE_EQ(img.origin_x, first.x0);
      EXPECT_DOUBLE_EQ(img.terminal_y, last.y1);
      EXPECT_DOUBLE_EQ(img.terminal_x, last.x1);
      // Bright where a circle is.
      EXPECT_GT(img.pixels[static_cast<int64_t>(img.origin_y) * R + static_cast<int64_t>(img.origin_x)], 100);
      EXPECT_GT(img.pixels[static_cast<int64_t>(img.terminal_y) * R + static_cast<int64_t>(img.terminal_x)], 100);
      EXPECT_EQ(img.snakes[0].size(), 14u);
      EXPECT_EQ(img.snakes[1].size(), 14u);
      for (size_t s = 2; s < img.snakes.size(); ++s) EXPECT_EQ(img.snakes[s].size(), 4u);
      // Paddles of different snakes never touch: at least the stroke's thickness apart.
      if (i < 40)
        for (size_t a = 0; a < img.snakes.size(); ++a)
          for (size_t b = a + 1; b < img.snakes.size(); ++b)
            for (const Paddle& p : img.snakes[a])
              for (const Paddle& q : img.snakes[b]) ASSERT_GT(seg_seg(p, q), o.paddle_thickness) << i;
      // Consecutive paddles of a snake are a margin apart, the next one starting where the gap ends.
      for (const auto& s : img.snakes)
        for (size_t k = 1; k < s.size(); ++k)
          EXPECT_NEAR(std::hypot(s[k].y0 - s[k - 1].y1, s[k].x0 - s[k - 1].x1), img.margin, 1e-9);
    }
    if (R == 32) EXPECT_NEAR(positives, n / 2, n / 20) << "labels balanced within 10 %";
  }
}

std::string bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST_F(Pathfinder, TheWriterUsesTheReleaseLayoutAndASeedReproducesIt) {
  PathfinderGenOptions o = pathfinder_preset(32, 9);
  o.seed = 3;
  PathfinderWriteOptions w;
  w.count = 30;
  w.per_batch = 12;
  w.threads = 2;
  w.out = (dir / "a").string();
  const auto s = write_pathfinder(o, w);
  EXPECT_EQ(s.images, 30);
  const fs::path root = dir / "a" / "curv_contour_length_9";
  EXPECT_EQ(s.folder, root.string());
  for (const char* f : {"imgs/0/sample_0.png", "imgs/0/sample_11.png", "imgs/2/sample_5.png", "metadata/0.npy",
                        "metadata/2.npy"})
    EXPECT_TRUE(fs::exists(root / f)) << f;
  EXPECT_FALSE(fs::exists(root / "imgs/2/sample_6.png"));
  const GrayImage g = read_png_gray((root / "imgs/1/sample_3.png").string());
  EXPECT_EQ(g.height, 32);
  const PathfinderImage again = generate_pathfinder_image(o, 15);
  EXPECT_EQ(g.pixels, again.pixels);  // image 15 is batch 1, sample 3
  std::istringstream meta(bytes(root / "metadata/1.npy"));
  std::string line;
  std::getline(meta, line);
  std::ostringstream expect;
  expect << "imgs/1 sample_0.png 0 " << generate_pathfinder_image(o, 12).label << " 1 9 3 2 0.5 1 1";
  EXPECT_EQ(line, expect.str());
  // The same seed writes the same files on any number of threads; another seed other images.
  w.out = (dir / "b").string();
  w.threads = 1;
  write_pathfinder(o, w);
  for (const char* f : {"imgs/0/sample_7.png", "imgs/2/sample_1.png", "metadata/1.npy"})
    EXPECT_EQ(bytes(root / f), bytes(dir / "b" / "curv_contour_length_9" / f)) << f;
  o.seed = 4;
  w.out = (dir / "c").string();
  write_pathfinder(o, w);
  EXPECT_NE(bytes(root / "imgs/0/sample_7.png"), bytes(dir / "c" / "curv_contour_length_9" / "imgs/0/sample_7.png"));
}

// A generated Pathfinder-32 folder of n images.
fs::path make_set(const fs::path& dir, int64_t n, int64_t per_batch = 25) {
  PathfinderGenOptions o = pathfinder_preset(32, 14);
  PathfinderWriteOptions w;
  w.count = n;
  w.per_batch = per_batch;
  w.out = dir.string();
  write_pathfinder(o, w);
  return dir;
}

TEST_F(Pathfinder, TheLoaderReadsTheReleaseLayout) {
  const fs::path root = make_set(dir / "pf", 60);
  PathfinderOptions o;
  o.root = root.string();
  o.cache_dir = (dir / "cache").string();
  const ImageData d = load_pathfinder(o);
  EXPECT_EQ(d.train.size(), 48);
  EXPECT_EQ(d.val.size(), 6);
  EXPECT_EQ(d.test.size(), 6);
  EXPECT_TRUE(d.skipped.empty());
  // Every split row is an image of the metadata with its label and pixels.
  const auto recs = read_pathfinder_metadata((root / "curv_contour_length_14/metadata/1.npy").string(),
                                             (root / "curv_contour_length_14").string());
  ASSERT_EQ(recs.size(), 25u);
  std::set<int64_t> rows;
  for (const ImageSplit* s : {&d.train, &d.val, &d.test})
    for (int64_t i = 0; i < s->size(); ++i) rows.insert(s->rows[i].item<int64_t>());
  EXPECT_EQ(rows.size(), 60u);  // a partition of all images
  const int64_t row = 25 + 7;   // batch 1, sample 7
  EXPECT_EQ(d.train.y[0].item<int64_t>() >= 0, true);
  EXPECT_EQ(d.train.pixels.size(0), 60);
  EXPECT_EQ(d.train.y[row].item<int64_t>(), recs[7].label);
  const GrayImage g = read_png_gray(recs[7].image);
  for (int p : {0, 100, 517, 1023}) EXPECT_EQ(d.train.pixels[row][p][0].item<int64_t>(), g.pixels[p]);
  // Batches follow the split's rows; values in [-1, 1] (s4) or tokens.
  PixelEncoding e;
  e.mean = {0.5};
  e.std = {0.5};
  const auto [x, y] = image_batch(d.val, torch::tensor({2}, torch::kLong), e);
  const int64_t r2 = d.val.rows[2].item<int64_t>();
  EXPECT_NEAR(x[0][300][0].item<double>(), d.val.pixels[r2][300][0].item<double>() / 127.5 - 1, 1e-6);
  EXPECT_EQ(y[0].item<int64_t>(), d.val.y[r2].item<int64_t>());
  EXPECT_GE(x.min().item<double>(), -1.0);
  EXPECT_LE(x.max().item<double>(), 1.0);
  // The split is seeded.
  o.cache_dir = "none";
  EXPECT_TRUE(torch::equal(load_pathfinder(o).test.rows, d.test.rows));
  o.split_seed = 1;
  EXPECT_FALSE(torch::equal(load_pathfinder(o).test.rows, d.test.rows));
}

// An NPY file of strings (dtype <U<width>), shape (rows, cols).
void write_npy(const fs::path& p, const std::vector<std::vector<std::string>>& rows, const std::string& descr,
               int width) {
  std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + std::to_string(rows.size()) +
                  ", " + std::to_string(rows[0].size()) + "), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(h.size() & 0xFF);
  out += static_cast<char>(h.size() >> 8);
  out += h;
  for (const auto& r : rows)
    for (const auto& f : r)
      for (int k = 0; k < width; ++k) {
        const uint32_t cp = k < static_cast<int>(f.size()) ? static_cast<unsigned char>(f[k]) : 0;
        for (int b = 0; b < 4; ++b) out += static_cast<char>((cp >> (8 * b)) & 0xFF);
      }
  std::ofstream(p, std::ios::binary) << out;
}

TEST_F(Pathfinder, BinaryNpyMetadataReadsAsText) {
  const fs::path root = make_set(dir / "pf", 20, 20);
  const fs::path meta = root / "curv_contour_length_14/metadata/0.npy";
  const auto text = read_pathfinder_metadata(meta.string(), "base");
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(bytes(meta));
  for (std::string line; std::getline(in, line);) {
    std::istringstream l(line);
    rows.emplace_back();
    for (std::string f; l >> f;) rows.back().push_back(f);
  }
  write_npy(meta, rows, "<U21", 21);
  const auto npy = read_pathfinder_metadata(meta.string(), "base");
  ASSERT_EQ(npy.size(), text.size());
  for (size_t i = 0; i < npy.size(); ++i) {
    EXPECT_EQ(npy[i].image, text[i].image);
    EXPECT_EQ(npy[i].label, text[i].label);
  }
  EXPECT_NE(npy[3].where.find("0.npy: row 3"), std::string::npos) << npy[3].where;
  write_npy(meta, {{"1.5", "2.5"}}, "<f8", 2);
  expect_error([&] { read_pathfinder_metadata(meta.string(), "base"); },
               {"0.npy", "NPY dtype '<f8' is not an array of strings"});
}

TEST_F(Pathfinder, BadImagesAreSkippedAndReported) {
  const fs::path root = make_set(dir / "pf", 50);
  const fs::path base = root / "curv_contour_length_14";
  fs::resize_file(base / "imgs/0/sample_3.png", 0);                                   // empty, as in the release
  fs::resize_file(base / "imgs/1/sample_4.png", fs::file_size(base / "imgs/1/sample_4.png") / 2);  // truncated
  fs::remove(base / "imgs/1/sample_9.png");                                           // listed but missing
  PathfinderOptions o;
  o.root = root.string();
  o.cache_dir = (dir / "cache").string();
  const ImageData d = load_pathfinder(o);
  ASSERT_EQ(d.skipped.size(), 3u);
  EXPECT_EQ(d.train.size() + d.val.size() + d.test.size(), 47);
  std::string all;
  for (const auto& s : d.skipped) all += s + "\n";
  EXPECT_NE(all.find("imgs/0/sample_3.png: not a readable PNG image"), std::string::npos) << all;
  EXPECT_NE(all.find("imgs/1/sample_4.png: not a readable PNG image"), std::string::npos) << all;
  EXPECT_NE(all.find("imgs/1/sample_9.png: no such image (listed at "), std::string::npos) << all;
  EXPECT_NE(all.find("metadata/1.npy:10)"), std::string::npos) << all;
  // The cache keeps the report; a repaired image rebuilds it.
  const ImageData mapped = load_pathfinder(o);
  EXPECT_TRUE(mapped.from_cache);
  EXPECT_EQ(mapped.skipped, d.skipped);
  fs::copy_file(base / "imgs/0/sample_4.png", base / "imgs/1/sample_9.png");
  const ImageData repaired = load_pathfinder(o);
  EXPECT_FALSE(repaired.from_cache);
  EXPECT_EQ(repaired.skipped.size(), 2u);
  // More than 10 % unreadable: a wrong folder or resolution, an error.
  o.resolution = 64;
  expect_error([&] { load_pathfinder(o); }, {"50 of 50 images", "unreadable", "image of 32 x 32 pixels, expected 64 x 64"});
}

TEST_F(Pathfinder, MalformedMetadataNamesTheFileAndLine) {
  const fs::path meta = dir / "pf/curv_contour_length_14/metadata";
  fs::create_directories(meta);
  std::ofstream(meta / "0.npy") << "imgs/0 sample_0.png 0 1 1.0 14 4 2 0.5 1 1\nimgs/0 sample_1.png 1 2 1.0\n";
  PathfinderOptions o;
  o.root = (dir / "pf").string();
  o.cache_dir = "none";
  expect_error([&] { load_pathfinder(o); }, {"metadata/0.npy:2: label '2' is not 0 or 1"});
  std::ofstream(meta / "0.npy") << "imgs/0 sample_0.png\n";
  expect_error([&] { load_pathfinder(o); }, {"metadata/0.npy:1: expected at least 4 fields"});
  std::ofstream(meta / "0.npy") << "../.. secret.png 0 1\n";
  expect_error([&] { load_pathfinder(o); }, {"metadata/0.npy:1: image path", "leaves the folder"});
  o.difficulty = "curv_baseline";
  expect_error([&] { load_pathfinder(o); }, {"curv_baseline/metadata: no such folder"});
}

}  // namespace
}  // namespace ssm::data
