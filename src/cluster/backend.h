// A cluster's backend: what turns its queue into nodes (Slurm allocations,
// agents started over ssh). Each runs on its own thread (server/
// cluster_manager), so it may block on the commands it runs; it sees the
// server's state only as the copy in BackendInput and answers with a
// BackendReport that the server's loop thread applies.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "cluster/demand.h"
#include "common/json.h"
#include "model/cluster.h"

namespace lattice {

struct BackendInput {
  Cluster cluster;
  ClusterDemand demand;
  int64_t now_ms = 0;  // monotonic
};

struct BackendReport {
  // Shape key -> what its queued experiments wait for. Shapes not listed
  // have no note (the scheduler's words are shown).
  std::map<std::string, std::string> notes;
  // Nodes whose agent the backend saw go away, with why.
  std::vector<std::pair<std::string, std::string>> nodes_down;
  // For `lattice cluster show`: the backend's own view (allocations, hosts).
  Json status = Json::object();
};

class ClusterBackend {
 public:
  virtual ~ClusterBackend() = default;
  // One round: look at the backend's side, act, say what it saw.
  virtual BackendReport Step(const BackendInput& in) = 0;
  // The server stops (deleted=false: leave what runs, it reconnects) or the
  // cluster was deleted (true: release everything it holds).
  virtual void Shutdown(bool deleted) = 0;
  // How often Step runs when nothing changes.
  virtual int64_t IntervalMs() const { return 1000; }
};

}  // namespace lattice
