// The controller owns the server's state: runs, experiments, attempts and
// nodes, and drives each experiment's state machine (DESIGN.md):
//   queued -> starting -> running -> succeeded | failed | cancelled,
// with a lost attempt sending its experiment back to queued while
// --max-restarts allows. Each change is made in memory and committed to the
// Store in one transaction before anyone is told of it; if the commit fails,
// memory is reloaded from the store, so what others see was stored. No sockets and no timers here: the API shell (api_service)
// calls in and is told about changes through the listener callbacks.
// Thread-safety: none; the server's loop thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "model/agent_protocol.h"
#include "cluster/demand.h"
#include "model/cluster.h"
#include "model/codec.h"
#include "model/cost.h"
#include "model/types.h"
#include "sched/placement.h"
#include "server/log_store.h"
#include "store/store.h"

namespace lattice {

struct ControllerOptions {
  // An agent not heard from for this long is lost; its attempts too.
  int64_t node_timeout_ms = 6000;
};

// The cluster a run goes to (runs from before clusters existed: local).
inline const std::string& ClusterOf(const RunSpec& spec) {
  static const std::string local = kLocalCluster;
  return spec.cluster.empty() ? local : spec.cluster;
}

struct ControllerListener {
  std::function<void(const std::string& node)> node_has_work;  // wake its long poll
  std::function<void(const std::string& run)> run_changed;     // its document changed
  std::function<void(const std::string& run)> logs_arrived;    // new log bytes of one of its attempts
};

class Controller final {
 public:
  Controller(Store& store, LogStore& logs, const Clock& clock, ControllerOptions options,
             ControllerListener listener);

  // Loads the stored state; nodes get a fresh heartbeat grace period.
  Status Load();

  // --- runs -----------------------------------------------------------------
  Result<const Run*> Submit(SubmitRequest request, std::mt19937_64& rng);
  const Run* FindRun(const std::string& name) const;
  const std::vector<std::unique_ptr<Run>>& Runs() const { return runs_; }
  // Cancels every experiment of the run (exp == nullopt) or one of them.
  // why: the server's own reason (a budget, --max-duration), shown with the
  // experiments ("stopped: ..."); empty for a user's cancel.
  Status Cancel(const std::string& run, std::optional<int> exp, const std::string& why = "");
  // Bumped on every change of the run: lets the API cache rendered documents.
  uint64_t RunVersion(const std::string& run) const;

  // --- attempts and logs -----------------------------------------------------
  const Attempt* FindAttempt(int64_t id) const;
  // The newest attempt of an experiment (number 0) or the given one.
  const Attempt* FindAttempt(const std::string& run, int exp, int number) const;
  std::vector<const Attempt*> CurrentAttempts(const Run& run) const;
  // Every attempt of an experiment, oldest first (gang heads, not their parts).
  std::vector<const Attempt*> Attempts(const std::string& run, int exp) const;
  // When the run's experiments started and ended (RunSummary).
  RunTimes Times(const Run& run) const;
  // The active (starting or running) attempts on a node, oldest first.
  std::vector<NodeWork> RunningOn(const std::string& node) const;
  Result<uint64_t> AppendLog(const std::string& node, int64_t attempt, uint64_t offset, std::string_view data);
  Result<std::string> ReadLog(int64_t attempt, uint64_t offset, size_t max_bytes) {
    return logs_.Read(attempt, offset, max_bytes);
  }
  // True when no more log bytes will arrive for the attempt.
  bool LogComplete(const Attempt& a) const;
  // Whether a node may still send metrics or files for an attempt: it must
  // be the attempt's node, and a lost attempt is fenced.
  Status AcceptsData(const std::string& node, int64_t attempt) const;
  // The parts of a gang attempt in rank order (a one-node attempt: itself).
  std::vector<const Attempt*> Parts(int64_t head) const;

