// libFuzzer entry point for the TensorBoard event reader: the input is fed
// to TfEventsTail in chunks whose sizes derive from the first byte, then
// Finish. Named .cc so the layer's *.cpp glob leaves it out of the library;
// built as fuzz_tfevents with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// Beyond "no crash": the result does not depend on the chunking (one Feed of
// everything gives the same scalars and warnings), consumed() never passes
// the bytes fed, and the reader never holds more than one record's worth.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/tfevents.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

bool Same(const std::vector<lattice::metrics::ScalarEvent>& a, const std::vector<lattice::metrics::ScalarEvent>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool values = a[i].value == b[i].value || (std::isnan(a[i].value) && std::isnan(b[i].value));
    const bool times = a[i].wall_time == b[i].wall_time || (std::isnan(a[i].wall_time) && std::isnan(b[i].wall_time));
    if (a[i].tag != b[i].tag || a[i].step != b[i].step || !values || !times) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lattice::metrics;
  if (size == 0) return 0;
  const unsigned seed = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::vector<ScalarEvent> chunked, whole;
  std::vector<std::string> chunked_warnings, whole_warnings;
  TfEventsTail tail("fuzz");
  size_t pos = 0;
  unsigned state = seed * 2654435761u + 1;
  while (pos < input.size()) {
    state = state * 1103515245u + 12345u;
    const size_t chunk = 1 + (state >> 16) % (seed % 4 == 0 ? 4 : 64);
    tail.Feed(input.substr(pos, chunk), &chunked, &chunked_warnings);
    pos += chunk < input.size() - pos ? chunk : input.size() - pos;
    Check(tail.consumed() + tail.buffered() == pos);
  }
  tail.Finish(&chunked_warnings);

  TfEventsTail once("fuzz");
  once.Feed(input, &whole, &whole_warnings);
  Check(once.consumed() <= input.size());
  once.Finish(&whole_warnings);
  Check(Same(chunked, whole));
  Check(chunked_warnings == whole_warnings);
  for (const auto& w : whole_warnings) Check(w.starts_with("fuzz: "));
  return 0;
}
