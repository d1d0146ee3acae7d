// One sweep expression (a single argument value such as "[0.1, 0.01]" or
// "linspace(0, 1, 5)") and the values it stands for. Pure: no I/O, no clock;
// randomness comes from the seed the caller passes. sweep.h applies this to a
// whole command line and formats errors with the argument and a caret.
//
// Grammar (spaces and tabs allowed between tokens):
//   expression := list | call
//   list       := '[' value (',' value)* ','? ']'
//   value      := number | quoted string ('...' or "...", backslash escapes)
//               | true | false | True | False
//   call       := name '(' number (',' number)* ')'
//   name       := range | linspace | logspace | uniform | loguniform | normal | randint
// List values come back exactly as written (0.1 stays "0.1", 'adam' becomes
// adam); generated numbers print as integers or as the shortest decimal that
// reads back as the same double.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace lattice::sweep {

// The most values one expression may produce. Far above any sensible sweep
// dimension, low enough that a typo like range(10**9) fails at once instead of
// filling memory.
inline constexpr uint64_t kMaxDimensionValues = 1'000'000;

// Whether `text` is meant as a sweep expression. After trimming spaces: it
// starts with '[' (so an unbalanced "[abc" is a malformed list, not a plain
// string), or it is a name directly followed by '(' where the name is a known
// function or a near miss of one (so "lnspace(0, 1, 5)" is reported as a
// typo, while "print(x)" or "a[0]" pass through as plain arguments).
bool LooksLikeExpression(std::string_view text);

struct ExpressionError {
  size_t offset;        // byte offset in the text given to EvaluateExpression
  std::string message;  // what was expected, or why the input is wrong
};

using Evaluation = std::variant<std::vector<std::string>, ExpressionError>;

// The values of an expression, in order. `seed` drives uniform, loguniform,
// normal and randint; the same text and seed always give the same values.
// Never throws.
Evaluation EvaluateExpression(std::string_view text, uint64_t seed);

// Shortest text that reads back as `v` ("0.25", "1e-05"); "-0" prints as "0".
std::string FormatDouble(double v);

// 1234567 -> "1,234,567", for messages about sizes.
std::string WithCommas(uint64_t n);

}  // namespace lattice::sweep
