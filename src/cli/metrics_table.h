// The pure part of `lattice metrics`: reading the server's metrics document
// (GET /api/v1/runs/{run}/metrics), choosing and sorting experiments, and
// laying out the table. No I/O, so it is tested without a server.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"

namespace lattice::cli {

// Text from the server (metric keys, parameter values, artifact paths) made
// safe for a terminal: control characters (and DEL) become '?'.
std::string Printable(std::string_view text);

// Which of a metric's summaries a column or a sort uses.
enum class MetricStat { kLast, kMin, kMax };
const char* MetricStatName(MetricStat stat);  // "last", "min", "max"

struct MetricSort {
  std::string key;
  MetricStat stat = MetricStat::kLast;
  bool descending = false;
};

// "loss" (last value), "loss:last", "acc:max", "acc:min". A suffix other
// than these three is part of the key ("eval:top1" sorts by key "eval:top1").
Result<MetricSort> ParseMetricSort(std::string_view text, bool descending);

// A summary value from the document: a number, or "NaN", "Infinity",
// "-Infinity"; nullopt for null, absent or anything else.
std::optional<double> MetricNumber(const Json& value);
// "%.4g" of a number, "nan", "inf", "-inf"; "-" when absent or null.
std::string FormatMetricNumber(const Json& value);
std::string FormatMetricNumber(std::optional<double> value);

// The metric keys any experiment of the document has, sorted.
std::vector<std::string> MetricKeys(const Json& doc);
// kInvalidArgument naming the missing key and listing the existing ones,
// unless every key in `wanted` is in `existing`.
Status CheckMetricKeys(const std::vector<std::string>& wanted,
                       const std::vector<std::string>& existing, const std::string& run);

// The value an experiment sorts by; nullopt when it lacks the key, the
// summary is null, or the value is NaN.
std::optional<double> SortValue(const Json& experiment, const MetricSort& sort);
// Stable-sorts doc["experiments"] by the sort; experiments without a value
// (see SortValue) go last in either direction, in their previous order.
void SortExperiments(Json& doc, const MetricSort& sort);

// More keys than this and no --key: the table shows only last values.
inline constexpr size_t kMaxFullKeys = 4;

struct MetricsTableLayout {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string footer;  // "" or a line (with its newline) to print below
};

// One row per experiment in document order: EXP, STATE, one column per swept
// parameter (upper-cased, as `lattice status` shows them), then per metric
// key `key:last key:min key:max`, or only `key` (the last value) when no
// keys were asked for and there are more than kMaxFullKeys. param_order
// gives the parameters' order (the run's sweep order); parameters missing
// from it follow in the document's order. `keys` empty: every key.
MetricsTableLayout BuildMetricsTable(const Json& doc, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& param_order);

}  // namespace lattice::cli
