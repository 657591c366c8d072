// Every configuration key of `ssm train`: type, default, range and documentation (the single source for checking,
// --help and the README).
#pragma once

#include "config/config.h"

namespace ssm::train {
const config::Schema& train_schema();
}  // namespace ssm::train
