#include "metrics/jsonl.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "common/utf8.h"

namespace lattice::metrics {
namespace jsonl_internal {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsBlank(std::string_view line) {
  for (char c : line)
    if (!IsSpace(c)) return false;
  return true;
}

// The strings that stand for non-finite numbers.
bool SpecialNumber(std::string_view s, double* v) {
  if (s == "NaN" || s == "nan") {
    *v = kNaN;
  } else if (s == "Infinity" || s == "inf") {
    *v = kInf;
  } else if (s == "-Infinity" || s == "-inf") {
    *v = -kInf;
  } else {
    return false;
  }
  return true;
}

// A number token after it was checked against the JSON grammar.
struct Number {
  double value;
  bool integral;  // no fraction, no exponent, not a literal
  const char* begin;
  const char* end;
};

class Parser {
 public:
  Parser(std::string_view line, std::vector<Item>* items, std::string* keys, std::string* scratch,
         std::vector<KeyIssue>* issues)
      : b_(line.data()), p_(line.data()), e_(line.data() + line.size()), items_(items), keys_(keys),
        scratch_(scratch), issues_(issues) {}

  bool Line() {
    SkipSpace();
    if (p_ == e_) return Fail("empty line");
    if (*p_ != '{') return Fail("expected '{' (a line is one JSON object)");
    path_.clear();
    if (!Object(1)) return false;
    SkipSpace();
    if (p_ != e_) return Fail("unexpected text after the object");
    return true;
  }

  bool has_step = false, has_time = false;
  int64_t step = 0;
  double time = 0;
  std::string error;

 private:
  bool Fail(const char* what) {
    if (error.empty()) error = std::string(what) + " at column " + std::to_string(p_ - b_ + 1);
    return false;
  }

  void SkipSpace() {
    while (p_ < e_ && IsSpace(*p_)) ++p_;
  }

  bool Expect(char c, const char* what) {
    SkipSpace();
    if (p_ == e_ || *p_ != c) return Fail(what);
    ++p_;
    return true;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(e_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
      return Fail("invalid literal");
    p_ += word.size();
    return true;
  }

  bool Hex4(uint32_t* v) {
    if (e_ - p_ < 4) return Fail("truncated \\u escape");
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = p_[i];
      r <<= 4;
      if (c >= '0' && c <= '9') r |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') r |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') r |= static_cast<uint32_t>(c - 'A' + 10);
      else return Fail("invalid \\u escape");
    }
    p_ += 4;
    *v = r;
    return true;
  }

  // At '"': appends the decoded string to *out.
  bool String(std::string* out) {
    ++p_;
    for (;;) {
      const char* run = p_;
      while (p_ < e_ && *p_ != '"' && *p_ != '\\' && static_cast<unsigned char>(*p_) >= 0x20) ++p_;
      out->append(run, static_cast<size_t>(p_ - run));
      if (p_ == e_) return Fail("unterminated string");
      const char c = *p_;
      if (c == '"') {
        ++p_;
        return true;
      }
      if (c != '\\') return Fail("control character in a string");
      ++p_;
      if (p_ == e_) return Fail("unterminated string");
      const char esc = *p_++;
      switch (esc) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          uint32_t cp = 0;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xdc00 && cp <= 0xdfff) return Fail("lone low surrogate in \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (e_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return Fail("high surrogate without its low half");
            p_ += 2;
            uint32_t lo = 0;
            if (!Hex4(&lo)) return false;
            if (lo < 0xdc00 || lo > 0xdfff) return Fail("high surrogate without its low half");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          p_ -= 2;  // at the backslash
          return Fail("invalid escape");
      }
    }
  }

