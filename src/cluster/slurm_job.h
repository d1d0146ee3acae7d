// Slurm as Lattice drives it, the pure part: the sbatch command and batch
// script of a pilot allocation (an agent on each of its nodes), and the
// parsing of sbatch's and squeue's answers. docs/clusters.md says why
// pilots: experiments of a sweep reuse an allocation instead of paying for
// one sbatch, one scheduling cycle and one job start each.
#pragma once

#include <string>
#include <vector>

#include "cluster/demand.h"
#include "common/result.h"
#include "model/cluster.h"

namespace lattice {

// Where a pilot's agent finds what it needs. All of it must be on a file
// system the cluster's nodes share with the server (as Slurm's own
// --output files are).
struct PilotPaths {
  std::string lattice_binary;  // this program
  std::string server_url;      // where the agents dial back
  std::string token_file;      // the server's token (0600)
  std::string state_dir;       // the cluster's directory: scripts, Slurm output files, agent homes
  std::string job_name;        // what squeue --name finds this server's allocations by
  int64_t idle_exit_ms = 120'000;  // the agent's own --idle-exit (the server usually ends it sooner)
};

// One task of an allocation as squeue shows it (arrays expanded with -r).
struct SlurmTask {
  std::string id;      // %i: "4711" or "4711_3"; what scancel takes
  std::string job_id;  // %A: the task's own job id once it runs (SLURM_JOB_ID), else the array's
  std::string state;   // %T: PENDING, CONFIGURING, RUNNING, COMPLETING, ...
  std::string reason;  // %r: Priority, Resources, None, ...
  std::string shape;   // %k: the comment Lattice set, the DemandShape key
  std::string nodes;   // %N: node list once running
  bool Pending() const { return state == "PENDING" || state == "REQUEUED" || state == "REQUEUE_HOLD"; }
  bool Running() const { return state == "RUNNING" || state == "CONFIGURING"; }
};

// The batch script of a pilot of this shape: one agent per node (srun for
// several nodes), advertising exactly the shape's resources.
std::string PilotScript(const Cluster& cluster, const DemandShape& shape, const PilotPaths& paths);
// sbatch for `count` pilots of the shape (a job array when count > 1),
// reading the script from script_path.
std::vector<std::string> SbatchArgv(const Cluster& cluster, const DemandShape& shape, int count,
                                    const PilotPaths& paths, const std::string& script_path);
// "4711" or "4711;cluster" (--parsable).
Result<std::string> ParseSbatchJobId(const std::string& out);

std::vector<std::string> SqueueArgv(const PilotPaths& paths);
// Lines of "%i|%A|%T|%r|%k|%N"; a malformed line is an error naming it.
Result<std::vector<SlurmTask>> ParseSqueue(const std::string& text);

// The agent's --allocation for a pilot task, from its SLURM_JOB_ID.
std::string AllocationOfJob(const std::string& job_id);

}  // namespace lattice
