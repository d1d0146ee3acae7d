// Runs the backends of the server's slurm and ssh clusters, each on its own
// thread (their commands block: sbatch, squeue, ssh), and carries state
// between them and the controller: a copy of each cluster's demand goes
// out, notes, lost nodes and a status come back. Created, stopped and
// deleted with the clusters themselves.
// Sync() and Status() run on the server's loop thread only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/backend.h"
#include "common/clock.h"
#include "net/event_loop.h"
#include "server/controller.h"

namespace lattice {

// What backends need from the server process.
struct ClusterEnvironment {
  std::string lattice_binary;  // started as the agent on cluster nodes
  std::string server_url;      // where agents dial back, unless a cluster sets its own
  std::string token_file;      // the server's token
  std::string state_root;      // <home>/clusters: one directory per cluster
  std::string instance;        // tells this server's Slurm jobs from another's
};

class ClusterManager final {
 public:
  ClusterManager(Controller& controller, net::EventLoop& loop, const Clock& clock, ClusterEnvironment env);
  ~ClusterManager();  // stops every backend (allocations stay, agents reconnect)

  // Starts backends of new clusters, retires those of deleted ones, hands
  // each its cluster's demand and applies what they reported.
  void Sync();
  // Asks for a Sync soon (from the controller's listener: not re-entrant).
  void Poke();
  // The backend's view of a cluster (allocations, hosts); {} for local.
  Json StatusOf(const std::string& cluster) const;

 private:
  struct Runner;
  std::unique_ptr<ClusterBackend> MakeBackend(const Cluster& cluster);
  void Apply(Runner& r, BackendReport report);

  Controller& controller_;
  net::EventLoop& loop_;
  const Clock& clock_;
  const ClusterEnvironment env_;
  std::map<std::string, std::unique_ptr<Runner>> runners_;
  std::vector<std::unique_ptr<Runner>> retired_;  // deleted clusters' runners, releasing what they held
  bool sync_posted_ = false;
  // Lets a runner's Post() outlive nothing: cleared before the runners stop.
  std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace lattice
