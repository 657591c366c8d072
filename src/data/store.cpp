#include "data/store.h"

#include "io/atomic_write.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/zeros.h>
#include <c10/util/Exception.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace ssm::data {
namespace fs = std::filesystem;

// ---- RaggedTokens -----------------------------------------------------------------------------------------------

int64_t RaggedTokens::length(int64_t i) const {
  const int64_t* o = offsets.data_ptr<int64_t>();
  return o[i + 1] - o[i];
}

int64_t RaggedTokens::max_length() const {
  int64_t m = 0;
  for (int64_t i = 0; i < size(); ++i) m = std::max(m, length(i));
  return m;
}

namespace {

template <typename T>
void copy_rows(const RaggedTokens& r, const int64_t* idx, int64_t B, int64_t L, int64_t* out, int64_t* lengths) {
  const T* v = r.values.data_ptr<T>();
  const int64_t* o = r.offsets.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = idx[b], n = o[i + 1] - o[i];
    int64_t* row = out + b * L;
    for (int64_t j = 0; j < n; ++j) row[j] = static_cast<int64_t>(v[o[i] + j]) + r.shift;
    lengths[b] = n;
  }
}

}  // namespace

std::pair<at::Tensor, at::Tensor> RaggedTokens::gather(const at::Tensor& index, int64_t min_length) const {
  const at::Tensor idx = index.to(at::kLong).contiguous();
  const int64_t B = idx.numel(), n = size();
  const int64_t* ip = idx.data_ptr<int64_t>();
  int64_t L = std::max<int64_t>(min_length, 1);
  for (int64_t b = 0; b < B; ++b) {
    TORCH_CHECK(ip[b] >= 0 && ip[b] < n, "RaggedTokens::gather: row ", ip[b], " is outside [0, ", n, ")");
    L = std::max(L, length(ip[b]));
  }
  at::Tensor x = at::zeros({B, L}, at::kLong), lengths = at::empty({B}, at::kLong);
  if (values.scalar_type() == at::kByte)
    copy_rows<uint8_t>(*this, ip, B, L, x.data_ptr<int64_t>(), lengths.data_ptr<int64_t>());
  else
    copy_rows<int16_t>(*this, ip, B, L, x.data_ptr<int64_t>(), lengths.data_ptr<int64_t>());
  return {x, lengths};
}

RaggedTokens RaggedTokens::take(const at::Tensor& index) const {
  const at::Tensor idx = index.to(at::kLong).contiguous();
  const int64_t* ip = idx.data_ptr<int64_t>();
  const int64_t* o = offsets.data_ptr<int64_t>();
  const int64_t B = idx.numel();
  int64_t total = 0;
  for (int64_t b = 0; b < B; ++b) {
    TORCH_CHECK(ip[b] >= 0 && ip[b] < size(), "RaggedTokens::take: row ", ip[b], " is outside [0, ", size(), ")");
    total += o[ip[b] + 1] - o[ip[b]];
  }
  RaggedTokens r;
  r.shift = shift;
  r.values = at::empty({total}, values.options());
  r.offsets = at::empty({B + 1}, at::kLong);
  int64_t* ro = r.offsets.data_ptr<int64_t>();
  const size_t item = values.element_size();
  const char* src = static_cast<const char*>(values.data_ptr());
  char* dst = static_cast<char*>(r.values.data_ptr());
  ro[0] = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = o[ip[b] + 1] - o[ip[b]];
    std::memcpy(dst + ro[b] * item, src + o[ip[b]] * item, n * item);
    ro[b + 1] = ro[b] + n;
  }
  return r;
}

RaggedBuilder::RaggedBuilder(int64_t shift, int64_t max_id)
    : shift_(shift), max_id_(max_id), wide_(max_id - shift > 255) {
  if (max_id - shift > 32767 || max_id < shift)
    throw std::invalid_argument("RaggedBuilder: ids [" + std::to_string(shift) + ", " + std::to_string(max_id) +
                                "] do not fit 16 bits");
  offsets_.push_back(0);
}

