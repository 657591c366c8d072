// Fuzz target: the IDX reader (src/data/fashion_mnist), gzip-compressed or plain.
// Failures must be std::runtime_error naming the file; what loads must hold exactly the declared number of bytes.
#include "data/fashion_mnist.h"
#include "fuzz_support.h"

#include <stdexcept>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ssm::data;
  const std::string path = ssm::fuzz::write_file("array.idx", ssm::fuzz::as_string(data, size));
  IdxArray a;
  try {
    a = read_idx(path);
  } catch (const std::runtime_error&) {
    return 0;
  }
  if (a.dims.empty() || a.dims.size() > 4) ssm::fuzz::broken("dimension count");
  unsigned __int128 count = 1;
  for (const int64_t d : a.dims) {
    if (d < 0) ssm::fuzz::broken("negative dimension");
    count *= static_cast<unsigned __int128>(d);
  }
  if (count != a.data.size()) ssm::fuzz::broken("data size differs from the declared dimensions");
  return 0;
}
