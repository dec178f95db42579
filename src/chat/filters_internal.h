// Shared between the filter files: the sequence filters register themselves into the table.
#pragma once
#include <string_view>
#include <unordered_map>

#include "chat/ast.h"

namespace flotilla::chat {

void add_sequence_filters(std::unordered_map<std::string_view, FilterFunction>& table);

}  // namespace flotilla::chat
