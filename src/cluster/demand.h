// What a cluster's backend sees of the server's state (a copy, taken on the
// server's loop thread and handed to the backend's own thread): the queued
// experiments of the cluster by shape, and the cluster's ready nodes.
#pragma once

#include <string>
#include <vector>

#include "model/types.h"

namespace lattice {

// Experiments of one shape can run on each other's nodes: the same per-node
// ask on the same number of nodes.
struct DemandShape {
  std::string key;  // ShapeKey(ask, nodes)
  Resources ask;    // per node
  int nodes = 1;
  int queued = 0;   // experiments of this shape that could start now if nodes were there
};

struct ClusterNodeView {
  std::string id;
  std::string allocation;  // the agent's --allocation, e.g. "slurm job 4711"
  bool busy = false;       // holds an attempt that has not ended
  bool stopping = false;   // its agent said it is shutting down
};

struct ClusterDemand {
  std::vector<DemandShape> shapes;  // in order of first queued experiment
  std::vector<ClusterNodeView> nodes;  // ready ones only
  int active_experiments = 0;  // starting or running on the cluster
};

// "2x{cpus=4,memory=0,gpus=1}".
std::string ShapeKey(const Resources& ask, int nodes);

}  // namespace lattice
