// The distributed layer (src/dist): the shard rule, the launch environment, and the gradient all-reduce in buckets on
// two ranks of one process (two threads, each with its own Gloo process group over loopback): averaged gradients
// equal the gradient of the whole batch, weighted shares included, for real, complex and unused parameters and for
// a rank without examples.
#include "dist/dist.h"
#include "support/fixtures.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace ssm::dist {
namespace {

TEST(Dist, ShardsCoverTheRowsInOrderRankZeroFirst) {
  for (int world : {1, 2, 3, 7})
    for (int64_t n : {0, 1, 2, 5, 8, 21}) {
      int64_t next = 0;
      for (int r = 0; r < world; ++r) {
        const auto [first, count] = shard(n, r, world);
        EXPECT_EQ(first, next) << n << " " << r << " " << world;
        EXPECT_GE(count, n / world);
        EXPECT_LE(count, n / world + 1);
        next += count;
      }
      EXPECT_EQ(next, n);
      if (n > 0) EXPECT_GT(shard(n, 0, world).second, 0);
    }
}

// Sets the variables for the life of the object, restoring what was there.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"}) {
      const char* v = std::getenv(k);
      saved_.emplace_back(k, v ? std::optional<std::string>(v) : std::nullopt);
      ::unsetenv(k);
    }
    for (const auto& [k, v] : vars) ::setenv(k, v, 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : saved_) {
      if (v) ::setenv(k.c_str(), v->c_str(), 1);
      else ::unsetenv(k.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(Dist, ReadsTorchrunsEnvironmentAndNamesABadVariable) {
  {
    ScopedEnv e({});
    const Env env = read_env();
    EXPECT_EQ(env.world, 1);
    EXPECT_FALSE(env.distributed());
  }
  {
    ScopedEnv e({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                 {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29411"}});
    const Env env = read_env();
    EXPECT_EQ(env.rank, 3);
    EXPECT_EQ(env.world, 4);
    EXPECT_EQ(env.local_rank, 1);
    EXPECT_EQ(env.local_world, 2);
    EXPECT_EQ(env.addr, "node7");
    EXPECT_EQ(env.port, 29411);
  }
  {
    ScopedEnv e({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"}});
    test::expect_error([] { read_env(); }, {"RANK=2", "WORLD_SIZE=2"});
  }
  {
    ScopedEnv e({{"RANK", "0"}, {"WORLD_SIZE", "two"}});
    test::expect_error([] { read_env(); }, {"WORLD_SIZE=two", "whole number"});
  }
  {
    ScopedEnv e({{"RANK", "0"}, {"WORLD_SIZE", "2"}});
    test::expect_error([] { read_env(); }, {"MASTER_ADDR or MASTER_PORT"});
  }
  {
    ScopedEnv e({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "70000"}});
    test::expect_error([] { read_env(); }, {"MASTER_PORT=70000"});
  }
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// A small model with a real matrix, a complex vector and a parameter that no loss uses.
struct Params {
  torch::Tensor w, c, unused;
  std::vector<torch::Tensor> all() const { return {w, c, unused}; }
};
Params make_params() {
  torch::manual_seed(7);
  return {torch::randn({5, 3}, torch::kDouble).requires_grad_(),
          torch::randn({5}, torch::kComplexDouble).requires_grad_(),
          torch::randn({2}, torch::kDouble).requires_grad_()};
}
torch::Tensor loss_of(const Params& p, const torch::Tensor& x) {  // mean over rows of x (n, 5)
  const torch::Tensor h = torch::tanh(x.matmul(p.w));                          // (n, 3)
  const torch::Tensor z = torch::real(x.to(torch::kComplexDouble).matmul(p.c));  // (n)
  return (h.pow(2).sum(1) + z.sin()).mean();
}

TEST(Dist, BucketedAllReduceAveragesAsOneBatch) {
  if (!have_gloo()) GTEST_SKIP() << "built without Gloo's headers";
  torch::manual_seed(1);
  const torch::Tensor x = torch::randn({7, 5}, torch::kDouble);
  // The reference: one process, the whole batch.
  const Params ref = make_params();
  loss_of(ref, x).backward();
  const int port = free_port();
  // 7 rows: rank 0 takes 4, rank 1 3 (weights 4/7, 3/7); then a step where rank 1 has no rows at all.
  for (const int64_t rows : {int64_t(7), int64_t(1)}) {
    const Params one = make_params();
    loss_of(one, x.narrow(0, 0, rows)).backward();
    std::vector<std::vector<torch::Tensor>> grads(2);
    std::vector<std::string> errors(2);
    std::vector<int64_t> buckets(2);
    auto rank = [&](int r) {
      try {
        Env e;
        e.rank = r;
        e.world = 2;
        e.local_rank = r;
        e.local_world = 2;
        e.port = port + (rows == 7 ? 0 : 1);
        Group g(e, false, std::chrono::milliseconds(20000));
        Params p = make_params();
        GradSync sync(g, p.all(), 64);  // 64 bytes: several buckets
        buckets[r] = sync.buckets();
        const auto [first, count] = shard(rows, r, 2);
        sync.begin(static_cast<double>(count) / rows);
        if (count > 0) loss_of(p, x.narrow(0, first, count)).backward();
        sync.finish();
        for (const auto& t : p.all()) grads[r].push_back(t.grad().defined() ? t.grad().clone() : torch::Tensor());
      } catch (const std::exception& ex) {
        errors[r] = ex.what();
      }
    };
    std::thread t0(rank, 0), t1(rank, 1);
    t0.join();
    t1.join();
    ASSERT_EQ(errors[0], "");
    ASSERT_EQ(errors[1], "");
    EXPECT_GT(buckets[0], 2);
    const std::vector<torch::Tensor> want = {one.w.grad(), one.c.grad()};
    for (int r = 0; r < 2; ++r) {
      EXPECT_FALSE(grads[r][2].defined()) << "a parameter no rank used keeps no gradient";
      for (size_t k = 0; k < want.size(); ++k)
        EXPECT_TRUE(torch::allclose(grads[r][k], want[k], 1e-12, 1e-12)) << "rows " << rows << " rank " << r << " "
                                                                         << k;
    }
    if (rows == 7) EXPECT_TRUE(torch::allclose(grads[0][0], ref.w.grad(), 1e-12, 1e-12));
  }
}

TEST(Dist, AMissingRankIsNamedWithinTheTimeout) {
  if (!have_gloo()) GTEST_SKIP() << "built without Gloo's headers";
  Env e;
  e.rank = 0;
  e.world = 2;
  e.port = free_port();
  const auto t0 = std::chrono::steady_clock::now();
  test::expect_error([&] { Group g(e, false, std::chrono::milliseconds(1500)); },
                     {"rank 0 of 2", "cannot meet the other ranks", "127.0.0.1:" + std::to_string(e.port)});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 15);
}

}  // namespace
}  // namespace ssm::dist
