// What experiments cost (docs/cost.md). An attempt holds a share of its
// node from when it was placed until it ended, at a rate per hour fixed at
// placement: the cluster's price per node-hour times that share. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/types.h"

namespace lattice {

// The share of a node an attempt holds: its GPUs of the node's GPUs, or, on
// a node without GPUs (or an attempt without any), its CPUs of the node's
// CPUs; at most the whole node.
double NodeShare(double cpus_asked, int gpus_held, const Node& node);

// Hours the attempt held its node between `from_ms` (0: its start) and its
// end, or `now_ms` while it has not ended.
double AttemptHours(const Attempt& a, int64_t now_ms, int64_t from_ms = 0);
// The attempt's cost over those hours.
inline double AttemptCost(const Attempt& a, int64_t now_ms, int64_t from_ms = 0) {
  return a.rate_per_hour * AttemptHours(a, now_ms, from_ms);
}

// How long earlier experiments ran (ms): how many, the median, the 90th
// percentile and the longest; zeros when there are none.
struct DurationSummary {
  size_t count = 0;
  int64_t median_ms = 0;
  int64_t p90_ms = 0;
  int64_t max_ms = 0;
};
DurationSummary SummarizeDurations(std::vector<int64_t> ms);

// The first millisecond of the calendar month (UTC) holding `ms`, and its
// name ("2026-11").
int64_t MonthStartMs(int64_t ms);
std::string MonthName(int64_t ms);

// A moment given as "2026-11-01" (midnight UTC) or "2026-11-01T12:30:00Z"
// (seconds and a fraction optional), in ms since the epoch; `field` names
// it in the error.
Result<int64_t> ParseUtcTime(const std::string& text, const std::string& field);

// Money for people: "$12.34", "$0.0042" below a cent, "$1,234.50".
std::string FormatMoney(double amount);

}  // namespace lattice