  // --- nodes -----------------------------------------------------------------
  Result<const Node*> RegisterNode(const NodeRegistration& reg);
  const std::vector<Node>& Nodes() const { return nodes_; }
  int64_t NodeTimeoutMs() const { return options_.node_timeout_ms; }
  // Applies an agent's reports. full=true (a sync) means the list is the
  // agent's whole truth: an attempt it no longer knows is lost.
  Status ApplyReports(const std::string& node, const std::vector<AttemptReport>& reports, bool full);
  // What the agent should do, given the attempt ids it reported.
  AgentWork PendingWork(const std::string& node, const std::set<int64_t>& reported) const;
  // The node's agent is shutting down (a report said so): nothing more is
  // placed there (a requeued attempt must not go back to it); what it runs
  // ends as the agent reports it. Until the node registers again.
  Status NodeStopping(const std::string& node);
  // Records that the agent was heard from (any request it sent).
  void Seen(const std::string& node);

  // --- clusters (controller_clusters.cpp) --------------------------------------
  // Every cluster, `local` always among them, by name.
  const std::map<std::string, Cluster>& Clusters() const { return clusters_; }
  const Cluster* FindCluster(const std::string& name) const;
  const std::string& DefaultCluster() const;
  Result<const Cluster*> CreateCluster(Cluster cluster);
  // Replaces a cluster's settings (its pricing: ParseClusterUpdate); a new
  // price applies to attempts placed from now on.
  Result<const Cluster*> UpdateCluster(Cluster updated);
  // Refused while a run on it has experiments that have not ended.
  Status DeleteCluster(const std::string& name);
  Status SetDefaultCluster(const std::string& name);
  ClusterDemand Demand(const std::string& cluster) const;
  // What the cluster's queued experiments of a shape wait for, said by its
  // backend ("waiting for Slurm job 42: Priority"); shown instead of the
  // scheduler's words while set. An empty note clears it.
  void SetWaitingNote(const std::string& cluster, const std::string& shape_key, const std::string& note);
  // A backend saw a node's agent go away: the node is down with this reason
  // at once (no heartbeat timeout) and its attempts are lost.
  Status NodeDown(const std::string& node, const std::string& why);

  // --- cost and limits (controller_cost.cpp, docs/cost.md) ---------------------
  struct Spend {
    double cost = 0;           // accrued so far (or since the window's start)
    double rate_per_hour = 0;  // of what runs now
    double gpu_hours = 0;
    int attempts = 0;          // that cost anything in the window
    Spend& operator+=(const Spend& o) {
      cost += o.cost;
      rate_per_hour += o.rate_per_hour;
      gpu_hours += o.gpu_hours;
      attempts += o.attempts;
      return *this;
    }
  };
  // What a run has cost and costs now.
  Spend RunSpend(const Run& run) const;
  // The run's experiments' spend since `since_ms`, one entry per experiment.
  std::map<int, Spend> ExperimentSpend(const Run& run, int64_t since_ms = 0) const;
  // Spend since `since_ms` grouped by "run", "user" or "cluster".
  std::map<std::string, Spend> SpendBy(const std::string& by, int64_t since_ms) const;
  // The cluster's spend in the current calendar month (UTC), and that month.
  Spend ClusterMonthSpend(const std::string& cluster) const;
  std::string CurrentMonth() const;
  // How long the succeeded experiments of runs of `script` (the script's
  // file name) ran: what a cost estimate learns.
  DurationSummary SucceededDurations(const std::string& script) const;

  // --- reconciler ------------------------------------------------------------
  // Marks silent nodes lost and their attempts lost, and stops what ran past
  // its --max-duration or would pass a budget. Call about once a second.
  void Tick();

