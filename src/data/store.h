// Compact storage for data sets of Long Range Arena size: ragged token sequences held in their smallest integer type
// and padded per batch, fixed-size images as uint8, and a cache file that holds a prepared data set as named arrays
// which later runs map from disk instead of parsing the sources again.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssm::data {

// n sequences of token ids, concatenated: sequence i is values[offsets[i] : offsets[i + 1]] + shift. Ids are >= 1 so
// that 0 stays the padding id.
struct RaggedTokens {
  at::Tensor values;   // (total) kByte when every stored value fits 0-255, else kShort
  at::Tensor offsets;  // (n + 1) int64, offsets[0] = 0
  int64_t shift = 0;   // added to every stored value (byte-level text stores the byte and shifts by 1)

  int64_t size() const { return offsets.defined() ? offsets.numel() - 1 : 0; }
  int64_t length(int64_t i) const;
  int64_t max_length() const;
  // Rows `index` ((B) int64): (B, L) int64 ids right-padded with 0 and (B) int64 lengths, L the longest of the rows
  // (at least min_length).
  std::pair<at::Tensor, at::Tensor> gather(const at::Tensor& index, int64_t min_length = 1) const;
  RaggedTokens take(const at::Tensor& index) const;  // a new store of rows `index`
};

// Builds a RaggedTokens one sequence at a time, in its final type: uint8 when every id - shift fits 0-255 (max_id -
// shift <= 255), else int16 (ids up to shift + 32767). The values go into the tensor without a copy.
class RaggedBuilder {
 public:
  RaggedBuilder(int64_t shift, int64_t max_id);
  void add(const int32_t* ids, int64_t n);  // each id in [shift, max_id], else std::invalid_argument
  void add(const std::vector<int32_t>& ids) { add(ids.data(), static_cast<int64_t>(ids.size())); }
  void add_bytes(const uint8_t* bytes, int64_t n);  // stored as they are (id = byte + shift); needs max_id - shift >= 255
  int64_t size() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  RaggedTokens finish();

 private:
  int64_t shift_, max_id_;
  bool wide_;
  std::vector<uint8_t> narrow_;
  std::vector<int16_t> wide_values_;
  std::vector<int64_t> offsets_;
};

// ---- The cache file ---------------------------------------------------------------------------------------------
// A file of named arrays: the magic "SSMDATA2" (a cache of another version is rebuilt), the header's length (8 bytes,
// little endian), a text header ("key <the source fingerprint>" and one "array <name> <dtype> <offset> <bytes>
// <dims...>" line per array), then the arrays, each at an offset aligned to 64 bytes. Mapped read-only-shared from disk (copy-on-write), so that a data set of
// several GB costs resident memory only for the pages a run touches.
using Arrays = std::map<std::string, at::Tensor>;

// Writes the arrays atomically (path.tmp, then renamed), so that a failure leaves the old cache, if any, as it was.
void write_cache(const std::string& path, const std::string& key, const Arrays& arrays);
// The arrays of the cache at `path` when it exists, is complete and was written for `key`; nullopt otherwise
// (absent, stale or damaged: the caller rebuilds it; `why` says which).
std::optional<Arrays> map_cache(const std::string& path, const std::string& key, std::string* why = nullptr);

// Where a task's cache lives: dir/<name>-<16 hex digits of a hash of key>.bin. dir "" means $SSM_CACHE, else
// $HOME/.cache/ssm (where the PTD initializations are cached too); "none" disables caching (returns "").
std::string cache_path(const std::string& dir, const std::string& name, const std::string& key);

// A fingerprint of source files for a cache key: each file's path, size and modification time, hashed (FNV-1a, 64
// bits) into 16 hex digits. A missing file is an error naming it.
std::string fingerprint_files(const std::vector<std::string>& paths);
std::string hex64(uint64_t h);
uint64_t fnv1a(const std::string& s, uint64_t h = 1469598103934665603ull);

// Loads through a cache: the arrays from `path` when it is valid for `key`, else build() and (path non-empty) write
// them there. `from_cache` says which happened; a cache that cannot be written is reported on stderr, not an error.
Arrays cached(const std::string& path, const std::string& key, const std::function<Arrays()>& build,
              bool* from_cache = nullptr);
// The same with the file named by `identity` (the task, its options and the data's folder) and the key `identity` +
// `sources` (a fingerprint of the source files): a changed source rebuilds the same file rather than adding one.
Arrays cached(const std::string& dir, const std::string& name, const std::string& identity, const std::string& sources,
              const std::function<Arrays()>& build, bool* from_cache = nullptr);

// The bytes of a file of at most max_bytes (more is an error naming the file: not a file of the expected format).
std::string read_bounded(const std::string& path, size_t max_bytes);
// `p` made absolute and normal (symbolic links resolved where they exist), for cache identities; `p` on failure.
std::string canonical_path(const std::string& p);

// Strings as one uint8 array (each a 4-byte little-endian length, then its bytes; any byte, NUL too, may occur) and
// back: vocabularies inside a cache. unpack_strings throws std::runtime_error on a damaged array.
at::Tensor pack_strings(const std::vector<std::string>& s);
std::vector<std::string> unpack_strings(const at::Tensor& t);

}  // namespace ssm::data
