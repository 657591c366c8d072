#include "train/schema.h"

#include "layers/registry.h"
#include "tasks/task.h"

#include <set>

namespace ssm::train {
namespace {

using config::Type;
constexpr double inf = 1e300;

std::vector<std::string> names_of_layers() {
  std::vector<std::string> out;
  for (const auto& s : layers::layer_registry()) out.push_back(s.name);
  return out;
}
std::vector<std::string> names_of_tasks() {
  std::vector<std::string> out;
  for (const auto& s : tasks::task_registry()) out.push_back(s.name);
  return out;
}
std::string docs_of(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string out;
  for (const auto& [name, doc] : items) out += (out.empty() ? "" : "; ") + name + ": " + doc;
  return out;
}

config::Schema build() {
  std::vector<std::pair<std::string, std::string>> layer_docs, task_docs;
  for (const auto& s : layers::layer_registry()) layer_docs.emplace_back(s.name, s.doc);
  for (const auto& s : tasks::task_registry()) task_docs.emplace_back(s.name, s.doc);
  config::Schema schema = {
      {"model.layer", Type::kEnum, "s4d", "the sequence layer of every block (" + docs_of(layer_docs) + ")", -inf, inf,
       false, names_of_layers()},
      {"model.d_model", Type::kInt, "128", "model width H (channels)", 1, 65536},
      {"model.n_layers", Type::kInt, "4", "number of residual blocks", 1, 1024},
      {"model.d_state", Type::kInt, "64",
       "S4D: state size N per channel (even; N/2 complex modes are stored); S5: P complex modes shared by all channels; "
       "Mamba, Chimera: N per channel (16 in their papers)",
       1, 65536},
      {"model.dropout", Type::kFloat, "0.0", "dropout after each layer and inside it", 0, 1, false},
      {"model.prenorm", Type::kBool, "true", "normalize before the layer (else after the residual sum)"},
      {"model.norm", Type::kEnum, "layer", "normalization (rms: RMSNorm, Mamba's)", -inf, inf, false,
       {"layer", "batch", "rms"}},
      {"model.pooling", Type::kEnum, "mean", "mean over valid positions, or the last valid position", -inf, inf,
       false, {"mean", "last"}},
      {"model.bidirectional", Type::kBool, "false", "add an anti-causal kernel (non-causal layer)"},
      {"model.variate_embedding", Type::kBool, "false",
       "add a learned vector per variate to each variate's encoding where the variates are encoded one by one "
       "(channel-independent forecasting; classification with a variate-mixing layer such as Chimera), so that the "
       "shared weights can tell the variates apart"},
      {"model.ptd.iterations", Type::kInt, "10000", "PTD: optimization steps of the perturbation (results are cached)",
       0, 1e9},
      {"model.ptd.lambda", Type::kFloat, "0.003", "PTD: weight of ||E||_F against kappa(V)^2", 0, 1e6},
  };
  for (const auto& s : layers::layer_registry()) schema.insert(schema.end(), s.keys.begin(), s.keys.end());
  const config::Schema data = {
      {"data.task", Type::kEnum, "sfmnist", "the task (" + docs_of(task_docs) + ")", -inf, inf, false,
       names_of_tasks()},
      {"data.root", Type::kString, "",
       "folder of the data files (empty: the task's default where it has one; sfmnist: "
       "/usr/share/datasets/fashion-mnist)"},
      {"data.limit_train", Type::kInt, "0", "use only the first N training examples (0: all)", 0, 1e12},
      {"data.cache_dir", Type::kString, "",
       "where the LRA tasks (imdb, aan, cifar, pathfinder, pathx) keep their prepared data, mapped from disk by later runs (empty: "
       "$SSM_CACHE, else ~/.cache/ssm, as for PTD; none: no cache)"},
      {"data.batch_size", Type::kInt, "50", "training batch size", 1, 1e6},
      {"data.prefetch", Type::kBool, "true",
       "assemble the next training batch on a background thread while the current step runs"},
      // 50: sequential Fashion-MNIST evaluates in 16.5 s instead of 21.8 s at 250 (6000 images, 2-core machine).
      {"data.eval_batch_size", Type::kInt, "50", "evaluation batch size", 1, 1e6},
  };
  schema.insert(schema.end(), data.begin(), data.end());
  for (const auto& s : tasks::task_registry()) schema.insert(schema.end(), s.keys.begin(), s.keys.end());
  const config::Schema training = {
      // optimizer
      {"optimizer.lr", Type::kFloat, "0.01", "AdamW learning rate of all but the SSM parameters", 0, 10, true},
      {"optimizer.weight_decay", Type::kFloat, "0.05", "AdamW weight decay of all but the SSM parameters", 0, 10},
      {"optimizer.ssm_lr", Type::kFloat, "0.001",
       "learning rate of the SSM parameters (S4D: dt, A; S5: Lambda, dt, B; long conv: the kernel)", 0, 10, true},
      {"optimizer.butterfly_lr", Type::kFloat, "0.001", "learning rate of learned butterfly factors (no weight decay)",
       0, 10, true},
      {"optimizer.ssm_weight_decay", Type::kFloat, "0.0", "weight decay of the SSM parameters", 0, 10},
      {"optimizer.beta1", Type::kFloat, "0.9", "Adam beta1", 0, 1, false},
      {"optimizer.beta2", Type::kFloat, "0.999", "Adam beta2", 0, 1, false},
      {"optimizer.grad_clip", Type::kFloat, "0.0", "clip the global gradient norm to this value (0: off)", 0, inf},
      // schedule
      {"schedule.kind", Type::kEnum, "cosine", "learning-rate schedule after warm-up", -inf, inf, false,
       {"cosine", "constant", "linear"}},
      {"schedule.warmup_steps", Type::kInt, "0", "linear warm-up steps from 0", 0, 1e12},
      {"schedule.min_lr_factor", Type::kFloat, "0.0", "cosine and linear end at this fraction of the lr", 0, 1},
      // trainer
      {"trainer.epochs", Type::kInt, "10", "passes over the training set", 1, 1e9},
      {"trainer.max_steps", Type::kInt, "0", "stop after this many steps (0: epochs decide)", 0, 1e12},
      {"trainer.seed", Type::kInt, "0", "seed of initialization, shuffling and dropout", 0, 1e18},
      {"trainer.device", Type::kEnum, "auto", "where to train (auto: cuda when available)", -inf, inf, false,
       {"auto", "cpu", "cuda"}},
      {"trainer.threads", Type::kInt, "0", "CPU threads (0: all cores)", 0, 4096},
      {"trainer.log_every", Type::kInt, "50", "steps between metric lines", 1, 1e9},
      {"trainer.val_every", Type::kInt, "0",
       "validate (and write last.pt) every this many steps as well as at each epoch's end (0: at epochs' ends only; "
       "for long epochs, e.g. ListOps' 96,000 examples)",
       0, 1e12},
      {"trainer.out_dir", Type::kString, "runs/default", "where the run writes config, metrics and checkpoints"},
      {"trainer.precision", Type::kEnum, "float32",
       "arithmetic of forward passes: float32, or bf16 autocast (matrix products and activations in bfloat16; "
       "weights, optimizer state, the ssm ops (kernels, convolutions, scans) and the loss in float32; no loss "
       "scaling)",
       -inf, inf, false, {"float32", "bf16"}},
      // distributed training (ssm train --nproc N, torchrun)
      {"trainer.dist.timeout_s", Type::kInt, "300",
       "distributed: seconds a rank waits for the others (rendezvous, each collective) before it stops with an "
       "error naming the ranks that stopped responding",
       1, 86400},
      {"trainer.dist.bucket_mb", Type::kFloat, "25",
       "distributed: size of a gradient bucket, MiB (each bucket's all-reduce starts while backward still runs)",
       0.001, 4096},

  };
  schema.insert(schema.end(), training.begin(), training.end());
  return schema;
}

}  // namespace

const config::Schema& train_schema() {
  static const config::Schema schema = build();
  return schema;
}

void check_config(const config::Config& c) {
  // A key of another layer or task than the chosen one is a mistake (a typo in model.layer, a key copied from
  // another config): refuse it rather than ignore it.
  const std::string layer = c.get_string("model.layer"), task = c.get_string("data.task");
  for (const auto& s : layers::layer_registry())
    if (s.name != layer)
      for (const auto& k : s.keys)
        if (c.is_set(k.path)) c.fail(k.path, "belongs to layer " + s.name + ", but model.layer is " + layer);
  for (const auto& s : tasks::task_registry())
    if (s.name != task)
      for (const auto& k : s.keys)
        if (c.is_set(k.path)) c.fail(k.path, "belongs to task " + s.name + ", but data.task is " + task);
  const layers::LayerSpec& spec = layers::find_layer(layer);
  if (spec.check) spec.check(c, layers::layer_common(c));
}

bool key_applies(const config::Config& c, const std::string& key) {
  const std::string layer = c.get_string("model.layer"), task = c.get_string("data.task");
  for (const auto& s : layers::layer_registry())
    if (s.name != layer)
      for (const auto& k : s.keys)
        if (k.path == key) return false;
  for (const auto& s : tasks::task_registry())
    if (s.name != task)
      for (const auto& k : s.keys)
        if (k.path == key) return false;
  return true;
}

}  // namespace ssm::train
