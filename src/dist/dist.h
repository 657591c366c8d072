// Data-parallel training on PyTorch's distributed engine (c10d): the process group of a run launched by torchrun,
// a scheduler or `ssm train --nproc N`, and the bucketed gradient all-reduce that the trainer runs during backward.
//
// Environment (torchrun's): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT. Rank 0 hosts
// the rendezvous store (c10d's TCPStore); the collectives run on Gloo over TCP on CPUs and on NCCL on GPUs (one device
// per process: cuda:LOCAL_RANK). The c10d headers stay inside dist.cpp.
#pragma once

#include <ATen/core/Tensor.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ssm::dist {

struct Env {
  int rank = 0, world = 1, local_rank = 0, local_world = 1;
  std::string addr = "127.0.0.1";
  int port = 29500;
  bool distributed() const { return world > 1; }
};

// The launch environment; world 1 when WORLD_SIZE is absent. A malformed or inconsistent variable is an error naming
// it (e.g. RANK=2 with WORLD_SIZE=2).
Env read_env();

// Whether this build has c10d's Gloo (CPU) and NCCL (GPU) process groups.
bool have_gloo();
bool have_nccl();

// The share of n items of rank r among `world`: [first, first + count), the first n % world ranks one more (rank 0
// is never empty when n > 0).
std::pair<int64_t, int64_t> shard(int64_t n, int rank, int world);

class Group {
 public:
  // Rendezvous (every rank waits up to `timeout` for the others) and the process group: NCCL when `cuda`, else Gloo.
  Group(const Env& env, bool cuda, std::chrono::milliseconds timeout);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int world() const;
  // Rank 0's values into every rank's tensors (in place).
  void broadcast(std::vector<at::Tensor>& tensors);
  // Sums across ranks, in place (blocking).
  void allreduce_sum(std::vector<at::Tensor>& tensors);
  std::vector<double> sum(const std::vector<double>& values);
  // Rank 0's string on every rank.
  std::string broadcast_string(const std::string& s);
  void barrier();

  // An asynchronous sum of one flat tensor; wait() blocks until it is done.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual void wait() = 0;
  };
  std::unique_ptr<Pending> allreduce_async(at::Tensor flat);

  // Rethrows a failed collective as std::runtime_error that names this rank, what it was doing and the ranks that
  // stopped responding (from their heartbeats in the store), or rank 0 when the store itself is gone.
  [[noreturn]] void fail(const std::string& during, const std::string& why);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Gradients averaged across ranks during backward: parameters in buckets of about `bucket_bytes`, in reverse order
// (the order backward produces them); a bucket's all-reduce starts as soon as its last gradient exists, buckets in a
// fixed order on every rank. Each rank's gradient enters weighted by its share of the global batch, so that ranks of
// unequal batches average exactly as one process would.
class GradSync {
 public:
  GradSync(Group& g, std::vector<at::Tensor> params, int64_t bucket_bytes);
  ~GradSync();
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  // Before backward: this rank's weight (its examples / the global batch's). A parameter without a gradient on a rank
  // (no examples, an unused branch) counts as zeros there; one without a gradient on every rank keeps none.
  void begin(double weight);
  // After backward: waits for every bucket and sets each parameter's .grad to the average.
  void finish();

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  int64_t bytes_per_step() const { return bytes_; }
  // Time spent in finish() waiting for the last all-reduces (the part not hidden behind backward), and the steps.
  double wait_seconds() const { return wait_s_; }
  int64_t steps() const { return steps_; }

 private:
  struct Bucket {
    std::vector<int64_t> params;  // indices into params_
    std::vector<int64_t> offsets; // element offsets in flat
    at::Tensor flat;   // the gradients, then one flag per parameter
    int64_t flags = 0; // where the flags start
    int64_t ready = 0;
    std::unique_ptr<Group::Pending> work;
  };
  void on_grad(int64_t param, const at::Tensor& grad);
  void launch_ready();
  void launch(Bucket& b);

  Group& g_;
  std::vector<at::Tensor> params_;
  std::vector<int64_t> bucket_of_, hooks_;
  std::vector<at::Tensor> grads_;
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // the next bucket to launch
  bool active_ = false;
  double weight_ = 1;
  int64_t bytes_ = 0, steps_ = 0;
  double wait_s_ = 0;
};

}  // namespace ssm::dist
