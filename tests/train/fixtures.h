// Small data files in the real formats, written for a test and removed after it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ssm::test {

// Writes an IDX file (uint8) with the given dims and data; gz: gzip-compressed.
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gz = false);
// A Fashion-MNIST-shaped data folder of n_train / n_test 28x28 images whose class c is learnable: brightness grows
// with c, plus noise. Deterministic for a seed.
void write_fashion_like(const std::filesystem::path& dir, int64_t n_train, int64_t n_test, uint32_t seed);

}  // namespace ssm::test
