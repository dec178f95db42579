// The message of a flotilla::Error that a piece of test code must throw.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace flotilla::test {

// Runs fn, which must throw flotilla::Error, and returns the message ("" and a failure otherwise).
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const flotilla::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a flotilla::Error, nothing was thrown";
  return "";
}

}  // namespace flotilla::test
