#include "config/yaml_scalar.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <regex>
#include <vector>

#include "core/error.h"

namespace flotilla::config {
namespace {

// "1_000" -> "1000": YAML 1.1 allows underscores between digits.
std::string without_underscores(const std::string& s) {
  std::string out;
  std::copy_if(s.begin(), s.end(), std::back_inserter(out), [](char c) { return c != '_'; });
  return out;
}

// Splits "1:30:00" (YAML 1.1 sexagesimal) into its parts; plain numbers give one part.
std::vector<std::string> colon_parts(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t colon; (colon = s.find(':', start)) != std::string::npos; start = colon + 1)
    parts.push_back(s.substr(start, colon - start));
  parts.push_back(s.substr(start));
  return parts;
}

// As PyYAML's construct_yaml_int: 0b binary, 0x hex, a leading 0 is octal, a:b is base 60.
int64_t to_int(const std::string& s, const std::string& where) {
  std::string v = without_underscores(s);
  const bool negative = v[0] == '-';
  if (v[0] == '-' || v[0] == '+') v.erase(0, 1);
  int base = 10;
  if (v.size() > 1 && v[0] == '0') {
    base = v[1] == 'b' ? 2 : v[1] == 'x' ? 16 : 8;
    v.erase(0, base == 8 ? 1 : 2);
  }
  uint64_t magnitude = 0;
  for (const std::string& part : colon_parts(v)) {
    uint64_t p = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), p, base);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size() ||
        magnitude > (std::numeric_limits<uint64_t>::max() - p) / 60)
      fail("yaml", "{}: integer '{}' is malformed or outside the 64-bit range", where, s);
    magnitude = magnitude * 60 + p;
  }
  const uint64_t limit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0);
  if (magnitude > limit) fail("yaml", "{}: integer '{}' is outside the 64-bit range", where, s);
  if (!negative) return static_cast<int64_t>(magnitude);
  return magnitude == limit ? std::numeric_limits<int64_t>::min() : -static_cast<int64_t>(magnitude);
}

// As PyYAML's construct_yaml_float, parsed without the locale.
double to_float(const std::string& s, const std::string& where) {
  std::string v = without_underscores(s);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const double sign = v[0] == '-' ? -1.0 : 1.0;
  if (v[0] == '-' || v[0] == '+') v.erase(0, 1);
  if (v == ".inf") return sign * std::numeric_limits<double>::infinity();
  if (v == ".nan") return std::numeric_limits<double>::quiet_NaN();
  double value = 0;
  for (const std::string& part : colon_parts(v)) {
    double p = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), p);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size())
      fail("yaml", "{}: '{}' is not a valid float", where, s);
    value = value * 60 + p;
  }
  return sign * value;
}

}  // namespace

// The patterns are PyYAML's (yaml/resolver.py), the float one as mlx-lm's lora.py widens it to accept 1e-5.
nlohmann::ordered_json resolve_plain_scalar(const std::string& text, const std::string& where) {
  static const std::regex null_re("^(?:~|null|Null|NULL|)$");
  static const std::regex bool_re("^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$");
  static const std::regex int_re(
      "^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+"
      "|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$");
  static const std::regex float_re(
      "^(?:[-+]?(?:[0-9][0-9_]*)\\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
      "|\\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(?:inf|Inf|INF)"
      "|\\.(?:nan|NaN|NAN))$");
  if (std::regex_match(text, null_re)) return nullptr;
  if (std::regex_match(text, bool_re)) {
    return text[0] == 'o' || text[0] == 'O' ? text.size() == 2 : std::strchr("yYtT", text[0]) != nullptr;
  }
  if (std::regex_match(text, int_re)) return to_int(text, where);
  if (std::regex_match(text, float_re)) return to_float(text, where);
  return text;
}

}  // namespace flotilla::config