void RaggedBuilder::add(const int32_t* ids, int64_t n) {
  for (int64_t j = 0; j < n; ++j)
    if (ids[j] < shift_ || ids[j] > max_id_)
      throw std::invalid_argument("RaggedBuilder: token id " + std::to_string(ids[j]) + " outside [" +
                                  std::to_string(shift_) + ", " + std::to_string(max_id_) + "]");
  for (int64_t j = 0; j < n; ++j) {
    if (wide_) wide_values_.push_back(static_cast<int16_t>(ids[j] - shift_));
    else narrow_.push_back(static_cast<uint8_t>(ids[j] - shift_));
  }
  offsets_.push_back(offsets_.back() + n);
}

void RaggedBuilder::add_bytes(const uint8_t* bytes, int64_t n) {
  if (max_id_ - shift_ < 255) throw std::invalid_argument("RaggedBuilder::add_bytes: ids are narrower than bytes");
  if (wide_) wide_values_.insert(wide_values_.end(), bytes, bytes + n);
  else narrow_.insert(narrow_.end(), bytes, bytes + n);
  offsets_.push_back(offsets_.back() + n);
}

namespace {

// A tensor that owns `v` (moved onto the heap) without copying it.
template <typename T>
at::Tensor own(std::vector<T>&& v, at::ScalarType type) {
  auto* held = new std::vector<T>(std::move(v));
  if (held->empty()) {
    delete held;
    return at::empty({0}, type);
  }
  return at::from_blob(held->data(), {static_cast<int64_t>(held->size())}, [held](void*) { delete held; },
                       at::TensorOptions().dtype(type));
}

}  // namespace

RaggedTokens RaggedBuilder::finish() {
  RaggedTokens r;
  r.shift = shift_;
  r.values = wide_ ? own(std::move(wide_values_), at::kShort) : own(std::move(narrow_), at::kByte);
  r.offsets = own(std::move(offsets_), at::kLong);
  wide_values_.clear();
  narrow_.clear();
  offsets_.assign(1, 0);
  return r;
}

// ---- Cache files ------------------------------------------------------------------------------------------------
namespace {

// Version 2: strings are packed with a length before each (any byte, NUL included, may occur in them).
constexpr char kMagic[8] = {'S', 'S', 'M', 'D', 'A', 'T', 'A', '2'};
constexpr uint64_t kAlign = 64;

const char* dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kByte: return "u8";
    case at::kShort: return "i16";
    case at::kInt: return "i32";
    case at::kLong: return "i64";
    case at::kFloat: return "f32";
    case at::kDouble: return "f64";
    default: throw std::invalid_argument("write_cache: unsupported dtype " + std::string(c10::toString(t)));
  }
}

std::optional<at::ScalarType> dtype_of(const std::string& s) {
  if (s == "u8") return at::kByte;
  if (s == "i16") return at::kShort;
  if (s == "i32") return at::kInt;
  if (s == "i64") return at::kLong;
  if (s == "f32") return at::kFloat;
  if (s == "f64") return at::kDouble;
  return std::nullopt;
}

uint64_t align(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

struct Mapping {
  void* p = nullptr;
  size_t n = 0;
  ~Mapping() {
    if (p && p != MAP_FAILED) ::munmap(p, n);
  }
};

}  // namespace

