#include "data/pathfinder_gen.h"

#include "data/png.h"
#include "io/atomic_write.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace ssm::data {
namespace fs = std::filesystem;

PathfinderGenOptions pathfinder_preset(int64_t resolution, int contour_length) {
  if (contour_length < 2) throw std::invalid_argument("pathfinder: contour length must be >= 2");
  PathfinderGenOptions o;
  o.resolution = resolution;
  o.contour_length = contour_length;
  o.distractor_length = std::max(1, contour_length / 3);
  int budget = 20;  // distractor paddles: budget / distractor_length snakes
  if (resolution <= 32) {
    o.paddle_length = 2, o.paddle_thickness = 0.5, o.margins = {1}, o.seed_distance = 7, o.marker_radius = 1.5;
    o.continuity = 1.0;
  } else if (resolution <= 64) {  // between the release's 32 and 128 (our choice)
    o.paddle_length = 3, o.paddle_thickness = 1.0, o.margins = {1, 2}, o.seed_distance = 12, o.marker_radius = 2;
    o.continuity = 1.4, budget = 25;
  } else if (resolution <= 128) {
    o.paddle_length = 5, o.paddle_thickness = 1.5, o.margins = {2, 3}, o.seed_distance = 20, o.marker_radius = 3;
    o.continuity = 1.8, budget = 35;
  } else {  // 256: the 128 parameters scaled by 2 (our choice)
    o.paddle_length = 10, o.paddle_thickness = 3, o.margins = {4, 6}, o.seed_distance = 40, o.marker_radius = 6;
    o.continuity = 1.8, budget = 50;
  }
  o.distractors = budget / o.distractor_length;
  return o;
}

std::string pathfinder_difficulty(int contour_length) {
  return contour_length == 6 ? "curv_baseline" : "curv_contour_length_" + std::to_string(contour_length);
}

namespace {

constexpr int kTurns = 32;  // candidate turns per step, evenly spaced over the circle
constexpr int32_t kFree = -1, kBorder = -2;

struct Seg {
  double y0, x0, y1, x1;  // canvas pixels
};

double dist_to_seg(double py, double px, const Seg& s) {
  const double dy = s.y1 - s.y0, dx = s.x1 - s.x0;
  const double len2 = dy * dy + dx * dx;
  double t = len2 > 0 ? ((py - s.y0) * dy + (px - s.x0) * dx) / len2 : 0;
  t = std::clamp(t, 0.0, 1.0);
  const double ey = s.y0 + t * dy - py, ex = s.x0 + t * dx - px;
  return std::sqrt(ey * ey + ex * ex);
}

// One image being drawn: the occupancy of the antialiasing canvas (which paddle owns each pixel's neighbourhood),
// with an undo log so that a snake that fails can be taken back.
class Canvas {
 public:
  Canvas(int64_t size, double pad, double half_thick, double margin)
      : S_(size), half_(half_thick), margin_(margin), owner_(size * size, kFree) {
    for (int64_t y = 0; y < S_; ++y)
      for (int64_t x = 0; x < S_; ++x)
        if (y < pad || x < pad || y >= S_ - pad || x >= S_ - pad) owner_[y * S_ + x] = kBorder;
  }
  int64_t size() const { return S_; }
  bool free(int64_t y, int64_t x) const { return owner_[y * S_ + x] == kFree; }

  // Whether the stroke of `s` lies inside the canvas and touches only free pixels or those of paddle `ignore`.
  bool fits(const Seg& s, int32_t ignore) const {
    for (double v : {s.y0, s.x0, s.y1, s.x1})
      if (v < 0 || v >= S_) return false;
    const double r = half_ + 0.5;
    int64_t y0, y1, x0, x1;
    box(s, r, y0, y1, x0, x1);
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        if (dist_to_seg(y + 0.5, x + 0.5, s) > r) continue;
        const int32_t o = owner_[y * S_ + x];
        if (o != kFree && o != ignore) return false;
      }
    return true;
  }
  // Claims the stroke's neighbourhood (the margin around it) for paddle `id`.
  void claim(const Seg& s, int32_t id) {
    int64_t y0, y1, x0, x1;
    const double r = half_ + margin_;
    box(s, r, y0, y1, x0, x1);
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        int32_t& o = owner_[y * S_ + x];
        if (o == kFree && dist_to_seg(y + 0.5, x + 0.5, s) <= r) {
          log_.push_back(y * S_ + x);
          o = id;
        }
      }
  }
  void commit() { log_.clear(); }
  void undo() {
    for (int64_t i : log_) owner_[i] = kFree;
    log_.clear();
  }

 private:
  void box(const Seg& s, double r, int64_t& y0, int64_t& y1, int64_t& x0, int64_t& x1) const {
    y0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(std::min(s.y0, s.y1) - r)));
    y1 = std::min<int64_t>(S_ - 1, static_cast<int64_t>(std::ceil(std::max(s.y0, s.y1) + r)));
    x0 = std::max<int64_t>(0, static_cast<int64_t>(std::floor(std::min(s.x0, s.x1) - r)));
    x1 = std::min<int64_t>(S_ - 1, static_cast<int64_t>(std::ceil(std::max(s.x0, s.x1) + r)));
  }
  int64_t S_;
  double half_, margin_;
  std::vector<int32_t> owner_;
  std::vector<int64_t> log_;
};

