// Python str operations used by filters and str methods, with code-point indices.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/value.h"

namespace flotilla::chat {

// str.strip/lstrip/rstrip; `chars` none or undefined strips Unicode whitespace.
std::string py_strip(std::string_view text, const Value& chars, bool left, bool right);
// str.split/rsplit; `separator` none or undefined splits on runs of whitespace.
std::vector<std::string> py_split(std::string_view text, const Value& separator, int64_t max_split, bool from_right);
// The results of py_replace, percent_format and brace_format longer than max_bytes are an error.
std::string py_replace(std::string_view text, std::string_view old, std::string_view replacement, int64_t count,
                       size_t max_bytes);
int64_t py_find(std::string_view text, std::string_view sub, bool from_right);  // code-point index or -1
int64_t py_count(std::string_view text, std::string_view sub);
std::string py_capitalize(std::string_view text);
std::string py_title(std::string_view text);     // str.title()
std::string jinja_title(std::string_view text);  // the `title` filter: words split at - ( { [ < and whitespace
// str.upper()/str.lower() (ß becomes "SS" as in Python) and str.splitlines(keepends).
std::string upper(std::string_view text);
std::string lower(std::string_view text);
std::vector<std::string> split_lines(std::string_view text, bool keep_ends);
// printf-style `format % args` (the `format` filter and the % operator).
std::string percent_format(const std::string& format, const Value& args, size_t max_bytes);
// str.format(*args, **kwargs) for {} {0} {name} fields with !r/!s and no format spec.
std::string brace_format(const std::string& format, const CallArgs& args, size_t max_bytes);

}  // namespace flotilla::chat
