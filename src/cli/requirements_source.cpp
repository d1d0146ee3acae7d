#include "cli/requirements_source.h"

#include <cctype>
#include <cstdint>
#include <optional>
#include <set>
#include <system_error>

#include "common/fs.h"
#include "common/text.h"
#include "common/utf8.h"

namespace lattice::cli {
namespace {

constexpr int kMaxIncludeDepth = 32;
constexpr int kMaxTomlNesting = 64;

// The file of a `-r FILE`, `-rFILE`, `--requirement FILE` or
// `--requirement=FILE` line; nullopt for any other line.
std::optional<std::string> IncludedFile(const std::string& line) {
  std::string t = TrimBlanks(line.substr(0, line.find(" #")));
  for (const char* flag : {"--requirement", "-r"}) {
    std::string f = flag;
    if (t.rfind(f, 0) != 0) continue;
    std::string rest = t.substr(f.size());
    if (rest.empty()) return std::nullopt;
    if (rest[0] == '=' || rest[0] == ' ' || rest[0] == '\t') rest = TrimBlanks(rest.substr(1));
    else if (f == "--requirement") continue;  // e.g. --requirements-foo: not ours
    if (!rest.empty() && rest[0] == '=') rest = TrimBlanks(rest.substr(1));
    if (rest.empty()) return std::nullopt;
    return rest;
  }
  return std::nullopt;
}

Status Inline(const std::filesystem::path& file, int depth, std::set<std::string>* stack, std::string* out) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(file, ec);
  std::string id = ec ? file.string() : canonical.string();
  if (depth > kMaxIncludeDepth)
    return Error(ErrorCode::kInvalidArgument, "requirement files include each other more than " +
                                                  std::to_string(kMaxIncludeDepth) + " levels deep at " + file.string());
  if (stack->count(id)) return Error(ErrorCode::kInvalidArgument, "requirement file " + file.string() + " includes itself");
  auto text = fs::ReadFile(file);
  if (!text.ok()) return text.error().Wrap("reading requirements");
  if (text->find('\0') != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, file.string() + " is not a text file (it holds a NUL byte)");
  stack->insert(id);
  size_t line_no = 0;
  size_t start = 0;
  while (start < text->size()) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(start, end - start);
    ++line_no;
    start = end + 1;
    if (auto inc = IncludedFile(line)) {
      std::filesystem::path child = *inc;
      if (child.is_relative()) child = file.parent_path() / child;
      Status st = Inline(child, depth + 1, stack, out);
      if (!st.ok()) return st.error().Wrap(file.string() + " line " + std::to_string(line_no));
      continue;
    }
    out->append(line).push_back('\n');
  }
  stack->erase(id);
  return OkStatus();
}

// A reader for the TOML subset pyproject.toml files use, enough to find one
// array of strings and to skip everything else exactly.
class TomlReader final {
 public:
  TomlReader(std::string_view text, std::string name) : s_(text), name_(std::move(name)) {}

  Result<std::vector<std::string>> Dependencies() {
    std::string table;
    std::optional<std::vector<std::string>> deps;
    while (true) {
      SkipBlankLines();
      if (pos_ >= s_.size()) break;
      if (s_[pos_] == '[') {
        bool array_table = pos_ + 1 < s_.size() && s_[pos_ + 1] == '[';
        pos_ += array_table ? 2 : 1;
        LATTICE_ASSIGN_OR_RETURN(std::string key, Key());
        if (!Eat(']') || (array_table && !Eat(']'))) return Fail("a table header must end with ']'");
        table = array_table ? "[" + key + "]" : key;  // an array table is never [project]
      } else {
        LATTICE_ASSIGN_OR_RETURN(std::string key, Key());
        if (!Eat('=')) return Fail("expected '=' after the key '" + key + "'");
        SkipSpaces();
        std::string full = table.empty() ? key : table + "." + key;
        if (full == "project.dependencies") {
          LATTICE_ASSIGN_OR_RETURN(auto list, StringArray("dependencies"));
          deps = std::move(list);
        } else if (full == "project.dynamic") {
          LATTICE_ASSIGN_OR_RETURN(auto list, StringArray("dynamic"));
          for (const auto& d : list)
            if (d == "dependencies")
              return Error(ErrorCode::kInvalidArgument,
                           name_ + " declares its dependencies dynamic, so they cannot be read from it; list them "
                                   "in a requirements file and pass --requirements FILE");
        } else {
          LATTICE_RETURN_IF_ERROR(SkipValue(0));
        }
      }
      SkipSpaces();
      SkipComment();
      if (pos_ < s_.size() && s_[pos_] != '\n' && s_[pos_] != '\r') return Fail("expected the end of the line");
    }
    return deps.value_or(std::vector<std::string>{});
  }

