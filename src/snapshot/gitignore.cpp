#include "snapshot/gitignore.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace lattice::snapshot {
namespace {

// -1 stands for "past the end" so that NUL bytes in a pattern stay ordinary.
int ByteAt(std::string_view s, size_t i) {
  return i < s.size() ? static_cast<unsigned char>(s[i]) : -1;
}

// Git's character classes are ASCII-only (sane_ctype), independent of locale.
bool InPosixClass(std::string_view name, int c, bool* known) {
  *known = true;
  const bool ascii = c >= 0 && c < 128;
  const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
  if (name == "alnum") return ascii && std::isalnum(c);
  if (name == "alpha") return ascii && std::isalpha(c);
  if (name == "blank") return c == ' ' || c == '\t';
  if (name == "cntrl") return ascii && std::iscntrl(c);
  if (name == "digit") return c >= '0' && c <= '9';
  if (name == "graph") return ascii && std::isgraph(c);
  if (name == "lower") return c >= 'a' && c <= 'z';
  if (name == "print") return ascii && std::isprint(c);
  if (name == "punct") return ascii && std::ispunct(c);
  if (name == "space") return space;
  if (name == "upper") return c >= 'A' && c <= 'Z';
  if (name == "xdigit") return ascii && std::isxdigit(c);
  *known = false;
  return false;
}

// Removes trailing unescaped spaces, as git's trim_trailing_spaces does
// (a line ending in a lone '\' is left alone).
std::string_view TrimTrailingSpaces(std::string_view line) {
  size_t last_space = std::string_view::npos;
  for (size_t i = 0; i < line.size(); ++i) {
    if (line[i] == ' ') {
      if (last_space == std::string_view::npos) last_space = i;
      continue;
    }
    if (line[i] == '\\') {
      if (++i == line.size()) return line;
    }
    last_space = std::string_view::npos;
  }
  return last_space == std::string_view::npos ? line : line.substr(0, last_space);
}

size_t Depth(std::string_view base) {
  return base.empty() ? 0 : 1 + std::count(base.begin(), base.end(), '/');
}

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

Glob::Glob(std::string_view p) {
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\') {
      if (i + 1 == p.size()) {  // git: a trailing backslash never matches
        valid_ = false;
        return;
      }
      tokens_.push_back({Kind::kLiteral, static_cast<uint8_t>(p[i + 1])});
      i += 2;
    } else if (c == '?') {
      tokens_.push_back({Kind::kAnyChar});
      ++i;
    } else if (c == '[') {
      ByteSet set;
      if (!ParseClass(p, &i, &set)) {  // git aborts the whole match
        valid_ = false;
        return;
      }
      tokens_.push_back({Kind::kClass, 0, static_cast<uint32_t>(class_bits_.size())});
      class_bits_.push_back(set);
    } else if (c == '*') {
      size_t j = i;
      while (j < p.size() && p[j] == '*') ++j;
      // Only a "**" that fills a whole path segment spans directories;
      // any other run of stars is a plain '*'.
      const bool whole_segment = j - i >= 2 && (i == 0 || p[i - 1] == '/');
      if (whole_segment && j == p.size()) {
        tokens_.push_back({Kind::kAnyRun});
      } else if (whole_segment && p[j] == '/') {
        tokens_.push_back({Kind::kDirsPrefix});
        ++j;  // the slash belongs to the "zero or more directories" token
      } else if (tokens_.empty() || tokens_.back().kind != Kind::kStar) {
        tokens_.push_back({Kind::kStar});
      }
      i = j;
    } else {
      tokens_.push_back({Kind::kLiteral, static_cast<uint8_t>(c)});
      ++i;
    }
  }
}

