#include "layers/registry.h"

namespace ssm::layers {

LayerCommon layer_common(const config::Config& c) {
  LayerCommon o;
  o.d_model = c.get_int("model.d_model");
  o.d_state = c.get_int("model.d_state");
  o.dropout = c.get_float("model.dropout");
  o.bidirectional = c.get_bool("model.bidirectional");
  o.ptd_iterations = c.get_int("model.ptd.iterations");
  o.ptd_lambda = c.get_float("model.ptd.lambda");
  return o;
}

const std::vector<LayerSpec>& layer_registry() {
  static const std::vector<LayerSpec> registry = {s4d_spec(), s5_spec(), long_conv_spec(), mamba_spec(), chimera_spec()};
  return registry;
}

const LayerSpec& find_layer(const std::string& name) {
  std::string known;
  for (const auto& s : layer_registry()) {
    if (s.name == name) return s;
    known += (known.empty() ? "" : ", ") + s.name;
  }
  throw config::ConfigError("model.layer: unknown layer '" + name + "' (known: " + known + ")");
}

}  // namespace ssm::layers