  // At '-' or a digit, or a literal NaN / Infinity / -Infinity.
  bool ParseNumber(Number* n) {
    n->begin = p_;
    n->integral = false;
    if (*p_ == 'N') {
      if (!Literal("NaN")) return false;
      n->value = kNaN;
      n->end = p_;
      return true;
    }
    bool negative = false;
    if (*p_ == '-') {
      negative = true;
      ++p_;
    }
    if (p_ < e_ && *p_ == 'I') {
      if (!Literal("Infinity")) return false;
      n->value = negative ? -kInf : kInf;
      n->end = p_;
      return true;
    }
    if (p_ == e_ || !IsDigit(*p_)) return Fail("invalid number");
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ < e_ && IsDigit(*p_)) ++p_;
    }
    n->integral = true;
    if (p_ < e_ && *p_ == '.') {
      ++p_;
      if (p_ == e_ || !IsDigit(*p_)) return Fail("invalid number: digits must follow '.'");
      while (p_ < e_ && IsDigit(*p_)) ++p_;
      n->integral = false;
    }
    if (p_ < e_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < e_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == e_ || !IsDigit(*p_)) return Fail("invalid number: digits must follow the exponent");
      while (p_ < e_ && IsDigit(*p_)) ++p_;
      n->integral = false;
    }
    n->end = p_;
    const auto r = std::from_chars(n->begin, n->end, n->value);
    if (r.ec == std::errc::result_out_of_range) {
      // Too large is +-Inf (as Python reads it); too small is +-0.
      const char* exp = n->begin;
      while (exp < n->end && *exp != 'e' && *exp != 'E') ++exp;
      const bool tiny = exp < n->end && exp[1] == '-';
      n->value = tiny ? (negative ? -0.0 : 0.0) : (negative ? -kInf : kInf);
    } else if (r.ec != std::errc() || r.ptr != n->end) {
      return Fail("invalid number");
    }
    return true;
  }

  // Skips an array (or any value inside one), checking its syntax.
  bool SkipValue(int depth) {
    SkipSpace();
    if (p_ == e_) return Fail("unexpected end of line");
    const char c = *p_;
    if (c == '[' || c == '{') {
      if (depth > kMaxJsonDepth) return Fail("nesting deeper than 32 levels");
      const char close = c == '[' ? ']' : '}';
      ++p_;
      SkipSpace();
      if (p_ < e_ && *p_ == close) {
        ++p_;
        return true;
      }
      for (;;) {
        if (close == '}') {
          SkipSpace();
          if (p_ == e_ || *p_ != '"') return Fail("expected a key string");
          scratch_->clear();
          if (!String(scratch_) || !Expect(':', "expected ':' after the key")) return false;
        }
        if (!SkipValue(depth + 1)) return false;
        SkipSpace();
        if (p_ < e_ && *p_ == ',') {
          ++p_;
          continue;
        }
        if (p_ < e_ && *p_ == close) {
          ++p_;
          return true;
        }
        return Fail(close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
      }
    }
    if (c == '"') {
      scratch_->clear();
      return String(scratch_);
    }
    if (c == 't') return Literal("true");
    if (c == 'f') return Literal("false");
    if (c == 'n') return Literal("null");
    if (c == '-' || IsDigit(c) || c == 'N' || c == 'I') {
      Number n;
      return ParseNumber(&n);
    }
    return Fail("unexpected character");
  }

  void Emit(std::string_view name, double value) {
    const size_t offset = keys_->size();
    keys_->append(path_);
    keys_->append(name);
    items_->push_back(Item{static_cast<uint32_t>(offset), static_cast<uint32_t>(keys_->size() - offset), value});
  }

  void Issue(std::string_view name, const char* what) {
    std::string key = path_;
    key.append(name);
    issues_->push_back(KeyIssue{std::move(key), what});
  }

  // At '{'. depth 1 is the line's object; path_ holds the prefix of its keys.
  bool Object(int depth) {
    if (depth > kMaxJsonDepth) return Fail("nesting deeper than 32 levels");
    ++p_;
    SkipSpace();
    if (p_ < e_ && *p_ == '}') {
      ++p_;
      return true;
    }
    std::string name;  // reused for every member of this object
    for (;;) {
      SkipSpace();
      if (p_ == e_ || *p_ != '"') return Fail("expected a key string");
      name.clear();
      if (!String(&name)) return false;
      if (!Expect(':', "expected ':' after the key")) return false;
      SkipSpace();
      if (p_ == e_) return Fail("unexpected end of line");
      if (!Member(depth, name)) return false;
      SkipSpace();
      if (p_ < e_ && *p_ == ',') {
        ++p_;
        continue;
      }
      if (p_ < e_ && *p_ == '}') {
        ++p_;
        return true;
      }
      return Fail("expected ',' or '}'");
    }
  }

  // At the first character of the value of member `name`.
  bool Member(int depth, const std::string& name) {
    const char c = *p_;
    const char* at = p_;
    if (depth == 1 && (name == "step" || name == "time")) {
      const bool is_step = name[0] == 's';
      if (c == 'n') {  // null: as if missing
        return Literal("null");
      }
      if (!(c == '-' || IsDigit(c) || c == 'N' || c == 'I'))
        return Fail(is_step ? "\"step\" must be an integer" : "\"time\" must be a number (seconds since the epoch)");
      Number n;
      if (!ParseNumber(&n)) return false;
      if (is_step) {
        int64_t s = 0;
        if (n.integral) {
          const auto r = std::from_chars(n.begin, n.end, s);
          if (r.ec != std::errc() || r.ptr != n.end) {
            p_ = at;
            return Fail("\"step\" is out of range");
          }
        } else if (std::isfinite(n.value) && n.value == std::floor(n.value) && n.value >= -9.2e18 &&
                   n.value <= 9.2e18) {
          s = static_cast<int64_t>(n.value);
        } else {
          p_ = at;
          return Fail("\"step\" must be an integer");
        }
        step = s;
        has_step = true;
      } else {
        if (!std::isfinite(n.value)) {
          p_ = at;
          return Fail("\"time\" must be a finite number");
        }
        time = n.value;
        has_time = true;
      }
      return true;
    }
    switch (c) {
      case '{': {
        const size_t saved = path_.size();
        path_.append(name);
        path_.push_back('/');
        const bool ok = Object(depth + 1);
        path_.resize(saved);
        return ok;
      }
      case '"': {
        scratch_->clear();
        if (!String(scratch_)) return false;
        double v;
        if (SpecialNumber(*scratch_, &v)) {
          Emit(name, v);
        } else {
          Issue(name, "value is a string");
        }
        return true;
      }
      case '[':
        if (!SkipValue(depth + 1)) return false;
        Issue(name, "value is an array");
        return true;
      case 't':
        if (!Literal("true")) return false;
        Emit(name, 1);
        return true;
      case 'f':
        if (!Literal("false")) return false;
        Emit(name, 0);
        return true;
      case 'n':
        return Literal("null");
      default: {
        if (!(c == '-' || IsDigit(c) || c == 'N' || c == 'I')) return Fail("unexpected character");
        Number n;
        if (!ParseNumber(&n)) return false;
        Emit(name, n.value);
        return true;
      }
    }
  }

  const char* b_;
  const char* p_;
  const char* e_;
  std::vector<Item>* items_;
  std::string* keys_;
  std::string* scratch_;
  std::vector<KeyIssue>* issues_;
  std::string path_;
};

}  // namespace

