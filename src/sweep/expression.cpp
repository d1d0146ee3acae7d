#include "sweep/expression.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "sweep/random.h"

namespace lattice::sweep {
namespace {

constexpr std::array<std::string_view, 7> kFunctions = {"range",   "linspace", "logspace", "uniform",
                                                        "loguniform", "normal", "randint"};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }
char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsKnown(std::string_view name) {
  for (std::string_view f : kFunctions) {
    if (f == name) return true;
  }
  return false;
}

// Case-insensitive Levenshtein distance; only called on short identifiers.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// A known function within two edits of `name`: "lnspace(" is a typo to report,
// while short or distant names ("f(", "print(") are ordinary arguments.
std::optional<std::string_view> NearestFunction(std::string_view name) {
  if (name.size() < 4 || name.size() > 14) return std::nullopt;
  for (std::string_view f : kFunctions) {
    if (EditDistance(name, f) <= 2) return f;
  }
  return std::nullopt;
}

// Shows untrusted text inside a message, cut short so a huge argument cannot
// make a huge message.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 40;
  if (s.size() <= kMax) return "'" + std::string(s) + "'";
  return "'" + std::string(s.substr(0, kMax)) + "...'";
}

struct NumberShape {
  bool ok = false;
  bool integer = false;
};

// [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
NumberShape ClassifyNumber(std::string_view s) {
  size_t i = 0, mantissa_digits = 0;
  bool integer = true;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  while (i < s.size() && IsDigit(s[i])) ++i, ++mantissa_digits;
  if (i < s.size() && s[i] == '.') {
    integer = false;
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++mantissa_digits;
  }
  if (mantissa_digits == 0) return {};
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    integer = false;
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exponent_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exponent_digits;
    if (exponent_digits == 0) return {};
  }
  return {i == s.size(), integer};
}

struct Number {
  std::string_view text;
  size_t offset = 0;
  bool is_integer = false;
  int64_t integer = 0;  // set when is_integer
  double value = 0;
};

struct Signature {
  std::string_view name;
  size_t min_args, max_args;
  std::string_view params;
};

constexpr std::array<Signature, 7> kSignatures = {{
    {"range", 1, 3, "range(stop), range(start, stop) or range(start, stop, step)"},
    {"linspace", 3, 3, "linspace(start, stop, num)"},
    {"logspace", 3, 3, "logspace(start, stop, num)"},
    {"uniform", 3, 3, "uniform(low, high, size)"},
    {"loguniform", 3, 3, "loguniform(low, high, size)"},
    {"normal", 3, 3, "normal(mean, std, size)"},
    {"randint", 3, 3, "randint(low, high, size)"},
}};

// Recursive descent over one expression. Every failure records the first
// error (offset + message) and returns false, so callers just propagate.
class Parser final {
 public:
  Parser(std::string_view text, uint64_t seed) : text_(text), rng_(seed) {}

  Evaluation Run() {
    SkipSpaces();
    const bool ok = At('[') ? ParseList() : ParseCall();
    if (!ok) return *error_;
    return std::move(values_);
  }