void write_cache(const std::string& path, const std::string& key, const Arrays& arrays) {
  if (key.find('\n') != std::string::npos) throw std::invalid_argument("write_cache: the key holds a line break");
  // The header names every array with its place; its length is fixed before the offsets are, so lay it out twice.
  std::vector<std::pair<std::string, at::Tensor>> items;
  for (const auto& [name, t] : arrays) {
    if (name.empty() || name.find_first_of(" \n") != std::string::npos)
      throw std::invalid_argument("write_cache: bad array name '" + name + "'");
    items.emplace_back(name, t.contiguous().cpu());
  }
  auto header_for = [&](uint64_t data_start) {
    std::ostringstream h;
    h << "key " << key << "\n";
    uint64_t at = data_start;
    for (const auto& [name, t] : items) {
      at = align(at);
      h << "array " << name << " " << dtype_name(t.scalar_type()) << " " << at << " " << t.nbytes();
      for (int64_t d : t.sizes()) h << " " << d;
      h << "\n";
      at += t.nbytes();
    }
    return h.str();
  };
  // The arrays start after the header and some slack for the digits of their offsets; the gap is zeros.
  const uint64_t start = align(16 + header_for(0).size() + 256);
  const std::string header = header_for(start);
  if (16 + header.size() > start) throw std::logic_error("write_cache: header layout");
  fs::create_directories(fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path());
  io::write_atomically(path, [&](const std::string& tmp) {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) io::cannot_write(tmp, std::strerror(errno));
    const uint64_t hlen = header.size();
    f.write(kMagic, 8);
    for (int i = 0; i < 8; ++i) f.put(static_cast<char>((hlen >> (8 * i)) & 0xFF));
    f << header;
    uint64_t pos = 16 + hlen;
    const std::string gap(start - pos, '\0');
    f.write(gap.data(), static_cast<std::streamsize>(gap.size()));
    pos = start;
    const std::string zeros(kAlign, '\0');
    for (const auto& [name, t] : items) {
      const uint64_t at = align(pos);
      f.write(zeros.data(), static_cast<std::streamsize>(at - pos));
      f.write(static_cast<const char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
      pos = at + t.nbytes();
    }
    if (!f.flush()) io::cannot_write(tmp, std::strerror(errno));
  });
}

std::optional<Arrays> map_cache(const std::string& path, const std::string& key, std::string* why) {
  auto fail = [&](const std::string& w) -> std::optional<Arrays> {
    if (why) *why = w;
    return std::nullopt;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("absent");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 16) {
    ::close(fd);
    return fail("damaged (shorter than its header)");
  }
  auto m = std::make_shared<Mapping>();
  m->n = static_cast<size_t>(st.st_size);
  m->p = ::mmap(nullptr, m->n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m->p == MAP_FAILED) return fail(std::string("cannot be mapped: ") + std::strerror(errno));
  const char* base = static_cast<const char*>(m->p);
  if (std::memcmp(base, kMagic, 7) == 0 && base[7] != kMagic[7])
    return fail("stale (written by another version of ssm)");
  if (std::memcmp(base, kMagic, 8) != 0) return fail("damaged (not an ssm cache file)");
  uint64_t hlen = 0;
  for (int i = 0; i < 8; ++i) hlen |= static_cast<uint64_t>(static_cast<unsigned char>(base[8 + i])) << (8 * i);
  if (hlen > m->n - 16) return fail("damaged (header past the end)");
  std::istringstream h(std::string(base + 16, hlen));
  std::string line;
  if (!std::getline(h, line) || line.rfind("key ", 0) != 0) return fail("damaged (no key)");
  if (line.substr(4) != key) return fail("stale (written for other sources or options)");
  Arrays out;
  while (std::getline(h, line)) {
    std::istringstream l(line);
    std::string word, name, dt;
    uint64_t at = 0, bytes = 0;
    if (!(l >> word >> name >> dt >> at >> bytes) || word != "array") return fail("damaged (bad header line)");
    std::vector<int64_t> dims;
    for (int64_t d; l >> d;) {
      if (d < 0) return fail("damaged (negative size)");
      dims.push_back(d);
    }
    const auto type = dtype_of(dt);
    if (!type) return fail("damaged (unknown dtype " + dt + ")");
    uint64_t count = 1;
    for (int64_t d : dims) count *= static_cast<uint64_t>(d);
    if (count * c10::elementSize(*type) != bytes || at % kAlign != 0 || at > m->n || bytes > m->n - at)
      return fail("damaged (array " + name + " does not fit the file: truncated?)");
    out[name] = at::from_blob(const_cast<char*>(base) + at, dims, [m](void*) {}, at::TensorOptions().dtype(*type));
  }
  return out;
}