Status LineParser::Parse(std::string_view line, double now, int64_t default_step, int64_t* step, double* time,
                         std::vector<KeyIssue>* issues) {
  items_.clear();
  keys_.clear();
  const size_t first_issue = issues->size();
  Parser parser(line, &items_, &keys_, &scratch_, issues);
  if (!parser.Line()) {
    items_.clear();
    issues->resize(first_issue);
    return Error(ErrorCode::kInvalidArgument, std::move(parser.error));
  }
  *step = parser.has_step ? parser.step : default_step;
  *time = parser.has_time ? parser.time : now;
  return OkStatus();
}

}  // namespace jsonl_internal

using jsonl_internal::IsBlank;

namespace {

int64_t StepAfter(int64_t step) { return step < std::numeric_limits<int64_t>::max() ? step + 1 : step; }

}  // namespace

Status ParseMetricsLine(std::string_view line, double now, int64_t* next_step,
                        std::vector<std::pair<std::string, Point>>* out, std::vector<std::string>* key_warnings) {
  if (IsBlank(line)) return OkStatus();
  jsonl_internal::LineParser parser;
  std::vector<jsonl_internal::KeyIssue> issues;
  int64_t step;
  double time;
  LATTICE_RETURN_IF_ERROR(parser.Parse(line, now, *next_step, &step, &time, &issues));
  *next_step = StepAfter(step);
  for (const auto& issue : issues) key_warnings->push_back("key '" + issue.key + "': " + issue.what + "; skipped");
  for (const auto& item : parser.items()) {
    const std::string_view key = parser.key(item);
    const Status valid = ValidateKey(key);
    if (!valid.ok()) {
      key_warnings->push_back("bad key: " + valid.error().message + "; value skipped");
      continue;
    }
    out->emplace_back(std::string(key), Point{step, time, item.value});
  }
  return OkStatus();
}

JsonlMetricsTail::JsonlMetricsTail(std::string label, uint64_t start_offset, int64_t start_line, int64_t next_step)
    : label_(std::move(label)), consumed_(start_offset), next_line_(start_line), next_step_(next_step) {}

void JsonlMetricsTail::BeginCall(std::vector<SeriesBatch>* out) {
  ++generation_;
  for (size_t i = 0; i < out->size(); ++i) {
    KeyState& ks = keys_[(*out)[i].key];
    ks.generation = generation_;
    ks.batch = i;
  }
}

