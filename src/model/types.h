// The vocabulary of Lattice as plain values (see DESIGN.md): runs, their
// experiments, the attempts that execute them, and the nodes that offer
// resources. No I/O; the server owns the authoritative copies.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lattice {

enum class ExperimentState { kQueued, kStarting, kRunning, kSucceeded, kFailed, kCancelled };
enum class AttemptState { kStarting, kRunning, kSucceeded, kFailed, kCancelled, kLost };
enum class RunState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
enum class NodeState { kReady, kLost };

const char* ToString(ExperimentState s);
const char* ToString(AttemptState s);
const char* ToString(RunState s);
const char* ToString(NodeState s);
bool ParseExperimentState(const std::string& s, ExperimentState* out);
bool ParseAttemptState(const std::string& s, AttemptState* out);
bool ParseNodeState(const std::string& s, NodeState* out);

bool IsTerminal(ExperimentState s);
bool IsTerminal(AttemptState s);

struct Resources {
  double cpus = 1;
  uint64_t memory_bytes = 0;  // 0: not asked for
  int gpus = 0;
};

struct Gpu {
  int index = 0;
  std::string name;
  uint64_t memory_bytes = 0;
};

// What the user asked for; immutable after submit.
// How the experiments of a run were made from its arguments (issue: sweeps).
struct SweepInfo {
  std::string strategy = "grid_search";  // or "random_search"
  uint64_t seed = 0;
  uint64_t trials = 0;  // random search: points asked for; 0 otherwise
  std::vector<std::string> parameters;  // names of the swept arguments, in order
};

// The Python environment a run's experiments get (issue: environments):
// built once per content on each node, see agent/env_cache.h. Empty
// requirements and setup: the agent's own Python, no environment.
struct EnvironmentSpec {
  // Requirement text in pip's requirements.txt syntax, with any -r/-c
  // includes inlined by the CLI. May hold index credentials, so the API
  // never shows it (only its hash and where it came from).
  std::string requirements;
  std::string source;  // where it came from, for people: "requirements.txt", "pyproject.toml", a path
  bool system_site_packages = false;  // the venv also sees the interpreter's packages
  std::string setup;  // a shell command run once per environment, after the packages

  bool empty() const { return requirements.empty() && setup.empty(); }
};

struct RunSpec {
  std::string script;  // path of the script inside the snapshot
  std::vector<std::string> args;
  std::string snapshot;  // sha256 of the code archive
  Resources resources;
  std::map<std::string, std::string> env;
  std::string python;  // empty: the agent's default
  int max_restarts = 0;
  int64_t grace_ms = -1;  // -1: the agent's --grace (default 30 s)
  int priority = 0;       // higher first; FIFO within a priority
  int max_parallel = 0;   // at most this many experiments active at once; 0: no limit
  SweepInfo sweep;
  EnvironmentSpec environment;
  // Multi-node (issue: multi-node): one gang of `nodes` nodes, each with
  // `resources`, placed all at once or not at all.
  int nodes = 1;
  // How ranks start on each node: "per-gpu" (one process per GPU, one per
  // node without GPUs), "per-node" (one process that sees all the node's
  // GPUs) or "torchrun" (one torchrun per node, which starts the workers).
  // Empty: "per-node" on one node (the script is run once, as `python` would),
  // "per-gpu" on several.
  std::string launcher;
  // The cluster whose nodes run it (model/cluster.h); empty: the server's
  // default cluster, filled in at submit.
  std::string cluster;
  // Money and time limits (docs/cost.md). max_cost: the run's whole cost in
  // the cluster's currency; no new experiment starts that would pass it and
  // running ones are stopped (with the grace period) before they do. 0: none.
  double max_cost = 0;
  // Each attempt is stopped after running this long; also the duration a
  // cost estimate assumes. 0: none.
  int64_t max_duration_ms = 0;
  // Who submitted it (the CLI's login name), for `lattice cost --by user`.
  std::string user;
};

// The launcher a spec resolves to, and how many processes it starts per node.
std::string EffectiveLauncher(const RunSpec& spec);
int RanksPerNode(const RunSpec& spec);
bool IsValidLauncher(const std::string& launcher);

