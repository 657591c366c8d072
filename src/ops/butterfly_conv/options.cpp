#include "ops/butterfly_conv/options.h"

#include <c10/util/Exception.h>

#include <cstdlib>
#include <sstream>

namespace ssm::ops {
namespace {

constexpr const char* kWhere = "ssm::butterfly_conv: environment variable SSM_BUTTERFLY";
constexpr const char* kFields = "rows, schedule, bf16, float32, chunk_bytes";

// The index of `value` among `allowed` (|-separated), or an error naming the field.
int choice(const std::string& field, const std::string& value, const std::string& allowed) {
  std::istringstream in(allowed);
  std::string item;
  for (int i = 0; std::getline(in, item, '|'); ++i)
    if (item == value) return i;
  std::string list;
  for (const char c : allowed) list += c == '|' ? std::string(", ") : std::string(1, c);
  TORCH_CHECK(false, kWhere, ": field '", field, "' must be one of ", list, ", got '", value, "'");
  return -1;
}

}  // namespace

ButterflyOptions parse_butterfly_options(const std::string& spec) {
  ButterflyOptions o;
  std::istringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    TORCH_CHECK(eq != std::string::npos, kWhere, ": '", item, "' is not key=value (fields: ", kFields, ")");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "rows") {
      o.rows = static_cast<ButterflyOptions::Rows>(choice(key, value, "auto|real|single|paired"));
    } else if (key == "schedule") {
      o.schedule = static_cast<ButterflyOptions::Schedule>(choice(key, value, "auto|fused|staged"));
    } else if (key == "bf16") {
      o.bf16_tensor_cores = choice(key, value, "cuda_cores|tensor_cores") == 1;
    } else if (key == "float32") {
      o.float32_tensor_cores = choice(key, value, "cuda_cores|tensor_cores") == 1;
    } else if (key == "chunk_bytes") {
      char* end = nullptr;
      const long long bytes = std::strtoll(value.c_str(), &end, 10);
      TORCH_CHECK(!value.empty() && *end == '\0' && bytes >= 0, kWhere, ": field 'chunk_bytes' must be a ",
                  "non-negative number of bytes (0: the device's default), got '", value, "'");
      o.chunk_bytes = bytes;
    } else {
      TORCH_CHECK(false, kWhere, ": unknown field '", key, "' (fields: ", kFields, ")");
    }
  }
  return o;
}

ButterflyOptions butterfly_options() {
  for (const char* old : {"SSM_BUTTERFLY_ROWS", "SSM_BUTTERFLY_SCHEDULE", "SSM_BUTTERFLY_BF16", "SSM_BUTTERFLY_FLOAT32",
                          "SSM_BUTTERFLY_CHUNK_BYTES"}) {
    const char* v = std::getenv(old);
    TORCH_CHECK(v == nullptr || *v == '\0', "ssm::butterfly_conv: environment variable ", old,
                " is no longer read; set its field in SSM_BUTTERFLY instead (fields: ", kFields,
                "; e.g. SSM_BUTTERFLY=rows=real,schedule=staged)");
  }
  const char* spec = std::getenv("SSM_BUTTERFLY");
  return parse_butterfly_options(spec == nullptr ? "" : spec);
}

}  // namespace ssm::ops
