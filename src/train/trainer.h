// The training driver: builds the task (tasks/task.h), the model it needs and the optimizer and schedule from a
// checked config, trains with validation each epoch and a test at the end, writes metrics (JSON lines), the resolved
// config and checkpoints (atomically). The loop knows no loss or metric: the task does, and names the validation
// metric that selects best.pt and its direction.
#pragma once

#include "config/config.h"
#include "model/model.h"
#include "tasks/task.h"

#include <torch/optim/adamw.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>

namespace ssm::train {

struct TrainOptions {
  bool resume = false;  // continue from <out_dir>/last.pt exactly
  bool quiet = false;   // no progress output
  int64_t stop_at_step = 0;  // > 0: stop after this step as an interruption would (checkpoint saved), for tests
  // Called before each optimizer step with the step number and the model (for programs that embed the trainer).
  std::function<void(int64_t, model::SequenceModel&)> on_step;
  // Called after each optimizer step with the number of steps done.
  std::function<void(int64_t, model::SequenceModel&)> after_step;
};

struct TrainSummary {
  int64_t steps = 0;
  std::string monitor;       // the task's validation metric
  double best_val = NAN;     // its best value (NaN without a validation split)
  tasks::Metrics test;       // empty without a test split
  std::string test_report;   // the task's line for the test metrics
  double seconds = 0;
  std::string out_dir;
  // Distributed runs: the ranks, the gradient bytes all-reduced per step, the buckets, and the time per step spent
  // waiting for all-reduces after backward (what overlap with backward did not hide).
  int world = 1;
  int64_t allreduce_bytes_per_step = 0, buckets = 0;
  double wait_s_per_step = 0;
  bool main_rank = true;  // rank 0 (the one that writes)
};

// Distributed data parallelism when the environment says so (dist/dist.h: RANK, WORLD_SIZE, MASTER_ADDR, ...): every
// rank calls train(); data.batch_size is the global batch, split across the ranks; gradients are averaged during
// backward; rank 0 alone writes config.yaml, metrics.jsonl and the checkpoints; resuming needs last.pt readable by every
// rank (one folder, or a shared filesystem across machines) and works with another number of ranks.
// Returns the summary; throws std::runtime_error on failure (a NaN loss, an unreadable checkpoint, ...) after keeping
// whatever was already written, and config::ConfigError for keys that disagree.
TrainSummary train(const config::Config& cfg, const TrainOptions& opt);

struct EvalSummary {
  tasks::Metrics metrics;
  std::string report;
  int64_t examples = 0;
};
// Noise concentrated on Fourier modes (the robustness test of the PTD paper): for each example and feature,
// n(t) = sum_{k in [k_lo, k_hi)} a_k cos(2 pi k t / L + phi_k), a_k ~ N(0, 1), phi_k ~ U[0, 2 pi), scaled so that
// ||n||_2 = eps ||x||_2 over the sequence. Bands are fractions of the Nyquist frequency L / 2.
struct FourierNoise {
  double eps = 0;
  double band_lo = 0.5, band_hi = 1.0;  // default: the upper half of the spectrum
  uint64_t seed = 0;
};
// x: (n, L, d) float. Returns x + noise.
at::Tensor add_fourier_noise(const at::Tensor& x, const FourierNoise& noise);

// Loads <run dir>/config.yaml and the checkpoint, evaluates a split (train, val or test), optionally with Fourier
// noise added to the (real-valued) inputs of each batch (seed + the batch's first row).
EvalSummary evaluate_checkpoint(const std::string& checkpoint, const std::string& split,
                                const FourierNoise* noise = nullptr);

// Writes the weights of a checkpoint as a plain file that Python opens with torch.load(path, weights_only=True): a dict
// {"format": "ssm export 1", "state_dict": {name: tensor} (every parameter and buffer, on the CPU, the model's
// names), "config": the run's config.yaml, "versions", "step"}. The checkpoint is loaded and checked first (config
// and checksum), as for ssm eval; `out` is written atomically.
struct ExportSummary {
  int64_t tensors = 0, values = 0, step = 0, bytes = 0;
};
ExportSummary export_checkpoint(const std::string& checkpoint, const std::string& out);

// The model that the config's model.* keys describe for a task's shape (checks that involve two keys included:
// config::ConfigError names the key).
model::SequenceModel build_model(const config::Config& c, const model::ModelShape& shape);

// AdamW with parameter groups: 0 = all but the SSM parameters (optimizer.lr, optimizer.weight_decay),
// 1 = the SSM parameters (optimizer.ssm_lr, optimizer.ssm_weight_decay), and 2 = learned butterfly factors
// (optimizer.butterfly_lr, no weight decay) when the model has any.
std::unique_ptr<torch::optim::AdamW> make_optimizer(model::SequenceModel& m, const config::Config& c);

// Learning-rate factor at `step` (0-based) of `total` steps: linear warm-up, then cosine, constant or linear decay
// towards min_factor.
double lr_factor(const std::string& kind, int64_t step, int64_t warmup, int64_t total, double min_factor);

}  // namespace ssm::train
