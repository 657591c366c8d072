// The layer registry: every sequence layer a model can stack, by the name that model.layer takes, with its own config
// keys (model.<name>.*), the checks that involve several keys and the factory. The config schema, `ssm train --help`
// and the README's key table are generated from it. A new layer adds one entry to layer_registry() (registry.cpp)
// and defines its spec beside its code.
#pragma once

#include "config/config.h"
#include "layers/sequence_layer.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ssm::layers {

// What every layer of a model shares (model.* keys that are not a layer's own).
struct LayerCommon {
  int64_t d_model = 128;
  int64_t d_state = 64;
  double dropout = 0.0;
  bool bidirectional = false;
  int64_t ptd_iterations = 10000;
  double ptd_lambda = 3e-3;
};
LayerCommon layer_common(const config::Config& c);

// Copies what every layer shares into a layer's options struct (S4DOptions, S5Options, LongConvOptions).
template <typename Options>
void apply_common(const LayerCommon& m, Options& o) {
  o.d_model = m.d_model;
  o.dropout = m.dropout;
  o.bidirectional = m.bidirectional;
}
// And what the state-space layers share (state size, PTD initialization).
template <typename Options>
void apply_state_common(const LayerCommon& m, Options& o) {
  apply_common(m, o);
  o.d_state = m.d_state;
  o.ptd_iterations = m.ptd_iterations;
  o.ptd_lambda = m.ptd_lambda;
}

struct LayerSpec {
  std::string name;  // the value of model.layer
  std::string doc;
  config::Schema keys;  // model.<name>.*
  // The layer mixes the variates of a multivariate input: the model encodes each variate's series on its own and
  // hands the layer a grid of V rows per sample (SequenceContext::variates).
  bool grid = false;
  // Throws config::ConfigError naming a key when keys disagree (a key's own range is checked when the config loads).
  std::function<void(const config::Config&, const LayerCommon&)> check;
  std::function<std::shared_ptr<SequenceLayer>(const config::Config&, const LayerCommon&)> make;
};

const std::vector<LayerSpec>& layer_registry();
// The spec of model.layer = name; throws config::ConfigError listing the known layers.
const LayerSpec& find_layer(const std::string& name);

// Each layer's spec, defined beside the layer.
LayerSpec s4d_spec();
LayerSpec s5_spec();
LayerSpec long_conv_spec();
LayerSpec mamba_spec();
LayerSpec chimera_spec();

}  // namespace ssm::layers
