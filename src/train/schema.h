// Every configuration key of `ssm train`: type, default, range and documentation (the single source for checking,
// --help and the README), generated from the layer registry (model.<layer>.*) and the task registry
// (data.<task>.*) around the keys every run shares.
#pragma once

#include "config/config.h"

namespace ssm::train {
const config::Schema& train_schema();

// The checks a schema cannot express: keys of a layer or task other than the chosen one (an error naming the key and
// where it was set), and the chosen layer's checks that involve several keys. config::ConfigError.
void check_config(const config::Config& c);

// Whether a key applies to the config's layer and task (false for the keys of the others): what the resolved
// config.yaml of a run lists.
bool key_applies(const config::Config& c, const std::string& key);
}  // namespace ssm::train