 private:
  void SkipSpaces() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) ++pos_;
  }
  bool At(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool Fail(size_t offset, std::string message) {
    if (!error_) error_ = ExpressionError{offset, std::move(message)};
    return false;
  }

  // A run of characters up to the next delimiter: the raw text of a number,
  // a boolean, or a bare word the user forgot to quote.
  std::string_view Token() {
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (IsSpace(c) || c == ',' || c == '[' || c == ']' || c == '(' || c == ')' || c == '\'' || c == '"') break;
      ++pos_;
    }
    return text_.substr(start, pos_ - start);
  }

  bool ExpectEnd() {
    SkipSpaces();
    if (pos_ != text_.size()) return Fail(pos_, "unexpected text after the expression");
    return true;
  }

  bool ParseList() {
    ++pos_;  // '['
    SkipSpaces();
    if (At(']')) return Fail(pos_, "expected a value: a sweep list needs at least one");
    for (;;) {
      if (!ParseListValue()) return false;
      SkipSpaces();
      if (At(',')) {
        ++pos_;
        SkipSpaces();
        if (!At(']')) continue;  // a trailing comma is fine, as in Python
      }
      if (At(']')) {
        ++pos_;
        return ExpectEnd();
      }
      return Fail(pos_, "expected ',' or ']'");
    }
  }

  bool ParseListValue() {
    static constexpr std::string_view kExpected = "expected a value (a number, a quoted string, true or false)";
    const size_t start = pos_;
    if (At('\'') || At('"')) return ParseQuoted(text_[pos_]);
    if (At('[')) return Fail(start, "nested lists are not supported; expected a number, a quoted string, true or false");
    const std::string_view token = Token();
    if (token.empty()) return Fail(start, std::string(kExpected));
    if (ClassifyNumber(token).ok || token == "true" || token == "false" || token == "True" || token == "False") {
      values_.emplace_back(token);
      return true;
    }
    if (IsDigit(token[0]) || token[0] == '.' || token[0] == '+' || token[0] == '-') {
      return Fail(start, Quote(token) + " is not a number");
    }
    return Fail(start, std::string(kExpected) + "; quote strings: " + Quote(token));
  }

  bool ParseQuoted(char quote) {
    const size_t start = pos_++;
    std::string out;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      // Only \<quote> and \\ are escapes; other backslashes stay, so Windows
      // paths and regexes survive as written.
      if (c == '\\' && pos_ + 1 < text_.size() && (text_[pos_ + 1] == quote || text_[pos_ + 1] == '\\')) {
        out += text_[pos_ + 1];
        pos_ += 2;
        continue;
      }
      ++pos_;
      if (c == quote) {
        values_.push_back(std::move(out));
        return true;
      }
      out += c;
    }
    return Fail(start, std::string("unterminated string: expected a closing ") + quote);
  }

  bool ParseCall() {
    const size_t name_start = pos_;
    while (pos_ < text_.size() && IsIdentChar(text_[pos_])) ++pos_;
    const std::string_view name = text_.substr(name_start, pos_ - name_start);
    if (name.empty()) return Fail(pos_, "expected '[' or a function such as linspace(");
    if (!IsKnown(name)) {
      std::string message = "unknown function " + Quote(name);
      if (auto near = NearestFunction(name)) {
        message += "; did you mean " + std::string(*near) + "?";
      } else {
        message += "; expected range, linspace, logspace, uniform, loguniform, normal or randint";
      }
      return Fail(name_start, std::move(message));
    }
    SkipSpaces();
    if (!At('(')) return Fail(pos_, "expected '(' after " + std::string(name));
    ++pos_;
    std::vector<Number> args;
    SkipSpaces();
    if (At(')')) {
      ++pos_;
    } else {
      for (;;) {
        SkipSpaces();
        const size_t start = pos_;
        const std::string_view token = Token();
        if (token.empty()) return Fail(start, "expected a number");
        Number n;
        if (!ParseNumber(token, start, &n)) return false;
        args.push_back(n);
        SkipSpaces();
        if (At(',')) {
          ++pos_;
          continue;
        }
        if (At(')')) {
          ++pos_;
          break;
        }
        return Fail(pos_, "expected ',' or ')'");
      }
    }
    if (!ExpectEnd()) return false;
    return Generate(name, name_start, args);
  }

  bool ParseNumber(std::string_view token, size_t offset, Number* out) {
    const NumberShape shape = ClassifyNumber(token);
    if (!shape.ok) return Fail(offset, Quote(token) + " is not a number");
    out->text = token;
    out->offset = offset;
    out->is_integer = shape.integer;
    // from_chars takes no leading '+'.
    const std::string_view digits = token[0] == '+' ? token.substr(1) : token;
    const char* end = digits.data() + digits.size();
    if (shape.integer) {
      const auto r = std::from_chars(digits.data(), end, out->integer);
      if (r.ec != std::errc() || r.ptr != end) return Fail(offset, Quote(token) + " is out of range for an integer");
      out->value = static_cast<double>(out->integer);
      return true;
    }
    const auto r = std::from_chars(digits.data(), end, out->value);
    if (r.ec != std::errc() || r.ptr != end || !std::isfinite(out->value)) {
      return Fail(offset, Quote(token) + " is out of range for a double");
    }
    return true;
  }

  bool RequireInteger(const Number& n, std::string_view what) {
    if (n.is_integer) return true;
    return Fail(n.offset, std::string(what) + " must be an integer, not " + Quote(n.text));
  }

  // The trailing count argument of every function but range.
  bool RequireCount(const Number& n, uint64_t* count) {
    if (!RequireInteger(n, "the count")) return false;
    if (n.integer < 1) return Fail(n.offset, "the count must be at least 1, not " + Quote(n.text));
    if (static_cast<uint64_t>(n.integer) > kMaxDimensionValues) {
      return Fail(n.offset, "the count " + Quote(n.text) + " is over the limit of " + WithCommas(kMaxDimensionValues) +
                                " values per expression");
    }
    *count = static_cast<uint64_t>(n.integer);
    return true;
  }

  bool PushDouble(double v, std::string_view name, size_t at) {
    if (!std::isfinite(v)) return Fail(at, std::string(name) + " gives values beyond the range of a double");
    values_.push_back(FormatDouble(v));
    return true;
  }

  bool Generate(std::string_view name, size_t at, const std::vector<Number>& args) {
    const Signature* sig = nullptr;
    for (const Signature& s : kSignatures) {
      if (s.name == name) sig = &s;
    }
    if (sig == nullptr) return Fail(at, "unknown function " + Quote(name));  // IsKnown() ruled this out
    if (args.size() < sig->min_args || args.size() > sig->max_args) {
      return Fail(at, "expected " + std::string(sig->params) + ", got " + std::to_string(args.size()) +
                          (args.size() == 1 ? " argument" : " arguments"));
    }
    if (name == "range") return Range(at, args);
    uint64_t count = 0;
    if (!RequireCount(args[2], &count)) return false;
    const Number& a = args[0];
    const Number& b = args[1];
    values_.reserve(count);
    if (name == "linspace" || name == "logspace") {
      // numpy: start + i * step, and the last value is exactly stop.
      const double step = count > 1 ? (b.value - a.value) / static_cast<double>(count - 1) : 0.0;
      for (uint64_t i = 0; i < count; ++i) {
        const double x = i + 1 == count && count > 1 ? b.value : a.value + static_cast<double>(i) * step;
        if (!PushDouble(name == "linspace" ? x : std::pow(10.0, x), name, at)) return false;
      }
      return true;
    }
    if (name == "randint") {
      if (!RequireInteger(a, "low") || !RequireInteger(b, "high")) return false;
      if (a.integer >= b.integer) return Fail(a.offset, "low must be below high (high is exclusive)");
      const uint64_t span = static_cast<uint64_t>(b.integer) - static_cast<uint64_t>(a.integer);
      for (uint64_t i = 0; i < count; ++i) {
        values_.push_back(std::to_string(static_cast<int64_t>(static_cast<uint64_t>(a.integer) + rng_.Below(span))));
      }
      return true;
    }
    if (name == "normal") {
      if (b.value < 0) return Fail(b.offset, "std must not be negative");
      for (uint64_t i = 0; i < count; ++i) {
        if (!PushDouble(a.value + b.value * rng_.NextNormal(), name, at)) return false;
      }
      return true;
    }
    // uniform and loguniform: low < high, draws in [low, high).
    if (a.value >= b.value) return Fail(a.offset, "low must be below high");
    if (name == "loguniform" && a.value <= 0) return Fail(a.offset, "loguniform needs low > 0");
    const bool log = name == "loguniform";
    const double lo = log ? std::log(a.value) : a.value;
    const double width = (log ? std::log(b.value) : b.value) - lo;
    if (!std::isfinite(width)) return Fail(at, std::string(name) + " gives values beyond the range of a double");
    for (uint64_t i = 0; i < count; ++i) {
      double v = lo + rng_.NextDouble() * width;
      if (log) v = std::exp(v);
      // Rounding can land a draw on or past the bounds; keep [low, high).
      if (v < a.value) v = a.value;
      if (v >= b.value) v = std::nextafter(b.value, a.value);
      if (!PushDouble(v, name, at)) return false;
    }
    return true;
  }

  // Python's range over 64-bit integers; the count uses unsigned arithmetic so
  // range(-2^63, 2^63 - 1) cannot overflow before it is refused.
  bool Range(size_t at, const std::vector<Number>& args) {
    for (const Number& n : args) {
      if (!RequireInteger(n, "range() arguments")) return false;
    }
    int64_t start = 0, stop = 0, step = 1;
    if (args.size() == 1) {
      stop = args[0].integer;
    } else {
      start = args[0].integer;
      stop = args[1].integer;
      if (args.size() == 3) step = args[2].integer;
    }
    if (step == 0) return Fail(args[2].offset, "range() step must not be zero");
    uint64_t count = 0;
    if (step > 0 && start < stop) {
      const uint64_t diff = static_cast<uint64_t>(stop) - static_cast<uint64_t>(start);
      const uint64_t s = static_cast<uint64_t>(step);
      count = diff / s + (diff % s != 0 ? 1 : 0);
    } else if (step < 0 && start > stop) {
      const uint64_t diff = static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
      const uint64_t s = 0 - static_cast<uint64_t>(step);
      count = diff / s + (diff % s != 0 ? 1 : 0);
    }
    if (count == 0) return Fail(at, "this range is empty: nothing to sweep");
    if (count > kMaxDimensionValues) {
      return Fail(at, "this range has " + WithCommas(count) + " values, over the limit of " +
                          WithCommas(kMaxDimensionValues) + " per expression");
    }
    values_.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      // Modular arithmetic, then back to signed: no overflow past the last value.
      const uint64_t v = static_cast<uint64_t>(start) + i * static_cast<uint64_t>(step);
      values_.push_back(std::to_string(static_cast<int64_t>(v)));
    }
    return true;
  }

  std::string_view text_;
  SplitMix64 rng_;
  size_t pos_ = 0;
  std::vector<std::string> values_;
  std::optional<ExpressionError> error_;
};

}  // namespace