struct Snake {
  std::vector<Seg> segs;
  std::vector<int32_t> ids;
  double theta = 0;  // orientation of the last paddle
};

class Generator {
 public:
  Generator(const PathfinderGenOptions& o, std::mt19937_64& rng, int margin)
      : o_(o),
        rng_(rng),
        aa_(o.aa_scale),
        len_(o.paddle_length * o.aa_scale),
        gap_(margin * o.aa_scale),
        canvas_(o.resolution * o.aa_scale, o.padding * o.aa_scale, o.paddle_thickness * o.aa_scale / 2,
                margin * o.aa_scale) {
    for (int k = 0; k < kTurns; ++k) {
      const double turn = 2 * M_PI * (k - kTurns / 2 + 1) / kTurns;  // (-pi, pi]
      turns_[k] = turn;
      const double c = std::cos(std::min(std::abs(turn) * o.continuity, M_PI / 2));
      weights_[k] = c * c;
    }
  }

  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }

  // The first paddle of a snake, its tail at (y, x).
  bool start(Snake& s, double y, double x, double theta) {
    const Seg g{y, x, y + len_ * std::sin(theta), x + len_ * std::cos(theta)};
    if (!canvas_.fits(g, kFree)) return false;
    add(s, g, theta);
    return true;
  }

  // The next paddle: a turn drawn by continuity weight among those that fit.
  bool extend(Snake& s) {
    double w[kTurns];
    std::copy(weights_, weights_ + kTurns, w);
    const double jitter = uniform(-M_PI / kTurns, M_PI / kTurns);
    const Seg& last = s.segs.back();
    for (;;) {
      double total = 0;
      for (double v : w) total += v;
      if (total <= 0) return false;
      double pick = uniform(0, total);
      int k = 0;
      while (k < kTurns - 1 && pick >= w[k]) pick -= w[k++];
      if (w[k] <= 0) {  // rounding at the end of the draw
        for (k = kTurns - 1; k >= 0 && w[k] <= 0; --k) {}
      }
      const double theta = s.theta + turns_[k] + jitter;
      const double ty = last.y1 + gap_ * std::sin(theta), tx = last.x1 + gap_ * std::cos(theta);
      const Seg g{ty, tx, ty + len_ * std::sin(theta), tx + len_ * std::cos(theta)};
      if (canvas_.fits(g, s.ids.back())) {
        add(s, g, theta);
        return true;
      }
      w[k] = 0;
    }
  }

  // The two target snakes, grown a paddle at a time each.
  bool targets(Snake& a, Snake& b) {
    const double S = static_cast<double>(canvas_.size()), sd = o_.seed_distance * aa_;
    const double lo = std::min(2 * sd, S / 2 - 1), hi = std::max(S - 2 * sd, S / 2 + 1);
    const double ay = uniform(lo, hi), ax = uniform(lo, hi), phi = uniform(0, 2 * M_PI);
    if (!start(a, ay, ax, uniform(-M_PI, M_PI))) return false;
    if (!start(b, ay + sd * std::sin(phi), ax + sd * std::cos(phi), uniform(-M_PI, M_PI))) return false;
    for (int i = 1; i < o_.contour_length; ++i)
      if (!extend(a) || !extend(b)) return false;
    return true;
  }

  // A distractor snake at a free place, or none after max_snake_retrial tries.
  bool distractor(Snake& s) {
    const int64_t S = canvas_.size();
    for (int t = 0; t < o_.max_snake_retrial; ++t) {
      s = Snake{};
      const int64_t y = std::uniform_int_distribution<int64_t>(0, S - 1)(rng_);
      const int64_t x = std::uniform_int_distribution<int64_t>(0, S - 1)(rng_);
      bool ok = canvas_.free(y, x) && start(s, y + 0.5, x + 0.5, uniform(-M_PI, M_PI));
      for (int i = 1; ok && i < o_.distractor_length; ++i) ok = extend(s);
      if (ok) {
        canvas_.commit();
        return true;
      }
      canvas_.undo();
    }
    s = Snake{};
    return false;
  }

  Canvas& canvas() { return canvas_; }

 private:
  void add(Snake& s, const Seg& g, double theta) {
    const int32_t id = next_id_++;
    canvas_.claim(g, id);
    s.segs.push_back(g);
    s.ids.push_back(id);
    s.theta = theta;
  }
  const PathfinderGenOptions& o_;
  std::mt19937_64& rng_;
  double aa_, len_, gap_;
  Canvas canvas_;
  double turns_[kTurns], weights_[kTurns];
  int32_t next_id_ = 0;
};

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void check(const PathfinderGenOptions& o) {
  if (o.resolution < 8 || o.resolution > 1024) throw std::invalid_argument("pathfinder: resolution must be in [8, 1024]");
  if (o.contour_length < 2 || o.contour_length > 1000)
    throw std::invalid_argument("pathfinder: contour length must be in [2, 1000]");
  if (o.aa_scale < 1 || o.aa_scale > 8) throw std::invalid_argument("pathfinder: aa_scale must be in [1, 8]");
  if (o.margins.empty()) throw std::invalid_argument("pathfinder: no paddle margin");
  if (!(o.paddle_length > 0 && o.paddle_thickness > 0 && o.marker_radius > 0 && o.seed_distance > 0))
    throw std::invalid_argument("pathfinder: paddle length, thickness, marker radius and seed distance must be > 0");
}

}  // namespace

