// Shared test fixtures of ssm_tests: a temporary folder per test, error-message checks, and small data files in the
// real formats.
#pragma once

#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace ssm::test {

// A fresh folder for each test (removed afterwards), with a helper to write text files into it.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Writes `text` to dir/name (creating folders) and returns the path.
  std::string write(const std::string& name, const std::string& text);
  std::filesystem::path dir;
};


// Points SSM_CACHE (where PTD initializations are cached) at a folder of this test process, once.
void use_temp_cache();

// Writes an IDX file (uint8) with the given dims and data; gz: gzip-compressed.
void write_idx(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& data,
               bool gz = false);
// A Fashion-MNIST-shaped data folder of n_train / n_test 28x28 images whose class c is learnable: brightness grows
// with c, plus noise. Deterministic for a seed.
void write_fashion_like(const std::filesystem::path& dir, int64_t n_train, int64_t n_test, uint32_t seed);

// LRA-format folders of learnable, deterministic data (for the loaders' and the LRA configs' tests):
// aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt, n reviews per class and split: words drawn at random, positive
// reviews with more "good" and "great", negative ones with more "bad" and "awful", some UTF-8 characters.
void write_imdb_like(const std::filesystem::path& aclimdb, int64_t n_per_class, uint32_t seed);
// new_aan_pairs.{train,eval,test}.tsv with n_train / n_eval / n_test rows "label id1 id2 text1 text2" (label written
// 1.0 / 0.0): linked pairs share their topic word.
void write_aan_like(const std::filesystem::path& dir, int64_t n_train, int64_t n_eval, int64_t n_test, uint32_t seed);
// cifar-10-batches-bin: data_batch_1..5.bin with n_per_batch records each and test_batch.bin with n_test, 3073-byte
// records whose brightness grows with the class.
void write_cifar_like(const std::filesystem::path& dir, int64_t n_per_batch, int64_t n_test, uint32_t seed);

}  // namespace ssm::test
