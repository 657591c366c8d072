#include "data/pathfinder.h"

#include "data/png.h"
#include "data/text.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace ssm::data {
namespace fs = std::filesystem;

namespace {

// The value after 'key': in an NPY header dict.
std::string npy_field(const std::string& h, const std::string& key, const std::string& path) {
  const size_t at = h.find("'" + key + "'");
  if (at == std::string::npos) throw std::runtime_error(path + ": NPY header has no '" + key + "': " + printable(h));
  size_t v = h.find(':', at);
  if (v == std::string::npos) throw std::runtime_error(path + ": bad NPY header: " + printable(h));
  ++v;
  while (v < h.size() && h[v] == ' ') ++v;
  if (v < h.size() && (h[v] == '\'' || h[v] == '"')) {
    const size_t e = h.find(h[v], v + 1);
    return h.substr(v + 1, e - v - 1);
  }
  if (v < h.size() && h[v] == '(') return h.substr(v + 1, h.find(')', v) - v - 1);
  size_t e = v;
  while (e < h.size() && h[e] != ',' && h[e] != '}') ++e;
  return trim(h.substr(v, e - v));
}

}  // namespace

std::vector<std::vector<std::string>> read_npy_strings(const std::string& path) {
  const std::string s = read_bounded(path, size_t(1) << 30);
  if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) throw std::runtime_error(path + ": not an NPY file");
  const int major = static_cast<unsigned char>(s[6]);
  size_t hlen, start;
  if (major == 1) {
    hlen = static_cast<unsigned char>(s[8]) | (static_cast<size_t>(static_cast<unsigned char>(s[9])) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (s.size() < 12) throw std::runtime_error(path + ": truncated NPY header");
    hlen = 0;
    for (int i = 0; i < 4; ++i) hlen |= static_cast<size_t>(static_cast<unsigned char>(s[8 + i])) << (8 * i);
    start = 12;
  } else {
    throw std::runtime_error(path + ": NPY format version " + std::to_string(major) + " is not supported");
  }
  if (start + hlen > s.size()) throw std::runtime_error(path + ": truncated NPY header");
  const std::string h = s.substr(start, hlen);
  const std::string descr = npy_field(h, "descr", path), order = npy_field(h, "fortran_order", path),
                    shape = npy_field(h, "shape", path);
  const bool unicode = descr.size() > 2 && (descr[0] == '<' || descr[0] == '=') && descr[1] == 'U';
  const bool bytes = descr.size() > 2 && (descr[0] == '|' || descr[0] == '<' || descr[0] == '=') && descr[1] == 'S';
  if (!unicode && !bytes)
    throw std::runtime_error(path + ": NPY dtype '" + printable(descr) +
                             "' is not an array of strings (expected <U<n> or |S<n>: the metadata fields)");
  const int64_t width = std::atoll(descr.c_str() + 2);
  if (width < 1 || width > 4096) throw std::runtime_error(path + ": NPY string width " + descr.substr(2) + " is out of range");
  std::vector<int64_t> dims;
  for (const auto& part : split(shape, ','))
    if (!trim(part).empty()) dims.push_back(std::atoll(trim(part).c_str()));
  if (dims.empty() || dims.size() > 2 || dims[0] < 0 || (dims.size() == 2 && dims[1] < 1))
    throw std::runtime_error(path + ": NPY shape (" + shape + ") is not a 1-D or 2-D array");
  const int64_t rows = dims[0], cols = dims.size() == 2 ? dims[1] : 1;
  const size_t item = static_cast<size_t>(width) * (unicode ? 4 : 1);
  const size_t data = start + hlen;
  // Each count on its own first (an item is at least a byte), so that the product cannot overflow.
  const uint64_t avail = s.size() - data;
  if (static_cast<uint64_t>(rows) > avail || static_cast<uint64_t>(cols) > avail ||
      static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols) * item > avail)
    throw std::runtime_error(path + ": truncated NPY data (" + std::to_string(rows) + " x " + std::to_string(cols) +
                             " strings of " + std::to_string(item) + " bytes declared)");
  const bool fortran = order == "True";
  std::vector<std::vector<std::string>> out(rows, std::vector<std::string>(cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t at = data + item * static_cast<size_t>(fortran ? c * rows + r : r * cols + c);
      std::string v;
      for (int64_t k = 0; k < width; ++k) {
        uint32_t cp;
        if (unicode) {
          cp = 0;
          for (int b = 0; b < 4; ++b) cp |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + 4 * k + b])) << (8 * b);
        } else {
          cp = static_cast<unsigned char>(s[at + k]);
        }
        if (cp == 0) break;
        if (unicode && cp >= 0x80) {
          // Metadata is ASCII; other characters are kept as UTF-8.
          if (cp < 0x800) {
            v += static_cast<char>(0xC0 | (cp >> 6));
            v += static_cast<char>(0x80 | (cp & 0x3F));
          } else {
            v += static_cast<char>(0xE0 | ((cp >> 12) & 0x0F));
            v += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            v += static_cast<char>(0x80 | (cp & 0x3F));
          }
        } else {
          v += static_cast<char>(cp);
        }
      }
      out[r][c] = v;
    }
  // A 1-D array holds whole lines: split them into fields.
  if (cols == 1)
    for (auto& row : out) {
      std::istringstream l(row[0]);
      row.clear();
      for (std::string f; l >> f;) row.push_back(f);
    }
  return out;
}