PathfinderImage generate_pathfinder_image(const PathfinderGenOptions& o, int64_t index) {
  check(o);
  std::mt19937_64 rng(mix(o.seed, static_cast<uint64_t>(index)));
  PathfinderImage img;
  img.label = static_cast<int>(rng() & 1);
  img.margin = o.margins[std::uniform_int_distribution<size_t>(0, o.margins.size() - 1)(rng)];
  const int dl = o.distractor_length > 0 ? o.distractor_length : std::max(1, o.contour_length / 3);
  PathfinderGenOptions oo = o;
  oo.distractor_length = dl;
  const int nd = o.distractors >= 0 ? o.distractors : pathfinder_preset(o.resolution, o.contour_length).distractors;
  for (int attempt = 0;; ++attempt) {
    if (attempt >= o.max_target_retrial)
      throw std::runtime_error("pathfinder: could not place two snakes of " + std::to_string(o.contour_length) +
                               " paddles in a " + std::to_string(o.resolution) + " px image (" +
                               std::to_string(o.max_target_retrial) + " tries): shorten the contour or the paddles");
    Generator g(oo, rng, img.margin);
    Snake a, b;
    if (!g.targets(a, b)) continue;
    g.canvas().commit();
    std::vector<Snake> all = {a, b};
    for (int i = 0; i < nd; ++i) {
      Snake s;
      if (g.distractor(s)) all.push_back(std::move(s));
    }
    // The circles: the first tip of one target, the last tip of the same one (label 1) or of the other (label 0).
    img.origin_snake = static_cast<int>(rng() & 1);
    img.terminal_snake = img.label ? img.origin_snake : 1 - img.origin_snake;
    const double aa = o.aa_scale;
    const Seg& first = all[img.origin_snake].segs.front();
    const Seg& last = all[img.terminal_snake].segs.back();
    img.origin_y = first.y0 / aa, img.origin_x = first.x0 / aa;
    img.terminal_y = last.y1 / aa, img.terminal_x = last.x1 / aa;
    // Draw at the canvas scale, antialiased, and average down.
    const int64_t S = g.canvas().size(), R = o.resolution;
    std::vector<float> canvas(S * S, 0.f);
    const double half = o.paddle_thickness * aa / 2;
    for (const auto& s : all) {
      std::vector<Paddle> rec;
      for (const Seg& seg : s.segs) {
        rec.push_back({seg.y0 / aa, seg.x0 / aa, seg.y1 / aa, seg.x1 / aa});
        const int64_t y0 = std::max<int64_t>(0, static_cast<int64_t>(std::min(seg.y0, seg.y1) - half - 1));
        const int64_t y1 = std::min<int64_t>(S - 1, static_cast<int64_t>(std::max(seg.y0, seg.y1) + half + 1));
        const int64_t x0 = std::max<int64_t>(0, static_cast<int64_t>(std::min(seg.x0, seg.x1) - half - 1));
        const int64_t x1 = std::min<int64_t>(S - 1, static_cast<int64_t>(std::max(seg.x0, seg.x1) + half + 1));
        for (int64_t y = y0; y <= y1; ++y)
          for (int64_t x = x0; x <= x1; ++x) {
            const double c = std::clamp(half + 0.5 - dist_to_seg(y + 0.5, x + 0.5, seg), 0.0, 1.0);
            canvas[y * S + x] = std::max(canvas[y * S + x], static_cast<float>(c));
          }
      }
      img.snakes.push_back(std::move(rec));
    }
    const double r = o.marker_radius * aa;
    for (const auto& [cy, cx] : {std::pair<double, double>{first.y0, first.x0}, {last.y1, last.x1}})
      for (int64_t y = std::max<int64_t>(0, static_cast<int64_t>(cy - r - 1));
           y <= std::min<int64_t>(S - 1, static_cast<int64_t>(cy + r + 1)); ++y)
        for (int64_t x = std::max<int64_t>(0, static_cast<int64_t>(cx - r - 1));
             x <= std::min<int64_t>(S - 1, static_cast<int64_t>(cx + r + 1)); ++x) {
          const double c = std::clamp(r + 0.5 - std::hypot(y + 0.5 - cy, x + 0.5 - cx), 0.0, 1.0);
          canvas[y * S + x] = std::max(canvas[y * S + x], static_cast<float>(c));
        }
    std::vector<double> small(R * R, 0.0);
    double peak = 0;
    for (int64_t y = 0; y < R; ++y)
      for (int64_t x = 0; x < R; ++x) {
        double v = 0;
        for (int dy = 0; dy < o.aa_scale; ++dy)
          for (int dx = 0; dx < o.aa_scale; ++dx) v += canvas[(y * o.aa_scale + dy) * S + x * o.aa_scale + dx];
        small[y * R + x] = v / (o.aa_scale * o.aa_scale);
        peak = std::max(peak, small[y * R + x]);
      }
    img.height = img.width = R;
    img.pixels.resize(R * R);
    for (int64_t i = 0; i < R * R; ++i)
      img.pixels[i] = static_cast<uint8_t>(std::lround(peak > 0 ? 255.0 * small[i] / peak : 0.0));
    return img;
  }
}

