// The Slurm backend: keeps the right number of pilot allocations (see
// slurm_plan.h) with sbatch, watches them with squeue and releases them
// with scancel. Slurm's commands run on the server's machine (a login node)
// with the server's user; SLURM_CONF and PATH come from its environment.
#pragma once

#include <map>
#include <string>

#include "cluster/backend.h"
#include "cluster/slurm_job.h"

namespace lattice {

class SlurmBackend final : public ClusterBackend {
 public:
  explicit SlurmBackend(PilotPaths paths) : paths_(std::move(paths)) {}
  BackendReport Step(const BackendInput& in) override;
  void Shutdown(bool deleted) override;

 private:
  // Runs a Slurm command; on failure a note that shows the command and
  // what it printed, verbatim.
  Result<std::string> Slurm(const std::vector<std::string>& argv, std::string* failure);

  // Deletes the agent homes of pilots whose jobs ended long ago.
  void RemoveEndedPilotHomes(const ClusterDemand& demand);

  PilotPaths paths_;
  int64_t last_cleanup_ms_ = 0;
  std::map<std::string, int64_t> idle_since_;       // node -> monotonic ms
  std::map<std::string, int64_t> retry_after_;      // shape -> no sbatch before (monotonic ms)
  std::map<std::string, std::string> submit_error_;  // shape -> the last sbatch failure
  std::vector<SlurmTask> last_tasks_;
};

}  // namespace lattice