// Mirrors the '[' case of git's wildmatch.c, including its quirks: a ']'
// right after '[' or '[!' is literal, "[:" without ":]" is a literal '[',
// and an unknown "[:name:]" makes the pattern invalid.
bool Glob::ParseClass(std::string_view p, size_t* pos, ByteSet* set) {
  size_t i = *pos + 1;
  int c = ByteAt(p, i);
  bool negated = false;
  if (c == '!' || c == '^') {
    negated = true;
    c = ByteAt(p, ++i);
  }
  int prev = -1;
  while (true) {
    if (c < 0) return false;
    if (c == '\\') {
      c = ByteAt(p, ++i);
      if (c < 0) return false;
      set->Add(static_cast<unsigned char>(c));
    } else if (c == '-' && prev >= 0 && ByteAt(p, i + 1) >= 0 && ByteAt(p, i + 1) != ']') {
      c = ByteAt(p, ++i);
      if (c == '\\') {
        c = ByteAt(p, ++i);
        if (c < 0) return false;
      }
      for (int x = prev; x <= c; ++x) set->Add(static_cast<unsigned char>(x));
      c = -1;  // a range end cannot start another range
    } else if (c == '[' && ByteAt(p, i + 1) == ':') {
      const size_t name_start = i + 2;
      size_t k = name_start;
      while (ByteAt(p, k) >= 0 && ByteAt(p, k) != ']') ++k;
      if (ByteAt(p, k) < 0) return false;
      if (k == name_start || p[k - 1] != ':') {
        set->Add('[');  // not a "[:name:]": a literal '[', go on from ':'
      } else {
        const std::string_view name = p.substr(name_start, k - 1 - name_start);
        bool known = false;
        for (int x = 0; x < 256; ++x) {
          if (InPosixClass(name, x, &known)) set->Add(static_cast<unsigned char>(x));
          if (!known) return false;
        }
        i = k;
        c = -1;
      }
    } else {
      set->Add(static_cast<unsigned char>(c));
    }
    prev = c;
    c = ByteAt(p, ++i);
    if (c == ']') break;
  }
  if (negated) {
    for (uint64_t& w : set->words) w = ~w;
  }
  // In pathname mode a class never matches '/'; basenames contain none.
  set->words['/' >> 6] &= ~(uint64_t{1} << ('/' & 63));
  *pos = i + 1;
  return true;
}

// Simulates the token sequence over all text positions at once (an NFA), so
// matching is O(tokens * text) whatever the pattern; backtracking matchers
// can be driven exponential by patterns like "*a*a*a*a*b".
bool Glob::Matches(std::string_view text) const {
  if (!valid_) return false;
  const size_t n = text.size();
  std::array<char, 2 * 257> stack_buf;
  std::vector<char> heap_buf;
  char* cur = stack_buf.data();
  if (n + 1 > 257) {
    heap_buf.resize(2 * (n + 1));
    cur = heap_buf.data();
  }
  char* next = cur + (n + 1);
  std::fill(cur, cur + n + 1, 0);
  cur[0] = 1;
  for (const Token& t : tokens_) {
    std::fill(next, next + n + 1, 0);
    bool any = false;
    bool run = false;
    for (size_t p = 0; p <= n; ++p) {
      const unsigned char ch = p < n ? static_cast<unsigned char>(text[p]) : 0;
      switch (t.kind) {
        case Kind::kLiteral:
          if (cur[p] && p < n && ch == t.byte) next[p + 1] = 1;
          break;
        case Kind::kAnyChar:
          if (cur[p] && p < n && ch != '/') next[p + 1] = 1;
          break;
        case Kind::kClass:
          if (cur[p] && p < n && class_bits_[t.index].Has(ch)) next[p + 1] = 1;
          break;
        case Kind::kStar:
          if (cur[p]) run = true;
          if (run) next[p] = 1;
          if (p < n && ch == '/') run = false;
          break;
        case Kind::kAnyRun:
          if (cur[p]) run = true;
          if (run) next[p] = 1;
          break;
        case Kind::kDirsPrefix:
          if (run && p > 0 && text[p - 1] == '/') next[p] = 1;
          if (cur[p]) {
            next[p] = 1;
            run = true;
          }
          break;
      }
    }
    for (size_t p = 0; p <= n && !any; ++p) any = next[p];
    if (!any) return false;
    std::swap(cur, next);
  }
  return cur[n];
}