struct Experiment {
  int index = 0;  // its id is std::to_string(index)
  ExperimentState state = ExperimentState::kQueued;
  std::vector<std::string> args;  // concrete arguments for this point
  std::vector<std::string> params;  // its value of each swept parameter (RunSpec::sweep.parameters)
  std::optional<int> exit_code;
  int attempts = 0;       // attempts started so far
  int restarts = 0;       // attempts lost and retried
  std::string node;       // node of the newest attempt
  int64_t current_attempt = 0;  // id of the newest attempt, 0 if none
  bool cancel_requested = false;
  std::string reason;     // why it waits or how it ended, for humans
};

struct Run {
  std::string name;
  std::string description;
  int64_t created_at_ms = 0;
  RunSpec spec;
  std::vector<Experiment> experiments;
};

// A run's state summarises its experiments' (see RunStateOf).
RunState RunStateOf(const Run& run);

struct Attempt {
  int64_t id = 0;
  std::string run;
  int experiment = 0;
  int number = 1;  // 1-based per experiment
  std::string node;
  AttemptState state = AttemptState::kStarting;
  std::optional<int> exit_code;
  int64_t started_at_ms = 0;
  int64_t ended_at_ms = 0;
  std::vector<int> gpu_indices;
  uint64_t log_bytes = 0;                // bytes received so far
  std::optional<uint64_t> final_log_bytes;  // set when the agent reported the exit
  // How it ended, for people ("exited with code 1", "lost: node n3 stopped
  // responding"); empty while it runs. See AttemptEndReason.
  std::string reason;

  // Multi-node gangs. An attempt of a gang of N nodes is a head (nnodes = N,
  // gang = 0: the experiment's attempt, no process of its own, the combined
  // log of all ranks) and N parts (gang = the head's id, node_rank 0..N-1),
  // one per node, each what an agent runs and reports. A one-node attempt
  // is neither (nnodes = 1, gang = 0).
  int nnodes = 1;
  int64_t gang = 0;
  int node_rank = 0;
  // What holding its node(s) costs per hour, fixed when it was placed: the
  // cluster's price per node-hour times the share of the node it holds
  // (model/cost.h). A gang head holds nothing (0); its parts do.
  double rate_per_hour = 0;
  // Not stored: the rendezvous port rank 0's agent chose (parts report it
  // on every sync, so it comes back after a server restart).
  int master_port = 0;

  bool IsGangHead() const { return nnodes > 1 && gang == 0; }
  bool IsGangPart() const { return gang != 0; }
};

// One file a run produced and Lattice keeps: an artifact (everything under
// LATTICE_ARTIFACTS_DIR) or a checkpoint file (under LATTICE_CHECKPOINT_DIR).
// The content is the blob named sha256. A path written again gets a new
// record; the newest wins for downloads. Checkpoint files registered
// together (one complete top-level entry of the directory) share `group`.
struct ArtifactRecord {
  int64_t id = 0;  // assigned by the store, increasing
  std::string run;
  int experiment = 0;
  int64_t attempt = 0;     // attempt id
  int attempt_number = 0;  // 1-based per experiment
  std::string kind;        // "artifact" or "checkpoint"
  std::string path;        // relative, '/'-separated, validated
  std::string sha256;
  uint64_t size = 0;
  uint32_t mode = 0644;
  int64_t group = 0;       // checkpoints: the id of the registration they came in
  int64_t created_at_ms = 0;
};

// An experiment with an active (starting or running) attempt on a node: the
// node's "running" list.
struct NodeWork {
  std::string run;
  int experiment = 0;
  int attempt = 1;  // the attempt's number in its experiment (1-based)
  std::vector<int> gpus;  // held on that node
};

// When a run's experiments started and ended, from its attempts (0: not yet).
struct RunTimes {
  int64_t started_at_ms = 0;  // the earliest attempt start
  int64_t ended_at_ms = 0;    // the last experiment end, once every experiment ended
};

struct Node {
  std::string id;
  std::string hostname;
  double cpus = 0;
  uint64_t memory_bytes = 0;
  std::vector<Gpu> gpus;
  std::string address;  // where other nodes reach it (MASTER_ADDR); from its agent
  std::string cluster = "local";  // the cluster it belongs to (its agent's --cluster)
  // What holds the node in its cluster's backend, e.g. "slurm job 4711_3"
  // or "ssh root@gpu1"; empty for agents started by hand.
  std::string allocation;
  // Why a lost node is down (e.g. "ssh: connect to host gpu1 port 22:
  // Connection refused"), shown with it; empty while ready.
  std::string reason;
  NodeState state = NodeState::kReady;
  int64_t registered_at_ms = 0;
  int64_t last_seen_ms = 0;  // wall clock, for display
};

}  // namespace lattice