 private:
  Error Fail(const std::string& what) const {
    return Error(ErrorCode::kInvalidArgument, name_ + " line " + std::to_string(line_) + ": " + what);
  }

  void SkipSpaces() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  void SkipComment() {
    if (pos_ < s_.size() && s_[pos_] == '#')
      while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
  }
  // Spaces, comments and newlines (inside arrays, and between statements).
  void SkipBlankLines() {
    while (pos_ < s_.size()) {
      SkipSpaces();
      SkipComment();
      if (pos_ < s_.size() && (s_[pos_] == '\n' || s_[pos_] == '\r')) {
        if (s_[pos_] == '\n') ++line_;
        ++pos_;
      } else {
        break;
      }
    }
  }
  bool Eat(char c) {
    SkipSpaces();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // A dotted key of bare and quoted parts, joined with '.'.
  Result<std::string> Key() {
    std::string key;
    while (true) {
      SkipSpaces();
      if (pos_ >= s_.size()) return Fail("expected a key");
      char c = s_[pos_];
      if (c == '"' || c == '\'') {
        LATTICE_ASSIGN_OR_RETURN(std::string part, String());
        key += part;
      } else {
        size_t b = pos_;
        while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                    s_[pos_] == '-'))
          ++pos_;
        if (b == pos_) return Fail("expected a key, found '" + std::string(1, c) + "'");
        key += s_.substr(b, pos_ - b);
      }
      SkipSpaces();
      if (pos_ < s_.size() && s_[pos_] == '.') {
        ++pos_;
        key += '.';
        continue;
      }
      return key;
    }
  }

  // Any of the four string forms, at pos_.
  Result<std::string> String() {
    char q = s_[pos_];
    bool multi = s_.substr(pos_, 3) == std::string(3, q);
    pos_ += multi ? 3 : 1;
    if (multi && pos_ < s_.size() && s_[pos_] == '\n') {  // a newline right after the quotes is dropped
      ++pos_;
      ++line_;
    }
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) return Fail("a string is not closed");
      char c = s_[pos_];
      if (multi ? s_.substr(pos_, 3) == std::string(3, q) : c == q) {
        pos_ += multi ? 3 : 1;
        // Up to two more quotes may close a multi-line string.
        for (int extra = 0; multi && extra < 2 && pos_ < s_.size() && s_[pos_] == q; ++extra) {
          out.push_back(q);
          ++pos_;
        }
        return out;
      }
      if (c == '\n') {
        if (!multi) return Fail("a string is not closed on its line");
        ++line_;
      }
      if (c == '\\' && q == '"') {
        if (++pos_ >= s_.size()) return Fail("a string ends in '\\'");
        char e = s_[pos_++];
        switch (e) {
          case 'b': out.push_back('\b'); break;
          case 't': out.push_back('\t'); break;
          case 'n': out.push_back('\n'); break;
          case 'f': out.push_back('\f'); break;
          case 'r': out.push_back('\r'); break;
          case 'e': out.push_back('\x1b'); break;
          case '"': out.push_back('"'); break;
          case '\\': out.push_back('\\'); break;
          case 'u':
          case 'U': {
            size_t n = e == 'u' ? 4 : 8;
            if (pos_ + n > s_.size()) return Fail("a \\" + std::string(1, e) + " escape is cut short");
            uint32_t cp = 0;
            for (size_t i = 0; i < n; ++i) {
              char h = s_[pos_ + i];
              int v = std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                      : (h >= 'a' && h <= 'f')                    ? h - 'a' + 10
                      : (h >= 'A' && h <= 'F')                    ? h - 'A' + 10
                                                                  : -1;
              if (v < 0) return Fail("a \\" + std::string(1, e) + " escape needs hex digits");
              cp = cp * 16 + static_cast<uint32_t>(v);
            }
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return Fail("a \\u escape is not a Unicode scalar");
            pos_ += n;
            AppendUtf8(&out, cp);
            break;
          }
          case ' ':
          case '\t':
          case '\r':
          case '\n':
            if (!multi) return Fail("unknown escape '\\" + std::string(1, e) + "'");
            // A line-ending backslash trims the whitespace after it.
            --pos_;
            while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n')) {
              if (s_[pos_] == '\n') ++line_;
              ++pos_;
            }
            break;
          default:
            return Fail("unknown escape '\\" + std::string(1, e) + "'");
        }
        continue;
      }
      out.push_back(c);
      ++pos_;
    }
  }

  Result<std::vector<std::string>> StringArray(const std::string& key) {
    if (pos_ >= s_.size() || s_[pos_] != '[') return Fail("'" + key + "' must be an array of strings");
    ++pos_;
    std::vector<std::string> out;
    while (true) {
      SkipBlankLines();
      if (pos_ >= s_.size()) return Fail("the '" + key + "' array is not closed");
      if (s_[pos_] == ']') {
        ++pos_;
        return out;
      }
      if (s_[pos_] != '"' && s_[pos_] != '\'') return Fail("'" + key + "' must hold only strings");
      LATTICE_ASSIGN_OR_RETURN(std::string v, String());
      out.push_back(std::move(v));
      SkipBlankLines();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      SkipBlankLines();
      if (pos_ >= s_.size() || s_[pos_] != ']') return Fail("expected ',' or ']' in the '" + key + "' array");
    }
  }

  // Any value: strings, arrays and inline tables (nested), or a bare
  // scalar (number, boolean, date) up to the next delimiter.
  Status SkipValue(int depth) {
    if (depth > kMaxTomlNesting) return Fail("values are nested too deeply");
    SkipSpaces();
    if (pos_ >= s_.size()) return Fail("expected a value");
    char c = s_[pos_];
    if (c == '"' || c == '\'') {
      LATTICE_RETURN_IF_ERROR(String());
      return OkStatus();
    }
    if (c == '[' || c == '{') {
      char close = c == '[' ? ']' : '}';
      ++pos_;
      while (true) {
        if (c == '[') SkipBlankLines();
        else SkipSpaces();
        if (pos_ >= s_.size()) return Fail(std::string("a '") + c + "' is not closed");
        if (s_[pos_] == close) {
          ++pos_;
          return OkStatus();
        }
        if (c == '{') {
          LATTICE_RETURN_IF_ERROR(Key());
          if (!Eat('=')) return Fail("expected '=' in an inline table");
        }
        LATTICE_RETURN_IF_ERROR(SkipValue(depth + 1));
        if (c == '[') SkipBlankLines();
        else SkipSpaces();
        if (pos_ < s_.size() && s_[pos_] == ',') {
          ++pos_;
          continue;
        }
        if (c == '[') SkipBlankLines();
        if (pos_ >= s_.size() || s_[pos_] != close)
          return Fail(std::string("expected ',' or '") + close + "'");
      }
    }
    size_t b = pos_;
    while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != ']' && s_[pos_] != '}' && s_[pos_] != '\n' &&
           s_[pos_] != '\r' && s_[pos_] != '#')
      ++pos_;
    if (TrimBlanks(s_.substr(b, pos_ - b)).empty()) return Fail("expected a value");
    return OkStatus();
  }

  std::string_view s_;
  std::string name_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Result<std::string> InlineIncludes(const std::filesystem::path& file) {
  std::set<std::string> stack;
  std::string out;
  LATTICE_RETURN_IF_ERROR(Inline(file, 0, &stack, &out));
  return out;
}

