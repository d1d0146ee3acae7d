// The unit of metrics: one value of one named series at one training step.
// Every source (the SDK's JSON lines, TensorBoard event files, system
// sampling) is reduced to these before it leaves the agent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace lattice::metrics {

struct Point {
  int64_t step = 0;
  double time = 0;   // seconds since the Unix epoch (fractional)
  double value = 0;  // NaN and +-Inf are legal and kept as such
};

// Points of one key, in the order they were produced.
struct SeriesBatch {
  std::string key;
  std::vector<Point> points;
};

// A key is 1..256 bytes of valid UTF-8 without control characters, so it
// can name a file (after escaping) and a column. "train/loss" is fine.
inline constexpr size_t kMaxKeyBytes = 256;
Status ValidateKey(std::string_view key);

}  // namespace lattice::metrics
