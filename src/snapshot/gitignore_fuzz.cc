// libFuzzer entry point for the gitignore parser and matcher. Named .cc so
// the layer's *.cpp glob leaves it out of the library; built as
// fuzz_gitignore with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// The input is split at the first NUL byte: before it, an ignore file's
// contents; after it, newline-separated paths to match. Without a NUL, the
// pattern lines double as paths, which is what finds most matcher bugs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "snapshot/gitignore.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view patterns = input.substr(0, nul);
  std::string_view paths = nul == std::string_view::npos ? input : input.substr(nul + 1);

  lattice::snapshot::IgnoreRules rules;
  if (!rules.AddFile("", patterns, "fuzz/.gitignore").ok()) return 0;
  // A nested file exercises base-directory scoping and precedence.
  if (!rules.AddFile("sub", patterns, "fuzz/sub/.gitignore").ok()) return 0;

  int budget = 64;  // bounds the work per input; the matcher is O(n*m)
  while (!paths.empty() && budget-- > 0) {
    const size_t nl = paths.find('\n');
    std::string_view path = paths.substr(0, nl);
    paths = nl == std::string_view::npos ? std::string_view() : paths.substr(nl + 1);
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    if (path.empty()) continue;
    const bool file = rules.IsIgnored(path, /*is_dir=*/false);
    const bool dir = rules.IsIgnored(path, /*is_dir=*/true);
    // Invariant: an explanation exists whenever something is ignored.
    if ((file && rules.Explain(path, false).empty()) || (dir && rules.Explain(path, true).empty())) {
      __builtin_trap();
    }
  }
  return 0;
}
