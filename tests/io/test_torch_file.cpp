// io::save_torch_file: the values read back, and the layer references that the Python package's tests compare
// ssm.nn against (tests/package/test_installed.py): each layer's options, weights, an input and the C++ output, in
// SSM_LAYER_REFERENCE_DIR (ctest sets it; a temporary folder otherwise).
#include "io/torch_file.h"
#include "layers/chimera.h"
#include "layers/long_conv.h"
#include "layers/mamba.h"
#include "layers/s4d.h"
#include "layers/s5.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace ssm {
namespace {

namespace fs = std::filesystem;

class TorchFile : public test::TempDirTest {
 protected:
  // Where the files go: SSM_LAYER_REFERENCE_DIR when set (kept for the Python tests), else the test's own folder.
  fs::path out_dir() const {
    const char* env = std::getenv("SSM_LAYER_REFERENCE_DIR");
    if (!env || !*env) return dir;
    fs::create_directories(env);
    return env;
  }
};

c10::IValue read_back(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes);
}

TEST_F(TorchFile, ValuesReadBack) {
  const fs::path path = out_dir() / "values.pt";
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  const torch::Tensor t = torch::randn({3, 4}, torch::kDouble), s = torch::randn({5}).slice(0, 1, 4);
  c10::Dict<std::string, at::Tensor> tensors;
  tensors.insert("t", t);
  tensors.insert("s", s.contiguous());
  d.insert("tensors", c10::IValue(tensors));
  d.insert("text", c10::IValue(std::string("a: 1\nb: [2, 3]\n")));
  d.insert("n", c10::IValue(int64_t{-7}));
  io::save_torch_file(path, c10::IValue(d));
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));
  const auto back = read_back(path).toGenericDict();
  EXPECT_EQ(back.at("text").toStringRef(), "a: 1\nb: [2, 3]\n");
  EXPECT_EQ(back.at("n").toInt(), -7);
  const auto bt = back.at("tensors").toGenericDict();
  EXPECT_TRUE(torch::equal(bt.at("t").toTensor(), t));
  EXPECT_TRUE(torch::equal(bt.at("s").toTensor(), s));
}

TEST_F(TorchFile, AFailedWriteNamesTheFile) {
  const fs::path path = out_dir() / "no-such-folder" / "x.pt";
  try {
    io::save_torch_file(path, c10::IValue(int64_t{1}));
    FAIL() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

// A {str: value} dict for a file.
c10::impl::GenericDict dict(std::initializer_list<std::pair<std::string, c10::IValue>> items) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [key, value] : items) d.insert(key, value);
  return d;
}

// Moves every weight by noise of this scale, away from the initialization's constants, so that every weight matters.
void perturb(torch::nn::Module& layer, double scale) {
  torch::NoGradGuard g;
  for (auto& p : layer.parameters()) p.add_(torch::randn_like(p) * scale);
}

c10::impl::GenericDict reference(torch::nn::Module& layer, const std::string& kind,
                                 const c10::impl::GenericDict& options, const torch::Tensor& u,
                                 const torch::Tensor& y) {
  c10::Dict<std::string, at::Tensor> weights;
  for (const auto& p : layer.named_parameters()) weights.insert(p.key(), p.value().detach().clone());
  for (const auto& b : layer.named_buffers()) weights.insert(b.key(), b.value().detach().clone());
  return dict({{"layer", kind}, {"options", options}, {"state_dict", weights}, {"input", u}, {"output", y.detach()}});
}

// Runs `layer` in eval mode on u, writes its reference file (with `extra` entries, e.g. the forward's context) and
// checks that it reads back.
template <class Layer>
void write_reference(const fs::path& path, const std::string& kind, Layer& layer, const c10::impl::GenericDict& options,
                     const torch::Tensor& u, const layers::SequenceContext& ctx = {},
                     const c10::impl::GenericDict& extra = dict({})) {
  layer->eval();
  const torch::Tensor y = layer->forward(u, ctx);
  auto d = reference(*layer, kind, options, u, y);
  for (const auto& e : extra) d.insert(e.key(), e.value());
  io::save_torch_file(path, c10::IValue(d));
  const auto back = read_back(path).toGenericDict();
  EXPECT_TRUE(torch::equal(back.at("output").toTensor(), y)) << path;
  EXPECT_EQ(back.at("state_dict").toGenericDict().size(), layer->named_parameters().size()) << path;
}

