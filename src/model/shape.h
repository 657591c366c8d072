// What a task tells the model about its inputs and outputs (tasks/task.h): the input encoder and the head.
#pragma once

#include <cstdint>

namespace ssm::model {

// The model a task needs: how inputs are encoded and which head turns the backbone's features into outputs.
struct ModelShape {
  int64_t vocab_size = 0;  // > 0: token inputs (embedding); 0: real inputs of d_input features (linear encoder)
  int64_t d_input = 1;
  enum class Head { kClassify, kRetrieval, kForecast } head = Head::kClassify;
  int64_t n_classes = 0;  // classify, retrieval
  // forecast: look-back L and horizon T; V_in input variates and the output variates (out_index >= 0: the model
  // predicts every input variate and the head keeps variate out_index only, else all V_in).
  int64_t lookback = 0, horizon = 0, variates = 0, out_index = -1;
  bool channel_independent = true;  // forecast: each variate its own sequence (else variates are features)
  bool revin = false;               // forecast: reversible instance normalization of each window
};

}  // namespace ssm::model