PathfinderWriteSummary write_pathfinder(const PathfinderGenOptions& o, const PathfinderWriteOptions& w,
                                        const std::function<void(int64_t)>& progress) {
  check(o);
  if (w.count < 1) throw std::invalid_argument("pathfinder: --count must be >= 1");
  if (w.per_batch < 1) throw std::invalid_argument("pathfinder: --per-batch must be >= 1");
  const auto t0 = std::chrono::steady_clock::now();
  PathfinderWriteSummary sum;
  sum.folder = (fs::path(w.out) / pathfinder_difficulty(o.contour_length)).string();
  const int64_t batches = (w.count + w.per_batch - 1) / w.per_batch;
  fs::create_directories(fs::path(sum.folder) / "metadata");
  for (int64_t b = 0; b < batches; ++b) fs::create_directories(fs::path(sum.folder) / "imgs" / std::to_string(b));
  std::vector<int> labels(w.count), margins(w.count);
  const int threads = w.threads > 0 ? w.threads : std::max(1u, std::thread::hardware_concurrency());
  std::atomic<int64_t> next{0}, done{0};
  std::atomic<int> running{threads};
  std::vector<std::string> errors(threads);
  auto work = [&](int t) {
    try {
      for (int64_t i; (i = next.fetch_add(1)) < w.count;) {
        const PathfinderImage img = generate_pathfinder_image(o, i);
        const fs::path png = fs::path(sum.folder) / "imgs" / std::to_string(i / w.per_batch) /
                             ("sample_" + std::to_string(i % w.per_batch) + ".png");
        write_png_gray(png.string(), {img.height, img.width, img.pixels});
        labels[i] = img.label;
        margins[i] = img.margin;
        ++done;
      }
    } catch (const std::exception& e) {
      errors[t] = e.what();
      next = w.count;  // the others stop after their current image
    }
    --running;
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
  while (running > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (progress) progress(done);
  }
  for (auto& th : pool) th.join();
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  // Metadata last, one file per batch, so that a data set with metadata has all its images.
  const int dl = o.distractor_length > 0 ? o.distractor_length : std::max(1, o.contour_length / 3);
  for (int64_t b = 0; b < batches; ++b) {
    std::ostringstream m;
    for (int64_t i = b * w.per_batch; i < std::min(w.count, (b + 1) * w.per_batch); ++i) {
      m << "imgs/" << b << " sample_" << i % w.per_batch << ".png " << i % w.per_batch << " " << labels[i] << " "
        << o.continuity << " " << o.contour_length << " " << dl << " " << o.paddle_length << " " << o.paddle_thickness
        << " " << margins[i] << " 1\n";
      sum.positives += labels[i];
    }
    io::write_text_atomically(fs::path(sum.folder) / "metadata" / (std::to_string(b) + ".npy"), m.str());
  }
  sum.images = w.count;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace ssm::data
