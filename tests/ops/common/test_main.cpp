// Test entry: fresh random inputs on every run; the seed is printed so that a failure can be replayed with
// SSM_TEST_SEED=<seed>.
#include <gtest/gtest.h>

#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cstdio>
#include <cstdlib>
#include <random>

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* env = std::getenv("SSM_TEST_SEED");
  const uint64_t seed = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  std::printf("[ssm] random seed: %llu (replay with SSM_TEST_SEED=%llu)\n", static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_current_seed(seed);
  return RUN_ALL_TESTS();
}
