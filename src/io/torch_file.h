// Files that Python opens without ssm: torch.save's format (a zip archive of data.pkl and one record per tensor),
// pickled without the TorchScript type tags that torch.load(path, weights_only=True) refuses. Written atomically.
#pragma once

#include <ATen/core/ivalue.h>

#include <filesystem>

namespace ssm::io {

// value: dicts with string keys, lists, strings, numbers, bools and CPU tensors.
void save_torch_file(const std::filesystem::path& path, const c10::IValue& value);

}  // namespace ssm::io
