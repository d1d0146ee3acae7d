// Placement: which queued experiments start where, given what nodes have
// free. Pure: a snapshot in, placements (and reasons for the rest) out.
// Issue 4 grows this into a pipeline (feasibility, scoring, fairness).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/types.h"

namespace lattice::sched {

struct NodeSnapshot {
  std::string id;
  Resources total;        // what the node offers
  double free_cpus = 0;
  uint64_t free_memory = 0;
  std::vector<int> free_gpus;  // indices, ascending
};

struct Request {
  size_t key = 0;  // caller's handle for the experiment
  Resources ask;
};

struct Placement {
  size_t key = 0;
  std::string node;
  std::vector<int> gpus;
};

struct Decision {
  std::vector<Placement> placed;
  // For each request left waiting: (key, why), e.g. "waiting: 0 of 4 GPUs free on 3 nodes".
  std::vector<std::pair<size_t, std::string>> waiting;
};

// Places requests in order (the caller orders by priority and fairness).
// Best fit: among nodes that fit, the one left with the fewest free GPUs,
// then fewest free CPUs, keeping whole GPUs and whole nodes free for large asks.
Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<Request>& queue);

// Why an ask can never fit on any of these nodes (by their totals), or nullopt.
std::optional<std::string> Infeasible(const std::vector<NodeSnapshot>& nodes, const Resources& ask);

}  // namespace lattice::sched
