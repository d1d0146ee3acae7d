// Messages between agents and the server (POST /agents/register,
// /agents/{id}/sync, /agents/{id}/report). The agent reports the whole truth
// of its attempts on every sync (level-triggered), so a lost message or a
// restart on either side heals on the next sync.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "model/types.h"

namespace lattice {

struct NodeRegistration {
  std::string id;  // stable per agent home
  std::string hostname;
  double cpus = 0;
  uint64_t memory_bytes = 0;
  std::vector<Gpu> gpus;
  std::string address;  // where other nodes reach this one (a gang's MASTER_ADDR)
  std::string cluster;     // empty: local
  std::string allocation;  // what started this agent, e.g. "slurm job 4711_3"; empty: by hand
};

enum class ReportedState { kRunning, kExited, kLost };

struct AttemptReport {
  int64_t id = 0;
  ReportedState state = ReportedState::kRunning;
  std::optional<int> exit_code;  // with kExited
  uint64_t log_bytes = 0;        // total captured; final with kExited/kLost
  std::string message;           // e.g. "could not start: python3: not found"
  // Gang parts: the rendezvous port (rank 0's node: the one it chose; the
  // others: the one they were told), 0 while unknown.
  int master_port = 0;
};

// A file to put into the attempt's LATTICE_CHECKPOINT_DIR before it starts:
// the newest complete checkpoint of its experiment (blob sha256).
struct RestoreFile {
  std::string path;  // relative to the checkpoint directory
  std::string sha256;
  uint64_t size = 0;
  uint32_t mode = 0644;
};

struct Assignment {
  int64_t attempt = 0;
  std::string run;
  int experiment = 0;
  int number = 1;
  std::string script;
  std::vector<std::string> args;
  std::string snapshot;
  std::map<std::string, std::string> env;
  std::string python;
  int64_t grace_ms = -1;  // -1: the agent's default
  Resources resources;
  std::vector<int> gpus;
  std::vector<RestoreFile> restore;
  EnvironmentSpec environment;
  // Where the attempt's ranks sit (see RunSpec::launcher): this node's part
  // of a gang of `nnodes` nodes, each starting `ranks_per_node` processes.
  int nnodes = 1;
  int node_rank = 0;
  std::string launcher = "per-node";
  int ranks_per_node = 1;
  std::string master_addr;  // rank 0's node; empty on one node (loopback)
  int master_port = 0;      // node_rank 0 picks it; the others wait for a MasterPort
};

// Tells a gang part on another node where rank 0 listens.
struct MasterPort {
  int64_t attempt = 0;
  int port = 0;
};

struct AgentWork {
  std::vector<Assignment> assign;
  std::vector<int64_t> cancel;
  std::vector<int64_t> forget;  // the server has everything; drop the spool
  // Gang parts to stop at once (a rank elsewhere failed or its node was
  // lost: the survivors would hang in a collective): SIGTERM, SIGKILL soon.
  std::vector<int64_t> abort;
  std::vector<MasterPort> master_ports;
  bool empty() const {
    return assign.empty() && cancel.empty() && forget.empty() && abort.empty() && master_ports.empty();
  }
};

Json ToJson(const NodeRegistration& r);
Result<NodeRegistration> ParseNodeRegistration(const Json& j);
Json ToJson(const std::vector<AttemptReport>& reports);
Result<std::vector<AttemptReport>> ParseAttemptReports(const Json& body);
Json ToJson(const AgentWork& w);
Result<AgentWork> ParseAgentWork(const Json& j);

}  // namespace lattice
