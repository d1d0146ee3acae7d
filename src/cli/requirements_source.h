// Where a run's Python requirements come from (issue: environments), decided
// on the submitting machine so the key of the environment covers everything
// it installs: `--requirements FILE`, else requirements.txt in the script's
// directory, else the [project] dependencies of its pyproject.toml. `-r FILE`
// includes are inlined (relative to the including file), so editing an
// included file makes a new environment too.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace lattice::cli {

struct RequirementsSource {
  std::string text;    // pip requirements syntax; empty: none found
  std::string source;  // "requirements.txt", "pyproject.toml" or the file given
};

// `explicit_file` empty: look in dir. A missing explicit file is an error;
// a missing requirements.txt/pyproject.toml is not.
Result<RequirementsSource> FindRequirements(const std::filesystem::path& dir, const std::string& explicit_file);

// The text with every `-r FILE` / `--requirement FILE` line replaced by that
// file's (recursively) inlined text. Fails on a missing file, a cycle or
// more than 32 levels, naming the file and line.
Result<std::string> InlineIncludes(const std::filesystem::path& file);

// The strings of `dependencies = [...]` in the [project] table of a
// pyproject.toml (a TOML subset: basic and literal strings, comments,
// multi-line arrays). Absent table or key: empty. Malformed: an error naming
// the line. `dependencies` listed in `dynamic`: an error saying to use
// --requirements.
Result<std::vector<std::string>> PyprojectDependencies(std::string_view toml, const std::string& name);

}  // namespace lattice::cli
