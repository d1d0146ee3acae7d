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
  Resources ask;   // per node: a gang asks this much of each of its nodes
  // How many distinct nodes the experiment runs on at once (multi-node
  // training): a gang, placed on all of them in one pass or on none. Values
  // below 1 count as 1.
  int nodes = 1;
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

// One node's part of a placement: the node and the GPU indices it hands out.
struct NodeShare {
  std::string node;
  std::vector<int> gpus;
  bool operator==(const NodeShare&) const = default;
};

struct Placement {
  size_t key = 0;
  std::string node;       // shares[0].node: the only node, or a gang's node rank 0
  std::vector<int> gpus;  // shares[0].gpus
  std::string why;        // e.g. "best fit: leaves 0 of 8 GPUs free on n3"
  // Every node of the placement in node-rank order, rank 0 (the master)
  // first; one entry for a single-node request, Request::nodes for a gang,
  // each on a different node with the per-node ask. (The "= {}" keeps
  // aggregate initialisers that stop at why free of missing-field warnings.)
  std::vector<NodeShare> shares = {};
};

struct Decision {
  std::vector<Placement> placed;
  // For each request left waiting: (key, why), e.g. "waiting: 0 of 4 GPUs free on 3 nodes".
  std::vector<std::pair<size_t, std::string>> waiting;
};

// One scheduling pass over all runs. Higher priority first; between runs of
// equal priority, dominant resource fairness (the run holding the smallest
// share of the cluster's scarcest resource goes next); within a run,
// experiment order. Each request goes to its best-fit node; a gang of N
// nodes to the N best-fit nodes, all of them or none. A request that fits
// nowhere does not block the ones behind it (no reservations yet). Every
// request ends up in exactly one of placed / waiting.
Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<RunQueue>& runs);

// Compatibility: one FIFO queue (the caller orders it), no limits. Same as a
// single RunQueue holding the whole queue.
Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<Request>& queue);

// Why an ask can never fit on these nodes (by their totals), or nullopt:
// for gang_nodes > 1, why fewer than gang_nodes distinct nodes could ever
// hold the per-node ask ("asks for 3 nodes with 8 GPUs each; only 2 nodes
// have 8 GPUs"). No nodes at all is never infeasible: nodes may still join.
std::optional<std::string> Infeasible(const std::vector<NodeSnapshot>& nodes, const Resources& ask,
                                      int gang_nodes = 1);

}  // namespace lattice::sched