bool LooksLikeExpression(std::string_view text) {
  const std::string_view t = Trim(text);
  if (t.empty()) return false;
  if (t[0] == '[') return true;
  if (!IsIdentStart(t[0])) return false;
  size_t i = 0;
  while (i < t.size() && IsIdentChar(t[i])) ++i;
  const std::string_view name = t.substr(0, i);
  while (i < t.size() && IsSpace(t[i])) ++i;
  if (i >= t.size() || t[i] != '(') return false;
  return IsKnown(name) || NearestFunction(name).has_value();
}

Evaluation EvaluateExpression(std::string_view text, uint64_t seed) { return Parser(text, seed).Run(); }

std::string FormatDouble(double v) {
  if (v == 0) return "0";  // also turns -0 into 0
  // Shortest round-trip digits first; then Python's repr rule for fixed versus
  // scientific (fixed for exponents -4..15), minus repr's ".0" on integers.
  char buf[64];
  const auto sci = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view s(buf, static_cast<size_t>(sci.ptr - buf));
  const size_t e = s.find('e');
  int exponent = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+' ? 1 : 0), s.data() + s.size(), exponent);
  if (exponent >= -4 && exponent < 16) {
    const auto fixed = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    return std::string(buf, fixed.ptr);
  }
  return std::string(s);
}

std::string WithCommas(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace lattice::sweep
