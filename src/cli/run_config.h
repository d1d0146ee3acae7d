// `lattice run --config FILE.yaml`: the same things as the command line in a
// file (docs/config.md is the schema). Flags given on the command line
// override the file; see MergeRunOptions.
#pragma once

#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "common/result.h"

namespace lattice::cli {

// Reads the file into options (starting from defaults). A relative `script`
// is taken from the file's directory. Errors name the key and its line.
Result<RunOptions> LoadRunConfig(const std::filesystem::path& file);

// Parses YAML text (the file's contents); `base_dir` resolves `script`.
Result<RunOptions> ParseRunConfig(const std::string& text, const std::filesystem::path& base_dir,
                                  const std::string& source_name);

}  // namespace lattice::cli
