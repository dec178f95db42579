// One error type for the library, messages in the form "[subsystem] what was wrong".
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace flotilla {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws Error("[subsystem] formatted message"). The library throws; only the CLI exits.
template <typename... Args>
[[noreturn]] void fail(std::string_view subsystem, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format("[{}] {}", subsystem, fmt::format(format, std::forward<Args>(args)...)));
}

}  // namespace flotilla
