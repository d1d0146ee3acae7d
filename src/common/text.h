// Small text helpers shared by the parsers.
#pragma once

#include <string>
#include <string_view>

namespace lattice {

// s without leading and trailing spaces, tabs and carriage returns (a line
// of a file that may have CRLF endings, with its '\n' already removed).
inline std::string TrimBlanks(std::string_view s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string_view::npos) return {};
  const size_t b = s.find_last_not_of(" \t\r");
  return std::string(s.substr(a, b - a + 1));
}

// s with ASCII letters lowered (other bytes as they are), for names users
// may type in any case: instance types, GPU models, regions, search terms.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace lattice