// The sizes and dt range of the S4D and S5 references (PTD cheap enough for a test).
template <class Options>
Options small_state_options() {
  Options o;
  o.d_model = 5;
  o.d_state = 6;
  o.dt_min = 0.01;
  o.dt_max = 0.5;
  o.ptd_iterations = 100;
  return o;
}

// S4D in each initialization, discretization and direction the Python layer has (ptd through its weights).
TEST_F(TorchFile, LayerReferencesForPython) {
  test::use_temp_cache();
  struct Case {
    std::string init, disc;
    bool bidir;
  };
  int index = 0;
  for (const Case& c : std::vector<Case>{{"lin", "zoh", false}, {"inv", "bilinear", true}, {"real", "zoh", true},
                                         {"legs", "bilinear", false}, {"ptd", "zoh", false},
                                         {"legt", "zoh", true}, {"fout", "bilinear", false}}) {
    torch::manual_seed(100 + index);
    auto o = small_state_options<layers::S4DOptions>();
    o.init = c.init;
    o.discretization = c.disc;
    o.bidirectional = c.bidir;
    layers::S4D layer(o);
    write_reference(out_dir() / ("s4d_" + std::to_string(index++) + "_" + c.init + ".pt"), "s4d", layer,
                    dict({{"d_model", o.d_model}, {"d_state", o.d_state}, {"init", o.init},
                          {"discretization", o.discretization}, {"bidirectional", o.bidirectional},
                          {"dt_min", o.dt_min}, {"dt_max", o.dt_max}}),
                    torch::randn({2, 11, 5}));
  }
}

// S5 (hippo_n in one and two blocks, both discretizations and directions; ptd through its weights) and long conv
// (fft and butterfly, learned factors shared and per channel, Smooth, Squash, both initializations).
TEST_F(TorchFile, LayerReferencesForPythonS5AndLongConv) {
  test::use_temp_cache();
  struct S5Case {
    std::string init, disc;
    int64_t blocks;
    bool bidir;
  };
  int index = 0;
  for (const S5Case& c : std::vector<S5Case>{{"hippo_n", "zoh", 1, false}, {"hippo_n", "bilinear", 2, true},
                                             {"ptd", "zoh", 2, false}}) {
    torch::manual_seed(200 + index);
    auto o = small_state_options<layers::S5Options>();
    o.blocks = c.blocks;
    o.init = c.init;
    o.discretization = c.disc;
    o.bidirectional = c.bidir;
    layers::S5 layer(o);
    write_reference(out_dir() / ("s5_" + std::to_string(index++) + "_" + c.init + ".pt"), "s5", layer,
                    dict({{"d_model", o.d_model}, {"d_state", o.d_state}, {"blocks", o.blocks}, {"init", o.init},
                          {"discretization", o.discretization}, {"bidirectional", o.bidirectional}}),
                    torch::randn({2, 13, 5}));
  }
  struct ConvCase {
    std::string conv, init;
    bool learn, per_channel, bidir;
    int64_t smooth, L;
  };
  index = 0;
  for (const ConvCase& c : std::vector<ConvCase>{{"fft", "randn", false, false, false, 0, 16},
                                                 {"fft", "double_exp", false, false, true, 2, 11},
                                                 {"butterfly", "double_exp", false, false, true, 1, 16},
                                                 {"butterfly", "randn", true, true, false, 0, 12},
                                                 {"butterfly", "double_exp", true, false, true, 1, 16}}) {
    torch::manual_seed(300 + index);
    layers::LongConvOptions o;
    o.d_model = 4;
    o.max_length = 16;
    o.lambda = 0.001;
    o.smooth = c.smooth;
    o.bidirectional = c.bidir;
    o.init = c.init;
    o.conv = c.conv;
    o.learn_butterfly = c.learn;
    o.butterfly_per_channel = c.per_channel;
    layers::LongConv layer(o);
    perturb(*layer, 0.05);  // away from the exact DFT and from the Squash threshold
    write_reference(out_dir() / ("longconv_" + std::to_string(index++) + "_" + c.conv + ".pt"), "longconv", layer,
                    dict({{"d_model", o.d_model}, {"max_length", o.max_length}, {"lambda_", o.lambda},
                          {"smooth", o.smooth}, {"bidirectional", o.bidirectional}, {"init", o.init},
                          {"conv", o.conv}, {"learn_butterfly", o.learn_butterfly},
                          {"butterfly_per_channel", o.butterfly_per_channel}}),
                    torch::randn({2, c.L, 4}));
  }
}

