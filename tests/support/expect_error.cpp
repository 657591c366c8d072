#include "support/expect_error.h"

#include <gtest/gtest.h>

#include <exception>

namespace ssm::test {

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected an error, none was thrown";
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "'" << f << "' not in: " << msg;
  }
}

}  // namespace ssm::test
