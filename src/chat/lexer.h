// Jinja2 lexer with the whitespace rules transformers enables: trim_blocks, lstrip_blocks,
// `-`/`+` markers, and jinja's default of dropping one trailing newline of the source.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flotilla::chat {

struct SourcePos {
  int line = 0;
  int column = 0;
};

enum class TokenType {
  Data,           // template text, already whitespace-trimmed
  VariableBegin,  // {{
  VariableEnd,    // }}
  BlockBegin,     // {%
  BlockEnd,       // %}
  Name,
  String,    // text holds the unescaped value
  Integer,   // integer holds the value
  Float,     // real holds the value
  Operator,  // text holds the operator, e.g. "//" or "("
  End,
};

struct Token {
  TokenType type = TokenType::End;
  std::string text;
  int64_t integer = 0;
  double real = 0;
  SourcePos pos;
};

// Throws flotilla::Error "[chat_template] <name>:<line>:<column>: ..." on malformed input.
std::vector<Token> tokenize(std::string_view source, const std::string& template_name);

// Throws flotilla::Error for a syntax problem at `pos`.
[[noreturn]] void syntax_error(const std::string& template_name, SourcePos pos, const std::string& message);

}  // namespace flotilla::chat
