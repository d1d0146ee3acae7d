// What a run will cost, said before it starts (`lattice run --dry-run`):
// experiments × nodes × price per node-hour × expected duration, on-demand
// and spot. The inputs come from the instance catalog (--instance_type),
// the cluster's price, --max-duration or earlier runs of the same script;
// this part is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/json.h"

namespace lattice::cli {

struct PriceQuote {
  double on_demand = 0;        // per node (or the share of one an experiment holds) per hour
  std::optional<double> spot;  // none: not offered, or not known
  std::string source;          // "g5.12xlarge, aws us-east-1", "cluster local's price"
};

struct DurationQuote {
  int64_t ms = 0;
  std::string source;  // "--max-duration", "the median of 12 earlier experiments of train.py"
};

struct RunEstimate {
  uint64_t experiments = 0;
  int nodes = 1;  // per experiment
  double max_cost = 0;  // --max-cost; 0: none
  std::optional<PriceQuote> price;  // none: no price known
  std::optional<DurationQuote> duration;
  std::string note;  // why a part is unknown, for people
};

// For people: a few lines starting "estimate:".
std::string DescribeRunEstimate(const RunEstimate& e);
// For --json: {node_hours, per_node_hour{on_demand, spot}, on_demand, spot, duration_ms, sources...}; unknown
// parts are null.
Json RunEstimateJson(const RunEstimate& e);

}  // namespace lattice::cli