uint64_t fnv1a(const std::string& s, uint64_t h) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string hex64(uint64_t h) {
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
  return b;
}

std::string fingerprint_files(const std::vector<std::string>& paths) {
  uint64_t h = fnv1a("files");
  for (const auto& p : paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) throw std::runtime_error(p + ": " + std::strerror(errno));
    h = fnv1a(p + "|" + std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
                  std::to_string(st.st_mtim.tv_nsec) + "\n",
              h);
  }
  return hex64(h);
}

std::string cache_path(const std::string& dir, const std::string& name, const std::string& key) {
  if (dir == "none") return "";
  std::string d = dir;
  if (d.empty()) {
    // The same folder as the PTD initializations' cache (layers/ptd.h: default_cache_dir).
    if (const char* e = std::getenv("SSM_CACHE"); e && *e) d = e;
    else if (const char* home = std::getenv("HOME"); home && *home) d = std::string(home) + "/.cache/ssm";
    else d = "/tmp/ssm-cache";
  }
  return d + "/" + name + "-" + hex64(fnv1a(key)) + ".bin";
}

Arrays cached(const std::string& path, const std::string& key, const std::function<Arrays()>& build,
              bool* from_cache) {
  if (!path.empty()) {
    std::string why;
    if (auto a = map_cache(path, key, &why)) {
      if (from_cache) *from_cache = true;
      return *a;
    }
    if (why != "absent") std::fprintf(stderr, "ssm: data cache %s is %s: rebuilding it\n", path.c_str(), why.c_str());
  }
  if (from_cache) *from_cache = false;
  Arrays a = build();
  if (!path.empty()) {
    try {
      write_cache(path, key, a);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ssm: data cache not written (the data are used as loaded): %s\n", e.what());
    }
  }
  return a;
}

Arrays cached(const std::string& dir, const std::string& name, const std::string& identity, const std::string& sources,
              const std::function<Arrays()>& build, bool* from_cache) {
  return cached(cache_path(dir, name, identity), identity + " sources=" + sources, build, from_cache);
}

std::string read_bounded(const std::string& path, size_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error(path + ": cannot open");
  std::string s;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    s.append(buf, static_cast<size_t>(f.gcount()));
    if (s.size() > max_bytes)
      throw std::runtime_error(path + ": larger than " + std::to_string(max_bytes >> 20) +
                               " MiB: not a file of this format?");
  }
  if (f.bad()) throw std::runtime_error(path + ": read error");
  return s;
}

std::string canonical_path(const std::string& p) {
  std::error_code ec;
  const fs::path c = fs::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

// Each string as a 4-byte little-endian length and its bytes, so that any byte may occur in one.
at::Tensor pack_strings(const std::vector<std::string>& s) {
  std::string all;
  for (const auto& x : s) {
    if (x.size() > 0xffffffffull) throw std::invalid_argument("pack_strings: a string longer than 4 GiB");
    const auto n = static_cast<uint32_t>(x.size());
    for (int i = 0; i < 4; ++i) all += static_cast<char>((n >> (8 * i)) & 0xff);
    all += x;
  }
  at::Tensor t = at::empty({static_cast<int64_t>(all.size())}, at::kByte);
  if (!all.empty()) std::memcpy(t.data_ptr<uint8_t>(), all.data(), all.size());
  return t;
}

std::vector<std::string> unpack_strings(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const auto n = static_cast<size_t>(c.numel());
  const unsigned char* p = n ? c.data_ptr<uint8_t>() : nullptr;
  std::vector<std::string> out;
  size_t i = 0;
  while (i < n) {
    if (n - i < 4) throw std::runtime_error("unpack_strings: damaged (a length cut short)");
    uint32_t len = 0;
    for (int k = 0; k < 4; ++k) len |= static_cast<uint32_t>(p[i + k]) << (8 * k);
    i += 4;
    if (len > n - i) throw std::runtime_error("unpack_strings: damaged (a string past the end)");
    out.emplace_back(reinterpret_cast<const char*>(p + i), len);
    i += len;
  }
  return out;
}

}  // namespace ssm::data
