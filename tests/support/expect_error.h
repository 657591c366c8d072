// Checks that a call fails with a message naming what went wrong (shared by both test programs).
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace ssm::test {
// Runs fn and expects a std::exception (c10::Error included) whose message contains every fragment.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& fragments);
}  // namespace ssm::test