Result<std::vector<std::string>> PyprojectDependencies(std::string_view toml, const std::string& name) {
  return TomlReader(toml, name).Dependencies();
}

Result<RequirementsSource> FindRequirements(const std::filesystem::path& dir, const std::string& explicit_file) {
  RequirementsSource out;
  if (!explicit_file.empty()) {
    LATTICE_ASSIGN_OR_RETURN(out.text, InlineIncludes(explicit_file));
    out.source = explicit_file;
    return out;
  }
  std::error_code ec;
  if (std::filesystem::is_regular_file(dir / "requirements.txt", ec)) {
    LATTICE_ASSIGN_OR_RETURN(out.text, InlineIncludes(dir / "requirements.txt"));
    out.source = "requirements.txt";
    return out;
  }
  if (std::filesystem::is_regular_file(dir / "pyproject.toml", ec)) {
    LATTICE_ASSIGN_OR_RETURN(std::string toml, fs::ReadFile(dir / "pyproject.toml"));
    LATTICE_ASSIGN_OR_RETURN(auto deps, PyprojectDependencies(toml, "pyproject.toml"));
    if (deps.empty()) return out;
    for (const auto& d : deps) {
      if (d.find('\n') != std::string::npos || d.find('\0') != std::string::npos)
        return Error(ErrorCode::kInvalidArgument, "pyproject.toml: the dependency '" + d.substr(0, 60) +
                                                      "' spans lines; write each on one line");
      out.text += d + "\n";
    }
    out.source = "pyproject.toml";
  }
  return out;
}

}  // namespace lattice::cli
