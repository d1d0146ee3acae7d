// The words a user reads: why a request waits, why it can never run. Kept in
// one place so the messages stay consistent and are tested as text.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sched/node_index.h"
#include "sched/placement.h"

namespace lattice::sched {

// Why ask found no node, given the most of each resource free on any node
// after the pass: "waiting: 0 of 4 GPUs free on 3 nodes".
std::string WaitingReason(const FreeMaxima& free, const Resources& ask);

// Why a gang of nodes nodes (> 1), each asking ask, found too few nodes,
// given the index after the pass: "waiting: 1 of 2 nodes with 4 free GPUs
// (4 nodes)" counts the nodes that have the GPUs free, then the GPUs and
// CPUs, then all of it, and names the first of these that falls short.
// O(buckets x log nodes + nodes asked for).
std::string GangWaitingReason(const NodeIndex& index, const Resources& ask, int nodes);

// Why a run's request waits although it may fit: the run is at its limit.
std::string MaxParallelReason(int max_parallel);

// See Infeasible() in placement.h.
std::optional<std::string> InfeasibleReason(const std::vector<NodeSnapshot>& nodes, const Resources& ask,
                                            int gang_nodes = 1);

}  // namespace lattice::sched
