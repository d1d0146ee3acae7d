// Placement: which queued experiments start where, given what nodes have
// free. Pure: a snapshot in, placements (and a reason for every request left
// waiting) out; no I/O, no clock. See README.md for the pipeline:
// feasibility (node_index) -> ordering and fairness (fair_queue) -> best fit
// (node_index) -> reasons (reasons).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
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

// The queued experiments of one run, as the scheduler needs them.
struct RunQueue {
  std::string run;
  int priority = 0;              // higher goes first
  int64_t submitted_at_ms = 0;   // breaks fairness ties: earlier first
  int max_parallel = 0;          // at most this many of the run active at once; 0 = unlimited
  int active = 0;                // experiments of the run already holding resources
  std::vector<Request> queued;   // in experiment order; served first to last
};

struct Placement {
  size_t key = 0;
  std::string node;
  std::vector<int> gpus;
  std::string why;  // e.g. "best fit: leaves 0 of 8 GPUs free on n3"
};

struct Decision {
  std::vector<Placement> placed;
  // For each request left waiting: (key, why), e.g. "waiting: 0 of 4 GPUs free on 3 nodes".
  std::vector<std::pair<size_t, std::string>> waiting;
};

// One scheduling pass over all runs. Higher priority first; between runs of
// equal priority, dominant resource fairness (the run holding the smallest
// share of the cluster's scarcest resource goes next); within a run,
// experiment order. Each request goes to its best-fit node. A request that
// fits nowhere does not block the ones behind it (no reservations yet).
// Every request ends up in exactly one of placed / waiting.
Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<RunQueue>& runs);

// Compatibility: one FIFO queue (the caller orders it), no limits. Same as a
// single RunQueue holding the whole queue.
Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<Request>& queue);

// Why an ask can never fit on any of these nodes (by their totals), or nullopt.
std::optional<std::string> Infeasible(const std::vector<NodeSnapshot>& nodes, const Resources& ask);

}  // namespace lattice::sched
