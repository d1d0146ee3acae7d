// libFuzzer entry point for the metrics JSON-lines reader: the input is a
// file fed to JsonlMetricsTail in chunks whose sizes derive from the first
// byte, then Finish; each line also goes through ParseMetricsLine. Named .cc
// so the layer's *.cpp glob leaves it out of the library; built as
// fuzz_jsonl with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// Beyond "no crash": the chunking changes nothing (same points per key, same
// warnings), every key that comes out passes ValidateKey, every line error
// names a column, and the tail's resume state matches the bytes fed.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/jsonl.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

using Series = std::map<std::string, std::vector<std::pair<int64_t, double>>>;

void Collect(const std::vector<lattice::metrics::SeriesBatch>& out, Series* series) {
  for (const auto& batch : out) {
    Check(lattice::metrics::ValidateKey(batch.key).ok());
    for (const auto& p : batch.points) {
      Check(std::isfinite(p.time));
      (*series)[batch.key].emplace_back(p.step, std::isnan(p.value) ? 12345.678 : p.value);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lattice::metrics;
  if (size == 0) return 0;
  const unsigned seed = data[0];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr double kNow = 1.7e9;

  Series chunked, whole;
  std::vector<std::string> chunked_warnings, whole_warnings;
  JsonlMetricsTail tail("fuzz");
  size_t pos = 0;
  unsigned state = seed * 2654435761u + 1;
  while (pos < input.size()) {
    state = state * 1103515245u + 12345u;
    const size_t chunk = 1 + (state >> 16) % (seed % 4 == 0 ? 4 : 64);
    std::vector<SeriesBatch> out;
    tail.Feed(input.substr(pos, chunk), kNow, &out, &chunked_warnings);
    Collect(out, &chunked);
    pos += chunk < input.size() - pos ? chunk : input.size() - pos;
    Check(tail.consumed() <= pos);
  }
  std::vector<SeriesBatch> out;
  tail.Finish(kNow, &out, &chunked_warnings);
  Collect(out, &chunked);
  Check(tail.consumed() == input.size());

  JsonlMetricsTail once("fuzz");
  out.clear();
  once.Feed(input, kNow, &out, &whole_warnings);
  once.Finish(kNow, &out, &whole_warnings);
  Collect(out, &whole);
  Check(chunked == whole);
  Check(chunked_warnings == whole_warnings);
  Check(once.next_step() == tail.next_step() && once.next_line() == tail.next_line());
  for (const auto& w : whole_warnings) Check(w.starts_with("fuzz line "));

  // Line by line through the one-line entry point.
  int64_t next_step = 0;
  size_t start = 0;
  while (start <= input.size()) {
    size_t end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::vector<std::pair<std::string, Point>> points;
    std::vector<std::string> key_warnings;
    const int64_t before = next_step;
    const lattice::Status s = ParseMetricsLine(input.substr(start, end - start), kNow, &next_step, &points,
                                               &key_warnings);
    if (!s.ok()) {
      Check(s.error().message.find(" at column ") != std::string::npos);
      Check(next_step == before && points.empty());
    }
    for (const auto& [key, point] : points) Check(ValidateKey(key).ok());
    start = end + 1;
  }
  Check(next_step == once.next_step());
  return 0;
}