Status IgnoreRules::AddFile(std::string_view base_dir, std::string_view contents,
                            std::string_view source_name) {
  if (!base_dir.empty() && base_dir.front() == '/') {
    return Error(ErrorCode::kInvalidArgument,
                 "ignore file base must be relative: " + std::string(base_dir));
  }
  File file;
  file.source_name = std::string(source_name);
  file.order = next_order_++;
  size_t start = 0;
  while (start <= base_dir.size()) {  // normalise "./a//b/" to "a/b"
    size_t end = base_dir.find('/', start);
    if (end == std::string_view::npos) end = base_dir.size();
    const std::string_view part = base_dir.substr(start, end - start);
    if (part == "..") {
      return Error(ErrorCode::kInvalidArgument,
                   "ignore file base must not contain '..': " + std::string(base_dir));
    }
    if (!part.empty() && part != ".") {
      if (!file.base.empty()) file.base += '/';
      file.base += part;
    }
    start = end + 1;
  }

  if (contents.substr(0, 3) == "\xEF\xBB\xBF") contents.remove_prefix(3);
  int line_no = 0;
  while (!contents.empty()) {
    size_t nl = contents.find('\n');
    std::string_view line = contents.substr(0, nl);
    contents = nl == std::string_view::npos ? std::string_view() : contents.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    line = TrimTrailingSpaces(line);

    Pattern pat{Glob(""), std::string(line), line_no};
    std::string_view glob = line;
    if (!glob.empty() && glob.front() == '!') {
      pat.negated = true;
      glob.remove_prefix(1);
    }
    if (!glob.empty() && glob.back() == '/') {
      pat.dir_only = true;
      glob.remove_suffix(1);
    }
    pat.basename_only = glob.find('/') == std::string_view::npos;
    if (!glob.empty() && glob.front() == '/') glob.remove_prefix(1);
    if (glob.empty()) continue;  // "/", "!" and the like match nothing
    pat.glob = Glob(glob);
    file.patterns.push_back(std::move(pat));
  }

  const size_t depth = Depth(file.base);
  auto pos = std::upper_bound(files_.begin(), files_.end(), depth,
                              [](size_t d, const File& f) { return d < Depth(f.base); });
  files_.insert(pos, std::move(file));
  return OkStatus();
}

const IgnoreRules::Pattern* IgnoreRules::Decide(std::string_view path, bool is_dir,
                                                const File** decided_by) const {
  if (path.empty()) return nullptr;
  const std::string_view basename = Basename(path);
  for (auto f = files_.rbegin(); f != files_.rend(); ++f) {
    std::string_view rel = path;
    if (!f->base.empty()) {
      if (path.size() <= f->base.size() || path[f->base.size()] != '/' ||
          path.substr(0, f->base.size()) != f->base) {
        continue;
      }
      rel = path.substr(f->base.size() + 1);
    }
    for (auto p = f->patterns.rbegin(); p != f->patterns.rend(); ++p) {
      if (p->dir_only && !is_dir) continue;
      if (p->glob.Matches(p->basename_only ? basename : rel)) {
        *decided_by = &*f;
        return &*p;
      }
    }
  }
  return nullptr;
}

bool IgnoreRules::IsIgnoredInIncludedDir(std::string_view path, bool is_dir) const {
  const File* file = nullptr;
  const Pattern* p = Decide(path, is_dir, &file);
  return p != nullptr && !p->negated;
}

bool IgnoreRules::IsIgnored(std::string_view path, bool is_dir) const {
  for (size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    if (IsIgnoredInIncludedDir(path.substr(0, slash), /*is_dir=*/true)) return true;
  }
  return IsIgnoredInIncludedDir(path, is_dir);
}

std::string IgnoreRules::Explain(std::string_view path, bool is_dir) const {
  for (size_t slash = path.find('/'); slash != std::string_view::npos;
       slash = path.find('/', slash + 1)) {
    const std::string_view parent = path.substr(0, slash);
    if (IsIgnoredInIncludedDir(parent, /*is_dir=*/true)) {
      return Explain(parent, /*is_dir=*/true) + " (excludes parent directory " +
             std::string(parent) + ")";
    }
  }
  const File* file = nullptr;
  const Pattern* p = Decide(path, is_dir, &file);
  if (p == nullptr) return "";
  return file->source_name + ":" + std::to_string(p->line) + ": " + p->text;
}

size_t IgnoreRules::pattern_count() const {
  size_t n = 0;
  for (const File& f : files_) n += f.patterns.size();
  return n;
}

}  // namespace lattice::snapshot
