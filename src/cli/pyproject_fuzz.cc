// Fuzzes the pyproject.toml reader: any bytes give dependencies or an error,
// never a crash, a hang or unbounded recursion.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "cli/requirements_source.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)lattice::cli::PyprojectDependencies(text, "pyproject.toml");
  return 0;
}
