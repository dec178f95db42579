// The sequence filters (filters_sequence.cpp) register themselves into the filter table of filters.cpp.
#pragma once
#include <string_view>
#include <unordered_map>

#include "chat/ast.h"

namespace flotilla::chat {

void add_sequence_filters(std::unordered_map<std::string_view, FilterFunction>& table);

}  // namespace flotilla::chat
