#include "io/torch_file.h"

#include "io/atomic_write.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <stdexcept>
#include <vector>

namespace ssm::io {

void save_torch_file(const std::filesystem::path& path, const c10::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* p, size_t n) { pickled.insert(pickled.end(), p, p + n); }, nullptr,
                              nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  write_atomically(path, [&](const std::string& tmp) {
    try {
      caffe2::serialize::PyTorchStreamWriter writer(tmp);
      torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
      writer.writeEndOfFile();
    } catch (const c10::Error& e) {
      throw std::runtime_error(e.what_without_backtrace());
    }
  });
}

}  // namespace ssm::io