std::vector<PathfinderRecord> read_pathfinder_metadata(const std::string& path, const std::string& base) {
  std::vector<std::vector<std::string>> rows;
  std::vector<int64_t> lines;
  bool npy = false;
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw std::runtime_error(path + ": cannot open");
    char magic[6] = {};
    f.read(magic, 6);
    npy = f.gcount() == 6 && std::memcmp(magic, "\x93NUMPY", 6) == 0;
    if (npy) {
      rows = read_npy_strings(path);
      for (size_t i = 0; i < rows.size(); ++i) lines.push_back(static_cast<int64_t>(i));
    } else {
      f.clear();
      f.seekg(0);
      std::string line;
      int64_t no = 0;
      while (read_line(f, line, no, path, size_t(1) << 20)) {
        std::istringstream l(line);
        std::vector<std::string> fields;
        for (std::string x; l >> x;) fields.push_back(x);
        if (fields.empty()) continue;
        rows.push_back(std::move(fields));
        lines.push_back(no);
      }
    }
  }
  std::vector<PathfinderRecord> out;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string where = path + (npy ? ": row " : ":") + std::to_string(lines[i]);
    const auto& r = rows[i];
    if (r.size() < 4)
      throw std::runtime_error(where + ": expected at least 4 fields (subpath filename nimg label ...), got " +
                               std::to_string(r.size()));
    if (r[3] != "0" && r[3] != "1")
      throw std::runtime_error(where + ": label '" + printable(r[3]) + "' is not 0 or 1");
    if (r[0].find("..") != std::string::npos || r[1].find("..") != std::string::npos || r[1].find('/') != std::string::npos)
      throw std::runtime_error(where + ": image path '" + printable(r[0] + "/" + r[1]) + "' leaves the folder");
    out.push_back({base + "/" + r[0] + "/" + r[1], r[3][0] - '0', where});
  }
  return out;
}


