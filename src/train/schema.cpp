#include "train/schema.h"

namespace ssm::train {

const config::Schema& train_schema() {
  using config::Type;
  constexpr double inf = 1e300;
  static const config::Schema schema = {
      // model
      {"model.layer", Type::kEnum, "s4d", "the sequence layer: S4D (convolution), S5 (scan) or a learned long convolution",
       -inf, inf, false, {"s4d", "s5", "longconv"}},
      {"model.d_model", Type::kInt, "128", "model width H (channels)", 1, 65536},
      {"model.n_layers", Type::kInt, "4", "number of residual blocks", 1, 1024},
      {"model.d_state", Type::kInt, "64",
       "S4D: state size N per channel (even; N/2 complex modes are stored); S5: P complex modes shared by all channels",
       1, 65536},
      {"model.dropout", Type::kFloat, "0.0", "dropout after each layer and inside it", 0, 1, false},
      {"model.prenorm", Type::kBool, "true", "normalize before the layer (else after the residual sum)"},
      {"model.norm", Type::kEnum, "layer", "normalization", -inf, inf, false, {"layer", "batch"}},
      {"model.pooling", Type::kEnum, "mean", "mean over valid positions, or the last valid position", -inf, inf,
       false, {"mean", "last"}},
      {"model.bidirectional", Type::kBool, "false", "add an anti-causal kernel (non-causal layer)"},
      {"model.s4d.init", Type::kEnum, "lin",
       "initialization of A: S4D-Lin, S4D-Inv, S4D-Real, S4D-LegS, or S4-PTD (all N eigenvalues of the PTD matrix)",
       -inf, inf, false, {"lin", "inv", "real", "legs", "ptd"}},
      {"model.s4d.discretization", Type::kEnum, "zoh", "zero-order hold or bilinear", -inf, inf, false,
       {"zoh", "bilinear"}},
      {"model.s4d.dt_min", Type::kFloat, "0.001", "smallest initial step dt", 0, 10, true},
      {"model.s4d.dt_max", Type::kFloat, "0.1", "largest initial step dt", 0, 10, true},
      {"model.s5.blocks", Type::kInt, "1", "S5: J blocks of the HiPPO-N initialization (d_state / J modes each)", 1,
       4096},
      {"model.s5.init", Type::kEnum, "hippo_n", "S5: HiPPO-N blocks (conjugate-symmetric) or S5-PTD blocks", -inf,
       inf, false, {"hippo_n", "ptd"}},
      {"model.longconv.max_length", Type::kInt, "2048", "long conv: kernel length (the longest input)", 1, 1e9},
      {"model.longconv.lambda", Type::kFloat, "0.002", "long conv: Squash soft threshold of the kernel", 0, 1e6},
      {"model.longconv.smooth", Type::kInt, "0", "long conv: Smooth half-window p, moving average over 2p+1 (0: off)",
       0, 1e6},
      {"model.longconv.kernel_dropout", Type::kFloat, "0.0", "long conv: dropout on the kernel while training", 0,
       0.99},
      {"model.longconv.init", Type::kEnum, "randn",
       "long conv: kernel initialization, randn * 0.002 or double_exp (randn * 0.02, each channel decaying at its own "
       "rate)", -inf, inf, false, {"randn", "double_exp"}},
      {"model.longconv.conv", Type::kEnum, "fft",
       "long conv: compute the convolution with ssm::fft_conv or ssm::butterfly_conv (same result)", -inf, inf, false,
       {"fft", "butterfly"}},
      {"model.longconv.learn_butterfly", Type::kBool, "false",
       "long conv, conv butterfly: learn the DFT factors (initialized exact; optimizer.butterfly_lr)"},
      {"model.longconv.butterfly_per_channel", Type::kBool, "true",
       "long conv, learned butterfly: one set of factors per channel (else one shared set)"},
      {"model.ptd.iterations", Type::kInt, "10000", "PTD: optimization steps of the perturbation (results are cached)",
       0, 1e9},
      {"model.ptd.lambda", Type::kFloat, "0.003", "PTD: weight of ||E||_F against kappa(V)^2", 0, 1e6},
      {"model.s5.discretization", Type::kEnum, "zoh", "S5: zero-order hold or bilinear", -inf, inf, false,
       {"zoh", "bilinear"}},
      {"model.s5.dt_min", Type::kFloat, "0.001", "S5: smallest initial step dt (one per state)", 0, 10, true},
      {"model.s5.dt_max", Type::kFloat, "0.1", "S5: largest initial step dt", 0, 10, true},
      // data
      {"data.task", Type::kEnum, "sfmnist", "the task: sequential Fashion-MNIST or ListOps", -inf, inf, false,
       {"sfmnist", "listops"}},
      {"data.root", Type::kString, "/usr/share/datasets/fashion-mnist",
       "folder of the data files (sfmnist: the IDX files, gzip-compressed or not; listops: basic_{train,val,test}.tsv "
       "of the LRA release or of ssm data listops)"},
      {"data.max_length", Type::kInt, "2048", "listops: longest token sequence, <eos> included (longer ones are cut)",
       2, 1e9},
      {"data.permute", Type::kBool, "false", "sfmnist: apply one fixed random permutation to the pixel order"},
      {"data.permute_seed", Type::kInt, "0", "sfmnist: seed of that permutation", 0, 1e18},
      {"data.val_fraction", Type::kFloat, "0.1", "sfmnist: fraction of the training set held out for validation (its end)",
       0, 0.9},
      {"data.limit_train", Type::kInt, "0", "use only the first N training examples (0: all)", 0, 1e12},
      {"data.batch_size", Type::kInt, "50", "training batch size", 1, 1e6},
      // 50: sequential Fashion-MNIST evaluates in 16.5 s instead of 21.8 s at 250 (6000 images, 2-core machine).
      {"data.eval_batch_size", Type::kInt, "50", "evaluation batch size", 1, 1e6},
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
      {"trainer.out_dir", Type::kString, "runs/default", "where the run writes config, metrics and checkpoints"},
  };
  return schema;
}

}  // namespace ssm::train
