// libFuzzer entry point for the size and duration parsers (ParseBytes,
// ParseDurationMs), HumanBytes and HumanDuration (which must read back exactly). Named .cc so the layer's *.cpp glob leaves
// it out of the library; built as fuzz_units with -DLATTICE_FUZZ=ON (see
// scripts/fuzz.sh).
//
// The input is parsed as text by both parsers; its first 8 bytes are also a
// byte count for HumanBytes, whose output must parse back (without the space)
// to within the 5% its one significant decimal allows.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/units.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  const lattice::Result<uint64_t> bytes = lattice::ParseBytes(text);
  if (bytes.ok()) {
    Check(*bytes <= 9'000'000'000'000'000'000ull);
    // A parsed size printed as a plain number parses back to itself while
    // doubles still hold it exactly.
    if (*bytes <= (1ull << 53)) {
      const lattice::Result<uint64_t> again = lattice::ParseBytes(std::to_string(*bytes));
      Check(again.ok() && *again == *bytes);
    }
  } else {
    Check(!bytes.error().message.empty());
  }

  const lattice::Result<int64_t> ms = lattice::ParseDurationMs(text);
  if (ms.ok()) {
    Check(*ms >= 0 && *ms <= 1'000'000'000'000'000);
    const lattice::Result<int64_t> again = lattice::ParseDurationMs(lattice::HumanDuration(*ms));
    Check(again.ok() && *again == *ms);  // what is shown reads back exactly
  } else {
    Check(!ms.error().message.empty());
  }

  uint64_t n = 0;
  std::memcpy(&n, data, size < sizeof n ? size : sizeof n);
  for (uint64_t b : {n, n >> 24, n >> 40, n & 0xffff}) {
    std::string human = lattice::HumanBytes(b);
    const size_t space = human.find(' ');
    Check(space != std::string::npos && space > 0);
    if (human.ends_with("PiB") || human.ends_with("EiB")) continue;  // past what ParseBytes accepts
    human.erase(space, 1);
    const lattice::Result<uint64_t> back = lattice::ParseBytes(human);
    Check(back.ok());
    const double err = std::fabs(static_cast<double>(*back) - static_cast<double>(b));
    Check(err <= 0.05 * static_cast<double>(b) + 0.5);
  }
  return 0;
}
