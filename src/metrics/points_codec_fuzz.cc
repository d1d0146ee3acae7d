// libFuzzer entry point for the LTP1 points codec: DecodeFrames over the raw
// input, WholeFramesPrefix at several budgets, and the downsamplers over what
// decodes. Named .cc so the layer's *.cpp glob leaves it out of the library;
// built as fuzz_points_codec with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// Beyond "no crash": every error is kInvalidArgument naming a byte offset;
// whatever decodes re-encodes to a stream that decodes to the same series
// bit for bit; a stream that decodes is all whole frames; every prefix
// WholeFramesPrefix returns is within the budget (or the first frame) and
// decodes whenever the whole input does; downsampling keeps its budget.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/downsample.h"
#include "metrics/points_codec.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lattice::metrics;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const lattice::Result<std::vector<SeriesBatch>> decoded = DecodeFrames(input);

  const size_t whole = WholeFramesPrefix(input, SIZE_MAX);
  Check(whole <= size);
  for (size_t budget : {size_t{0}, size_t{1}, size / 2, size}) {
    const size_t cut = WholeFramesPrefix(input, budget);
    Check(cut <= whole);
    Check(cut <= budget || cut == WholeFramesPrefix(input, 0));
    if (decoded.ok()) Check(DecodeFrames(input.substr(0, cut)).ok());
  }

  if (!decoded.ok()) {
    Check(decoded.error().code == lattice::ErrorCode::kInvalidArgument);
    Check(decoded.error().message.find("at byte ") != std::string::npos);
    return 0;
  }
  Check(whole == size);
  std::string again;
  for (const SeriesBatch& s : *decoded) AppendFrame({s}, &again);
  const lattice::Result<std::vector<SeriesBatch>> back = DecodeFrames(again);
  Check(back.ok() && back->size() == decoded->size());
  for (size_t i = 0; i < decoded->size(); ++i) {
    const SeriesBatch& a = (*decoded)[i];
    const SeriesBatch& b = (*back)[i];
    Check(a.key == b.key && a.points.size() == b.points.size());
    Check(a.points.empty() || std::memcmp(a.points.data(), b.points.data(), a.points.size() * sizeof(Point)) == 0);
    for (size_t max : {size_t{0}, size_t{1}, size_t{3}, size_t{4}, size_t{7}}) {
      Check(DownsampleMinMax(a.points, max).size() <= max || a.points.size() <= max);
      Check(DownsampleLttb(a.points, max).size() <= max || a.points.size() <= max);
    }
  }
  return 0;
}