 private:
  struct ExpKey {
    Run* run;
    Experiment* exp;
  };
  Node* MutableNode(const std::string& id);
  const Node* FindNode(const std::string& id) const;
  // The attempts not yet ended, oldest first.
  std::vector<int64_t> ActiveIds() const;
  Attempt* MutableAttempt(int64_t id);
  ExpKey Locate(const Attempt& a);
  Status Commit(StoreBatch& batch);
  void Changed(const std::string& run);
  // Sets exp/attempt to their end states (attempt already terminal).
  void FinishExperiment(Run& run, Experiment& e, const Attempt& a, StoreBatch& batch);
  void LoseAttempt(Attempt& a, const std::string& why, StoreBatch& batch);
  // ran=false: the attempt never got to run its command (lost while
  // starting), so requeuing it does not use up a restart (a few times).
  void EndAndMaybeRetry(Attempt& a, const std::string& why, StoreBatch& batch, bool ran = true);
  // Marks a ready node lost with `why` (shown with the node) and loses what
  // runs there with `attempt_why` (shown with the experiments).
  void MarkNodeLost(Node& n, const std::string& why, const std::string& attempt_why, StoreBatch& batch);
  void GangPartEnded(Attempt& part, const std::string& why, StoreBatch& batch);
  std::string GangCause(const Attempt& part, const std::optional<int>& exit_code) const;
  std::pair<int, int> RankRange(const Attempt& part) const;  // first and last global rank
  void WakePartNodes(const Attempt& head);
  void TeeToGangLog(Attempt& part, uint64_t before, uint64_t length);
  // An unstarted attempt that must not start (cancelled, or its gang ended).
  bool StopsBeforeStart(const Attempt& a) const;
  void Schedule();
  // Stops experiments past --max-duration or whose run or cluster would pass
  // its budget within the grace period.
  void EnforceLimits();
  // What an attempt holding `gpus_held` GPUs (or the run's CPUs) on `node` costs per hour.
  double RateOn(const Run& run, const std::string& node, int gpus_held) const;
  // How long an experiment of the run is expected to hold its node, for
  // projecting --max-cost: --max-duration, else the median of the succeeded
  // experiments of runs of the same script (its own included); ms 0: unknown.
  struct Horizon {
    int64_t ms = 0;
    std::string basis;  // "until --max-duration 2h", "for 12m each, the median of 5 earlier experiments of t.py"
  };
  Horizon ExpectedDuration(const Run& run) const;
  // Whether the run's budget allows starting one more experiment at
  // `rate_per_hour`, counting what runs and the new one over `horizon`; if
  // not, `why` says so.
  bool BudgetAllowsStart(const Run& run, const Horizon& horizon, double rate_per_hour, std::string* why) const;
  // Whether the cluster's month spend, with what runs now (and, starting,
  // one more node) through a grace period, reached its monthly budget; `why`
  // says so.
  bool ClusterOverBudget(const std::string& cluster, bool starting, std::string* why) const;
  template <typename F>
  void ForEachAttemptOf(const Run& run, F&& f) const;  // heads, one-node attempts and gang parts
  void LoadClusters(std::vector<Cluster> stored);
  std::string ClusterNames() const;  // "local, slurm1"
  // One cluster's scheduling pass; `nodes` holds its ready nodes only.
  void ScheduleCluster(const std::string& cluster, std::vector<sched::NodeSnapshot> snaps,
                       StoreBatch& batch, std::set<std::string>& woken, std::set<std::string>& changed);

  Store& store_;
  LogStore& logs_;
  const Clock& clock_;
  const ControllerOptions options_;
  const ControllerListener listener_;

  std::vector<std::unique_ptr<Run>> runs_;  // creation order
  std::map<std::string, Run*> runs_by_name_;
  std::map<std::string, uint64_t> run_versions_;
  std::map<int64_t, Attempt> attempts_;
  // Ids of attempts that may still be active (a superset: ended ones are
  // dropped when next listed), so passes do not walk all history.
  mutable std::set<int64_t> active_;
  // (run, experiment) -> attempt ids in order (one-node attempts and gang heads)
  std::map<std::pair<std::string, int>, std::vector<int64_t>> attempts_by_exp_;
  std::map<int64_t, std::vector<int64_t>> gang_parts_;  // head -> parts in rank order
  // Gang part -> bytes of its log already copied to the gang's log (whole lines).
  std::map<int64_t, uint64_t> gang_teed_;
  static constexpr uint64_t kMaxHeldLine = 64 * 1024;
  std::vector<Node> nodes_;
  std::map<std::string, int64_t> node_seen_mono_;
  std::set<std::string> draining_;  // nodes whose agent said it stops (memory only)
  std::map<std::string, Cluster> clusters_;
  std::string default_cluster_ = kLocalCluster;
  // (cluster, shape key) -> what its queued experiments wait for (memory only).
  std::map<std::pair<std::string, std::string>, std::string> waiting_notes_;
  int64_t next_attempt_id_ = 1;
  bool reloading_ = false;  // a failed commit reloads; never recursively
};

}  // namespace lattice
