// A test whose requirement is missing skips where a person runs it, but fails under CI (CI set),
// so CI never passes having tested nothing.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace flotilla::test {

inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && *ci != '\0';
}

}  // namespace flotilla::test

#define SKIP_OR_FAIL_UNDER_CI(reason)                                                        \
  do {                                                                                       \
    const std::string skip_reason_ = (reason);                                               \
    if (::flotilla::test::under_ci()) FAIL() << "required under CI, missing: " << skip_reason_; \
    GTEST_SKIP() << skip_reason_;                                                            \
  } while (0)
