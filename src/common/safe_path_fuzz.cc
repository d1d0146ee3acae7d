// libFuzzer entry point for ValidateRelativePath and IsValidUtf8. Named .cc so
// the layer's *.cpp glob leaves it out of the library; built as
// fuzz_safe_path with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// The input is the path, bytes as they are. Beyond "no crash", it checks that
// an accepted path really has none of the refused shapes (checked here by
// other means: splitting on '/', scanning bytes), that every refusal is an
// invalid_argument error with a one-line message, and that the answer is
// deterministic.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/safe_path.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path(reinterpret_cast<const char*>(data), size);
  const lattice::Status status = lattice::ValidateRelativePath(path);
  const lattice::Status again = lattice::ValidateRelativePath(path);
  Check(status.ok() == again.ok());
  if (!status.ok()) {
    Check(status.error().code == lattice::ErrorCode::kInvalidArgument);
    Check(!status.error().message.empty());
    Check(status.error().message.find('\n') == std::string::npos);
    Check(status.error().message.find('\0') == std::string::npos);
    Check(lattice::IsValidUtf8(status.error().message));
    Check(status.error().message == again.error().message);
    return 0;
  }
  Check(!path.empty() && path.size() <= lattice::kMaxRelativePathBytes);
  Check(path.front() != '/' && path.back() != '/');
  Check(lattice::IsValidUtf8(path));
  for (unsigned char c : path) Check(c >= 0x20 && c != 0x7f && c != '\\');
  size_t start = 0;
  while (true) {
    const size_t end = path.find('/', start);
    const std::string_view component =
        std::string_view(path).substr(start, end == std::string::npos ? std::string::npos : end - start);
    Check(!component.empty() && component != "." && component != "..");
    Check(component.size() <= lattice::kMaxPathComponentBytes);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  // Any prefix ending at a component boundary is itself a valid path.
  const size_t last = path.rfind('/');
  if (last != std::string::npos) Check(lattice::ValidateRelativePath(path.substr(0, last)).ok());
  return 0;
}