JsonlMetricsTail::KeyState& JsonlMetricsTail::Key(std::string_view key, std::vector<SeriesBatch>*,
                                                  std::vector<std::string>* warnings) {
  auto it = keys_.find(key);
  if (it != keys_.end()) return it->second;
  KeyState& ks = keys_.emplace(std::string(key), KeyState{}).first->second;
  const Status valid = ValidateKey(key);
  if (!valid.ok()) {
    ks.valid = false;
    warnings->push_back(label_ + " line " + std::to_string(next_line_ - 1) + ": bad key: " + valid.error().message +
                        "; its values are skipped (reported once per key)");
  }
  return ks;
}

void JsonlMetricsTail::Line(std::string_view line, double now, std::vector<SeriesBatch>* out,
                            std::vector<std::string>* warnings) {
  const int64_t number = next_line_++;
  if (IsBlank(line)) return;
  issues_.clear();
  int64_t step;
  double time;
  const Status parsed = parser_.Parse(line, now, next_step_, &step, &time, &issues_);
  if (!parsed.ok()) {
    warnings->push_back(label_ + " line " + std::to_string(number) + ": " + parsed.error().message +
                        "; line skipped");
    return;
  }
  next_step_ = StepAfter(step);
  for (const auto& issue : issues_) {
    KeyState& ks = Key(issue.key, out, warnings);
    if (ks.valid && !ks.warned) {
      ks.warned = true;
      warnings->push_back(label_ + " line " + std::to_string(number) + ": key '" + issue.key + "': " + issue.what +
                          "; skipped (reported once per key)");
    }
  }
  for (const auto& item : parser_.items()) {
    const std::string_view key = parser_.key(item);
    KeyState& ks = Key(key, out, warnings);
    if (!ks.valid) continue;
    if (ks.generation != generation_) {
      ks.generation = generation_;
      ks.batch = out->size();
      out->push_back(SeriesBatch{std::string(key), {}});
    }
    (*out)[ks.batch].points.push_back(Point{step, time, item.value});
  }
}

void JsonlMetricsTail::Feed(std::string_view bytes, double now, std::vector<SeriesBatch>* out,
                            std::vector<std::string>* warnings) {
  BeginCall(out);
  size_t pos = 0;
  const size_t n = bytes.size();
  if (dropping_long_line_) {
    const void* nl = std::memchr(bytes.data(), '\n', n);
    if (nl == nullptr) {
      dropped_ += n;
      return;
    }
    pos = static_cast<size_t>(static_cast<const char*>(nl) - bytes.data()) + 1;
    consumed_ += dropped_ + pos;
    dropped_ = 0;
    dropping_long_line_ = false;
  }
  if (!partial_.empty()) {
    const void* nl = std::memchr(bytes.data() + pos, '\n', n - pos);
    const size_t end = nl == nullptr ? n : static_cast<size_t>(static_cast<const char*>(nl) - bytes.data());
    partial_.append(bytes.substr(pos, end - pos));
    if (nl == nullptr) {
      if (partial_.size() > kMaxJsonlLineBytes) StartDropping(warnings);
      return;
    }
    Line(partial_, now, out, warnings);
    consumed_ += partial_.size() + 1;
    partial_.clear();
    pos = end + 1;
  }
  for (;;) {
    const void* nl = std::memchr(bytes.data() + pos, '\n', n - pos);
    if (nl == nullptr) break;
    const size_t end = static_cast<size_t>(static_cast<const char*>(nl) - bytes.data());
    Line(bytes.substr(pos, end - pos), now, out, warnings);
    consumed_ += end - pos + 1;
    pos = end + 1;
  }
  partial_.assign(bytes.substr(pos));
  if (partial_.size() > kMaxJsonlLineBytes) StartDropping(warnings);
}

void JsonlMetricsTail::StartDropping(std::vector<std::string>* warnings) {
  warnings->push_back(label_ + " line " + std::to_string(next_line_) + ": longer than " +
                      std::to_string(kMaxJsonlLineBytes) + " bytes; line skipped");
  ++next_line_;
  dropped_ = partial_.size();
  partial_.clear();
  partial_.shrink_to_fit();
  dropping_long_line_ = true;
}

void JsonlMetricsTail::Finish(double now, std::vector<SeriesBatch>* out, std::vector<std::string>* warnings) {
  BeginCall(out);
  if (dropping_long_line_) {
    consumed_ += dropped_;
    dropped_ = 0;
    dropping_long_line_ = false;
  }
  if (partial_.empty()) return;
  Line(partial_, now, out, warnings);
  consumed_ += partial_.size();
  partial_.clear();
}

}  // namespace lattice::metrics