ImageData load_pathfinder(const PathfinderOptions& o) {
  const int64_t R = o.resolution, L = R * R;
  if (R < 1 || R > 1024) throw std::invalid_argument(o.name + ": resolution must be in [1, 1024]");
  if (!(o.val_fraction >= 0 && o.test_fraction >= 0 && o.val_fraction + o.test_fraction < 1))
    throw std::invalid_argument(o.name + ": val_fraction + test_fraction must be below 1");
  const std::string base = o.root + "/" + o.difficulty, meta_dir = base + "/metadata";
  if (!fs::is_directory(meta_dir))
    throw std::runtime_error(meta_dir + ": no such folder (data.root must be a pathfinder<R> folder of the LRA release, "
                             "with the difficulty folder " + o.difficulty + ")");
  std::vector<std::pair<int64_t, std::string>> metas;
  for (const auto& e : fs::directory_iterator(meta_dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".npy") continue;
    const std::string stem = e.path().stem().string();
    if (stem.empty() || !std::all_of(stem.begin(), stem.end(), [](unsigned char c) { return std::isdigit(c); }))
      throw std::runtime_error(e.path().string() + ": metadata files are named <batch number>.npy");
    metas.emplace_back(std::atoll(stem.c_str()), e.path().string());
  }
  if (metas.empty()) throw std::runtime_error(meta_dir + ": no metadata files (<batch>.npy)");
  std::sort(metas.begin(), metas.end());
  std::vector<PathfinderRecord> recs;
  std::vector<std::string> sources;
  for (const auto& [n, p] : metas) {
    auto r = read_pathfinder_metadata(p, base);
    recs.insert(recs.end(), r.begin(), r.end());
    sources.push_back(p);
  }
  // The cache key covers every image (its size and time): a changed or replaced image rebuilds the cache.
  std::vector<std::string> present;
  std::vector<std::string> missing;
  for (const auto& r : recs) (fs::exists(r.image) ? present : missing).push_back(r.image);
  std::ostringstream key;
  key << o.name << " v1 difficulty=" << o.difficulty << " resolution=" << R << " val=" << o.val_fraction
      << " test=" << o.test_fraction << " seed=" << o.split_seed << " limit_train=" << o.limit_train
      << " root=" << canonical_path(o.root);
  const std::string fp = "meta=" + fingerprint_files(sources) + " images=" + fingerprint_files(present) +
                         " missing=" + std::to_string(missing.size());
  ImageData d;
  d.name = o.name;
  d.n_classes = 2;
  d.height = d.width = R;
  d.channels = 1;
  const Arrays a = cached(o.cache_dir, o.name, key.str(), fp, [&] {
    const int64_t n = static_cast<int64_t>(recs.size());
    at::Tensor pixels = at::zeros({n, L, 1}, at::kByte), y = at::empty({n}, at::kLong);
    std::vector<std::string> why(n);
    uint8_t* px = pixels.data_ptr<uint8_t>();
    int64_t* yp = y.data_ptr<int64_t>();
    at::parallel_for(0, n, 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        yp[i] = recs[i].label;
        try {
          if (!fs::exists(recs[i].image)) throw std::runtime_error(recs[i].image + ": no such image");
          read_png_gray_into(recs[i].image, R, R, px + i * L);
        } catch (const std::exception& ex) {
          why[i] = std::string(ex.what()) + " (listed at " + recs[i].where + ")";
        }
      }
    });
    std::vector<int64_t> ok;
    std::vector<std::string> skipped;
    for (int64_t i = 0; i < n; ++i) {
      if (why[i].empty()) ok.push_back(i);
      else skipped.push_back(why[i]);
    }
    if (ok.empty() || skipped.size() * 10 > recs.size()) {
      std::string first;
      for (size_t i = 0; i < std::min<size_t>(3, skipped.size()); ++i) first += "\n  " + skipped[i];
      throw std::runtime_error(o.name + ": " + std::to_string(skipped.size()) + " of " + std::to_string(n) +
                               " images listed in " + meta_dir + " are unreadable (more than 10 %: a wrong folder or "
                               "resolution?):" + first);
    }
    std::mt19937_64 rng(o.split_seed);
    std::shuffle(ok.begin(), ok.end(), rng);
    const int64_t m = static_cast<int64_t>(ok.size());
    const int64_t nv = static_cast<int64_t>(o.val_fraction * m), nt = static_cast<int64_t>(o.test_fraction * m);
    int64_t ntr = m - nv - nt;
    if (o.limit_train > 0) ntr = std::min(ntr, o.limit_train);
    auto rows = [&](int64_t from, int64_t count) {
      at::Tensor t = at::empty({count}, at::kLong);
      std::copy(ok.begin() + from, ok.begin() + from + count, t.data_ptr<int64_t>());
      return t;
    };
    return Arrays{{"pixels", pixels},
                  {"y", y},
                  {"train.rows", rows(0, ntr)},
                  {"val.rows", rows(m - nv - nt, nv)},
                  {"test.rows", rows(m - nt, nt)},
                  {"skipped", pack_strings(skipped)}};
  }, &d.from_cache);
  d.train = {a.at("pixels"), a.at("y"), a.at("train.rows")};
  d.val = {a.at("pixels"), a.at("y"), a.at("val.rows")};
  d.test = {a.at("pixels"), a.at("y"), a.at("test.rows")};
  d.skipped = unpack_strings(a.at("skipped"));
  return d;
}

}  // namespace ssm::data
