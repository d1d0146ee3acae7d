// How many pilot allocations a Slurm cluster should hold: pure, from the
// cluster's queue (ClusterDemand) and its allocations as squeue shows them.
//
// Per shape: supply = pending tasks + running tasks whose agents have not
// registered yet + running tasks whose agents are all idle. Short of the
// queued experiments: submit the difference (one sbatch, a job array),
// within max_nodes. More than queued: cancel pending tasks (the newest
// first), then tasks idle for longer than the linger time. A running task
// with busy agents is never touched.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cluster/demand.h"
#include "cluster/slurm_job.h"

namespace lattice {

struct SlurmPlanInput {
  const ClusterDemand* demand = nullptr;
  std::vector<SlurmTask> tasks;  // this server's allocations on this cluster
  int max_nodes = 0;             // 0: no limit
  // Node id -> when (monotonic ms) it was first seen idle, kept by the caller.
  const std::map<std::string, int64_t>* idle_since = nullptr;
  int64_t now_ms = 0;
  int64_t linger_ms = 5000;      // how long an idle allocation waits for new work
  int max_array = 1000;          // Slurm's MaxArraySize is 1001 by default
};

struct SlurmSubmit {
  DemandShape shape;
  int count = 0;
};

struct SlurmPlan {
  std::vector<SlurmSubmit> submit;
  std::vector<std::string> cancel;  // task ids for scancel
  // Shape key -> what its queued experiments wait for (only shapes with queued ones).
  std::map<std::string, std::string> notes;
};

SlurmPlan PlanSlurm(const SlurmPlanInput& in);

}  // namespace lattice
