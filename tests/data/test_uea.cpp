// The UEA/UCR .ts reader: header keys in any case, multivariate cases of unequal lengths, string labels, missing
// values and the fill rule; every malformed variant with its file and line.
#include "data/uea.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace ssm::data {
namespace {

class Uea : public test::TempDirTest {};

const char* kHeader =
    "# a comment\n"
    "#\n"
    "@problemName Toy\n"
    "@TIMESTAMPS false\n"
    "@missing true\n"
    "@univariate false\n"
    "@dimensions 2\n"
    "@equalLength false\n"
    "@classLabel true walk run\n"
    "@data\n";

TEST_F(Uea, ReadsCasesOfUnequalLengthsWithMissingValues) {
  const std::string path = write("Toy_TRAIN.ts", std::string(kHeader) +
                                                     "1,2,3:4,5,6:run\n"
                                                     "\n"
                                                     "0.5,?:-1,2e-1:walk\r\n"
                                                     "7,8,9,10:?,?,3,?:run\n");
  const TsFile t = read_ts(path);
  EXPECT_EQ(t.problem, "Toy");
  EXPECT_EQ(t.labels, (std::vector<std::string>{"walk", "run"}));
  ASSERT_EQ(t.x.sizes(), (torch::IntArrayRef{3, 4, 2}));
  EXPECT_TRUE(torch::equal(t.lengths, torch::tensor({3, 2, 4})));
  EXPECT_TRUE(torch::equal(t.y, torch::tensor({1, 0, 1})));
  EXPECT_FLOAT_EQ(t.x[0][2][1].item<float>(), 6);
  EXPECT_FLOAT_EQ(t.x[1][1][1].item<float>(), 0.2f);
  EXPECT_TRUE(std::isnan(t.x[1][1][0].item<float>()));
  EXPECT_FLOAT_EQ(t.x[0][3][0].item<float>(), 0);  // padding
  // The fill rule: last observed value, leading gaps from the first observed one; padding stays 0.
  at::Tensor x = t.x.clone();
  fill_missing(x, t.lengths);
  EXPECT_FLOAT_EQ(x[1][1][0].item<float>(), 0.5f);
  EXPECT_TRUE(torch::equal(x[2].select(1, 1), torch::tensor({3.f, 3.f, 3.f, 3.f})));
  EXPECT_FLOAT_EQ(x[1][2][0].item<float>(), 0);
  at::Tensor none = torch::full({1, 3, 1}, NAN);
  fill_missing(none, torch::tensor({2}));
  EXPECT_TRUE(torch::equal(none.narrow(1, 0, 2), torch::zeros({1, 2, 1})));
  // A test file maps its labels into the training file's list.
  const TsFile test = read_ts(write("Toy_TEST.ts", "@dimensions 2\n@classLabel true run walk\n@data\n1:2:walk\n"), t.labels);
  EXPECT_EQ(test.y[0].item<int64_t>(), 0);
}

TEST_F(Uea, MalformedFilesNameFileAndLine) {
  const std::string h = kHeader;
  test::expect_error([&] { read_ts(write("dims.ts", h + "1,2:3,4:run\n1,2:run\n")); },
                     {"dims.ts:12:", "expected 2 dimensions and a class label", "got 2 fields"});
  test::expect_error([&] { read_ts(write("label.ts", h + "1,2:3,4:jump\n")); },
                     {"label.ts:11:", "class label 'jump'", "(walk run)"});
  test::expect_error([&] { read_ts(write("nodata.ts", "@problemName X\n@classLabel true a b\n")); },
                     {"nodata.ts", "no @data line"});
  test::expect_error([&] { read_ts(write("value.ts", h + "1,2:3,abc:run\n")); },
                     {"value.ts:11:", "dimension 2, value 2", "'abc'"});
  test::expect_error([&] { read_ts(write("empty.ts", h)); }, {"empty.ts", "no cases after @data"});
  test::expect_error([&] { read_ts(write("nolabels.ts", "@dimensions 1\n@data\n1,2:a\n")); },
                     {"nolabels.ts:2:", "before @classLabel"});
  test::expect_error([&] { read_ts(write("key.ts", "@colour blue\n")); }, {"key.ts:1:", "unknown header key @colour"});
  test::expect_error([&] { read_ts(write("known.ts", "@dimensions 1\n@classLabel true a\n@data\n1:a\n"), {"x", "y"}); },
                     {"known.ts:4:", "class label 'a'", "(x y)"});
  // Found by fuzzing: a first case of a label only (no @dimensions) was read as cases of no dimensions.
  test::expect_error([&] { read_ts(write("labelonly.ts", "@classLabel true 1 2\n@data\n2\n1,2:1\n")); },
                     {"labelonly.ts:3:", "expected values and a class label separated by ':'", "got '2'"});
  // A NUL byte inside a value ended the number early (as in the CSV reader, found by fuzzing there).
  test::expect_error([&] { read_ts(write("nul.ts", h + std::string("1,2\0" "7:3,4:run\n", 14))); },
                     {"nul.ts:11:", "dimension 1, value 2"});
  // Found by fuzzing (tests/fuzz): a dimension count past int64 overflowed in the field count check.
  for (const std::string n : {"99999999999999999999", "9223372036854775807", "0", "-3", "2x"})
    test::expect_error([&] { read_ts(write("dimcount.ts", "@dimensions " + n + "\n@classLabel true 1\n@data\n1:1\n")); },
                       {"dimcount.ts:1:", "@dimensions needs a positive integer up to", "'" + n + "'"});
  // Cases padded to the longest one: refused with the size they would take, before it is allocated.
  std::string many = "@classLabel true 1\n@data\n";
  for (int i = 0; i < 40000; ++i) many += "1:1\n";
  for (int i = 0; i < 60000; ++i) many += "2,";
  many += "3:1\n";
  test::expect_error([&] { read_ts(write("pad.ts", many)); },
                     {"pad.ts", "40001 cases", "longest case (line 40003, 60001 values)", "GiB", "more than"});
  EXPECT_NO_THROW(read_ts(write("pad.ts", "@classLabel true 1\n@data\n1:1\n1,2,3:1\n")));
}

TEST(UeaRealData, BasicMotionsAndJapaneseVowels) {
  const std::string root = std::string(SSM_SOURCE_DIR) + "/../shared/data/uea/";
  if (!std::filesystem::exists(root)) GTEST_SKIP() << root << " is not on this machine";
  const TsFile bm = read_ts(root + "BasicMotions_TRAIN.ts");
  EXPECT_EQ(bm.x.sizes(), (torch::IntArrayRef{40, 100, 6}));
  EXPECT_EQ(bm.labels.size(), 4u);
  const TsFile jv = read_ts(root + "JapaneseVowels_TRAIN.ts");
  EXPECT_EQ(jv.x.size(0), 270);
  EXPECT_EQ(jv.x.size(2), 12);
  EXPECT_EQ(jv.lengths.min().item<int64_t>(), 7);
  EXPECT_EQ(jv.lengths.max().item<int64_t>(), 26);
  EXPECT_EQ(jv.labels.size(), 9u);
}

}  // namespace
}  // namespace ssm::data
