// How a plain (unquoted) YAML scalar becomes a value: PyYAML's YAML 1.1 resolvers plus mlx-lm's float pattern.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace flotilla::config {

// null (~, null, empty), bool (true/yes/on, false/no/off), int (decimal, 0x, 0b, leading-0 octal, 1:30 base 60),
// float (1.5, 1e-5, .inf, .nan), else the string itself. A malformed or out-of-range number throws, naming `where`.
nlohmann::ordered_json resolve_plain_scalar(const std::string& text, const std::string& where);

}  // namespace flotilla::config