// Mamba, one and two directions (the second with ragged lengths), default and explicit dt_rank, with and without
// biases.
TEST_F(TorchFile, LayerReferencesForPythonMamba) {
  struct Case {
    bool bidir, bias;
    int64_t dt_rank;
  };
  int index = 0;
  for (const Case& c : std::vector<Case>{{false, false, 0}, {true, true, 2}, {true, false, 0}}) {
    torch::manual_seed(400 + index);
    layers::MambaOptions o;
    o.d_model = 6;
    o.d_state = 3;
    o.expand = 2;
    o.d_conv = 3;
    o.dt_rank = c.dt_rank;
    o.bias = c.bias;
    o.bidirectional = c.bidir;
    layers::Mamba layer(o);
    perturb(*layer, 0.1);  // away from D = 1 and A_log = log n
    layers::SequenceContext ctx;
    if (c.bidir) ctx.lengths = torch::tensor({9, 6}, torch::kLong);
    write_reference(out_dir() / ("mamba_" + std::to_string(index++) + ".pt"), "mamba", layer,
                    dict({{"d_model", o.d_model}, {"d_state", o.d_state}, {"expand", o.expand},
                          {"d_conv", o.d_conv}, {"dt_rank", o.dt_rank}, {"bias", o.bias},
                          {"bidirectional", o.bidirectional}}),
                    torch::randn({2, 9, 6}), ctx, c.bidir ? dict({{"lengths", ctx.lengths}}) : dict({}));
  }
}

// Chimera: both heads with a seasonal lag and mixing over 3 variates; one head without the conv; without the
// variate path.
TEST_F(TorchFile, LayerReferencesForPythonChimera) {
  struct Case {
    std::string heads;
    int64_t d_conv, lag;
    bool variates;
  };
  int index = 0;
  for (const Case& c : std::vector<Case>{{"both", 3, 2, true}, {"season", 0, 3, true}, {"trend", 2, 1, false}}) {
    torch::manual_seed(500 + index);
    layers::ChimeraOptions o;
    o.d_model = 4;
    o.d_state = 3;
    o.expand = 2;
    o.d_conv = c.d_conv;
    o.dt_rank = 2;
    o.heads = c.heads;
    o.season_lag = c.lag;
    o.variates = c.variates;
    layers::Chimera layer(o);
    perturb(*layer, 0.1);
    layers::SequenceContext ctx;
    ctx.variates = 3;
    write_reference(out_dir() / ("chimera_" + std::to_string(index++) + ".pt"), "chimera", layer,
                    dict({{"d_model", o.d_model}, {"d_state", o.d_state}, {"expand", o.expand},
                          {"d_conv", o.d_conv}, {"dt_rank", o.dt_rank}, {"heads", o.heads},
                          {"season_lag", o.season_lag}, {"variates", o.variates}}),
                    torch::randn({2 * ctx.variates, 7, 4}), ctx, dict({{"variates", ctx.variates}}));
  }
}

}  // namespace
}  // namespace ssm
