// Git's ignore-pattern semantics (gitignore(5)) as a pure matcher: no I/O.
// The snapshot walker reads .gitignore/.latticeignore files and feeds their
// text here, so the rules can be tested against tables without a filesystem.
//
// Paths are relative to the snapshot root, '/'-separated, with no leading
// "./" and no trailing '/': "src/model.py", "data".
//
// Thread-safety: const methods may be called concurrently; AddFile may not
// run concurrently with anything else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace lattice::snapshot {

// One compiled glob (the part of a line after '!' and '/' handling), matched
// with git's wildmatch rules in pathname mode: '*', '?' and '[...]' never
// match '/', while "**/", "/**/" and a trailing "/**" span directories.
// A malformed glob (unterminated '[', trailing '\') never matches, as in git.
class Glob final {
 public:
  explicit Glob(std::string_view pattern);

  bool Matches(std::string_view text) const;

 private:
  enum class Kind : uint8_t {
    kLiteral,     // one byte
    kAnyChar,     // '?'
    kClass,       // '[...]': membership in class_bits_[index]
    kStar,        // '*': any run without '/'
    kAnyRun,      // trailing "**": anything, '/' included
    kDirsPrefix,  // "**/": empty, or any text ending in '/'
  };
  struct Token {
    Kind kind;
    uint8_t byte = 0;     // kLiteral
    uint32_t index = 0;   // kClass
  };
  struct ByteSet {
    uint64_t words[4] = {0, 0, 0, 0};
    void Add(unsigned char c) { words[c >> 6] |= uint64_t{1} << (c & 63); }
    bool Has(unsigned char c) const { return (words[c >> 6] >> (c & 63)) & 1; }
  };

  // Parses a '[' class starting at pattern[*pos]; on success advances *pos
  // past the closing ']'.
  bool ParseClass(std::string_view pattern, size_t* pos, ByteSet* set);

  std::vector<Token> tokens_;
  std::vector<ByteSet> class_bits_;
  bool valid_ = true;
};

// The patterns of every ignore file seen so far, each tied to the directory
// it came from. Owns copies of everything passed in.
class IgnoreRules final {
 public:
  // Adds the patterns of one ignore file found in `base_dir` ("" for the
  // root, else "a/b"). They apply only to paths under base_dir. Files with a
  // deeper base take precedence over shallower ones; files with the same base
  // take precedence in the order added (so a .latticeignore added after the
  // .gitignore of the same directory can re-include what git ignores).
  // `source_name` (e.g. "src/.gitignore") is kept for diagnostics.
  // Fails only on a base_dir that is absolute or contains "..".
  Status AddFile(std::string_view base_dir, std::string_view contents,
                 std::string_view source_name);

  // Git's full answer: a path is ignored if a pattern excludes it or any of
  // its parent directories (git cannot re-include a file whose parent
  // directory is excluded).
  bool IsIgnored(std::string_view path, bool is_dir) const;

  // The answer for `path` alone, assuming its parent directories are not
  // ignored. A walker that visits parents first and does not descend into
  // ignored directories uses this to avoid re-checking every ancestor.
  bool IsIgnoredInIncludedDir(std::string_view path, bool is_dir) const;

  // "src/.gitignore:3: *.pt" for the pattern that decided `path` (ignored or
  // re-included), or "" if none matched. For "why is my file missing?".
  std::string Explain(std::string_view path, bool is_dir) const;

  size_t pattern_count() const;

 private:
  struct Pattern {
    Glob glob;
    std::string text;  // the line as written, for Explain
    int line = 0;
    bool negated = false;
    bool dir_only = false;
    bool basename_only = false;  // no '/' in the pattern: match at any depth
  };
  struct File {
    std::string base;  // "" or "a/b"
    std::string source_name;
    size_t order = 0;
    std::vector<Pattern> patterns;
  };

  // The deciding pattern for `path` alone, or nullptr.
  const Pattern* Decide(std::string_view path, bool is_dir,
                        const File** file) const;

  std::vector<File> files_;  // sorted by (base depth, order)
  size_t next_order_ = 0;
};

}  // namespace lattice::snapshot
