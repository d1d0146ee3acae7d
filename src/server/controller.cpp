#include "server/controller.h"

#include <algorithm>
#include <numeric>

#include "common/log.h"
#include "model/attempt_reason.h"
#include "model/names.h"
#include "sched/placement.h"

namespace lattice {
namespace {
// An experiment stopped by the server keeps why in its reason while it stops.
constexpr std::string_view kStopping = "stopping: ";
}  // namespace

Controller::Controller(Store& store, LogStore& logs, const Clock& clock, ControllerOptions options,
                       ControllerListener listener)
    : store_(store), logs_(logs), clock_(clock), options_(options), listener_(std::move(listener)) {}

Status Controller::Load() {
  LATTICE_ASSIGN_OR_RETURN(StoreData data, store_.Load());
  runs_.clear();
  runs_by_name_.clear();
  attempts_.clear();
  active_.clear();
  attempts_by_exp_.clear();
  gang_parts_.clear();
  gang_teed_.clear();
  for (auto& r : data.runs) {
    auto run = std::make_unique<Run>(std::move(r));
    runs_by_name_[run->name] = run.get();
    runs_.push_back(std::move(run));
  }
  for (auto& a : data.attempts) {
    a.log_bytes = logs_.Length(a.id);
    next_attempt_id_ = std::max(next_attempt_id_, a.id + 1);
    if (a.IsGangPart()) {
      gang_parts_[a.gang].push_back(a.id);  // ids grow with node_rank
      gang_teed_[a.id] = a.log_bytes;  // a line cut by the restart is not copied
    } else {
      attempts_by_exp_[{a.run, a.experiment}].push_back(a.id);
    }
    if (!IsTerminal(a.state)) active_.insert(a.id);
    attempts_[a.id] = std::move(a);
  }
  nodes_ = std::move(data.nodes);
  LoadClusters(std::move(data.clusters));
  // After a restart every node gets a full timeout to reconnect.
  for (const auto& n : nodes_) node_seen_mono_[n.id] = clock_.MonotonicMs();
  Schedule();
  return OkStatus();
}

Status Controller::Commit(StoreBatch& batch) {
  Status st = store_.Commit(batch);
  if (!st.ok()) {
    // Memory already moved on; put it back in line with what is stored.
    LOG_ERROR("controller", "commit failed, reloading state: " << st.error().message);
    if (!reloading_) {
      reloading_ = true;
      Status reload = Load();
      if (!reload.ok()) LOG_ERROR("controller", "reload failed: " << reload.error().message);
      reloading_ = false;
    }
  }
  return st;
}

void Controller::Changed(const std::string& run) {
  ++run_versions_[run];
  if (listener_.run_changed) listener_.run_changed(run);
}

uint64_t Controller::RunVersion(const std::string& run) const {
  auto it = run_versions_.find(run);
  return it == run_versions_.end() ? 0 : it->second;
}

Result<const Run*> Controller::Submit(SubmitRequest request, std::mt19937_64& rng) {
  if (request.name.empty()) {
    do request.name = GenerateRunName(rng);
    while (runs_by_name_.count(request.name));
  } else {
    LATTICE_RETURN_IF_ERROR(ValidateRunName(request.name));
    if (runs_by_name_.count(request.name))
      return Error(ErrorCode::kAlreadyExists, "a run named '" + request.name + "' already exists", "name");
  }
  if (request.spec.cluster.empty()) request.spec.cluster = default_cluster_;
  const Cluster* cluster = FindCluster(request.spec.cluster);
  if (!cluster)
    return Error(ErrorCode::kNotFound, "cluster '" + request.spec.cluster + "' does not exist; clusters: " +
                                           ClusterNames() + " (lattice cluster create adds one)", "cluster");
  // A Slurm cluster's nodes are made to measure, so only the others have
  // nodes to compare the ask with.
  if (cluster->backend != "slurm") {
    std::vector<sched::NodeSnapshot> totals;
    for (const auto& n : nodes_) {
      if (n.state != NodeState::kReady || n.cluster != cluster->name) continue;
      totals.push_back({n.id, Resources{n.cpus, n.memory_bytes, static_cast<int>(n.gpus.size())}, 0, 0, {}});
    }
    if (auto why = sched::Infeasible(totals, request.spec.resources, request.spec.nodes))
      return Error(ErrorCode::kFailedPrecondition, "this run can never start: it " + *why, "resources");
  }

  auto run = std::make_unique<Run>();
  run->name = request.name;
  run->description = request.description;
  run->created_at_ms = clock_.NowMs();
  run->spec = std::move(request.spec);
  if (request.experiments.empty()) request.experiments.push_back({run->spec.args, {}});
  run->experiments.reserve(request.experiments.size());
  for (auto& point : request.experiments) {
    Experiment e;
    e.index = static_cast<int>(run->experiments.size());
    e.args = std::move(point.args);
    e.params = std::move(point.params);
    e.reason = "waiting to be placed";
    run->experiments.push_back(std::move(e));
  }

  StoreBatch batch;
  batch.runs.push_back(*run);
  LATTICE_RETURN_IF_ERROR(store_.Commit(batch));
  Run* raw = run.get();
  runs_by_name_[raw->name] = raw;
  runs_.push_back(std::move(run));
  Changed(raw->name);
  Schedule();
  return static_cast<const Run*>(raw);
}

const Run* Controller::FindRun(const std::string& name) const {
  auto it = runs_by_name_.find(name);
  return it == runs_by_name_.end() ? nullptr : it->second;
}

Status Controller::Cancel(const std::string& run_name, std::optional<int> exp, const std::string& why) {
  auto it = runs_by_name_.find(run_name);
  if (it == runs_by_name_.end()) return Error(ErrorCode::kNotFound, "no run named '" + run_name + "'");
  Run& run = *it->second;
  if (exp && (*exp < 0 || static_cast<size_t>(*exp) >= run.experiments.size()))
    return Error(ErrorCode::kNotFound, "run '" + run_name + "' has no experiment " + std::to_string(*exp));
  StoreBatch batch;
  std::set<std::string> nodes_to_wake;
  for (auto& e : run.experiments) {
    if (exp && e.index != *exp) continue;
    if (IsTerminal(e.state) || e.cancel_requested) continue;
    e.cancel_requested = true;
    if (e.state == ExperimentState::kQueued) {
      e.state = ExperimentState::kCancelled;
      e.reason = why.empty() ? "cancelled before it started" : "not started: " + why;
    } else {
      // FinishExperiment turns "stopping: why" into "stopped: why".
      e.reason = why.empty() ? "cancelling" : std::string(kStopping) + why;
      for (const Attempt* part : Parts(e.current_attempt)) nodes_to_wake.insert(part->node);
    }
    batch.experiments.emplace_back(run.name, e);
  }
  if (batch.empty()) return OkStatus();
  LATTICE_RETURN_IF_ERROR(Commit(batch));
  Changed(run.name);
  for (const auto& n : nodes_to_wake)
    if (listener_.node_has_work) listener_.node_has_work(n);
  return OkStatus();
}

const Attempt* Controller::FindAttempt(int64_t id) const {
  auto it = attempts_.find(id);
  return it == attempts_.end() ? nullptr : &it->second;
}

Attempt* Controller::MutableAttempt(int64_t id) {
  auto it = attempts_.find(id);
  return it == attempts_.end() ? nullptr : &it->second;
}

const Attempt* Controller::FindAttempt(const std::string& run, int exp, int number) const {
  auto it = attempts_by_exp_.find({run, exp});
  if (it == attempts_by_exp_.end() || it->second.empty()) return nullptr;
  if (number <= 0) return FindAttempt(it->second.back());
  if (static_cast<size_t>(number) > it->second.size()) return nullptr;
  return FindAttempt(it->second[static_cast<size_t>(number) - 1]);
}

std::vector<const Attempt*> Controller::CurrentAttempts(const Run& run) const {
  std::vector<const Attempt*> out;
  for (const auto& e : run.experiments) out.push_back(e.current_attempt ? FindAttempt(e.current_attempt) : nullptr);
  return out;
}

std::vector<const Attempt*> Controller::Attempts(const std::string& run, int exp) const {
  std::vector<const Attempt*> out;
  auto it = attempts_by_exp_.find({run, exp});
  if (it == attempts_by_exp_.end()) return out;
  for (int64_t id : it->second)
    if (const Attempt* a = FindAttempt(id)) out.push_back(a);
  return out;
}

RunTimes Controller::Times(const Run& run) const {
  RunTimes t;
  bool all_ended = !run.experiments.empty();
  for (const auto& e : run.experiments) {
    all_ended = all_ended && IsTerminal(e.state);
    auto it = attempts_by_exp_.find({run.name, e.index});
    if (it == attempts_by_exp_.end() || it->second.empty()) continue;
    // Attempts are placed in order, so an experiment's first started first.
    if (const Attempt* first = FindAttempt(it->second.front()); first && first->started_at_ms > 0)
      t.started_at_ms = t.started_at_ms ? std::min(t.started_at_ms, first->started_at_ms) : first->started_at_ms;
    if (const Attempt* last = FindAttempt(it->second.back()))
      t.ended_at_ms = std::max(t.ended_at_ms, last->ended_at_ms);
  }
  if (!all_ended) t.ended_at_ms = 0;
  return t;
}

std::vector<NodeWork> Controller::RunningOn(const std::string& node) const {
  std::vector<NodeWork> out;
  for (int64_t id : ActiveIds()) {
    const Attempt& a = attempts_.at(id);
    if (a.IsGangHead() || a.node != node) continue;  // a gang's parts are on the nodes
    out.push_back({a.run, a.experiment, a.number, a.gpu_indices});
  }
  return out;
}

bool Controller::LogComplete(const Attempt& a) const {
  if (!IsTerminal(a.state)) return false;
  if (a.IsGangHead()) {
    for (const Attempt* part : Parts(a.id))
      if (!LogComplete(*part)) return false;
    return true;
  }
  if (a.final_log_bytes) return a.log_bytes >= *a.final_log_bytes;
  return a.state == AttemptState::kLost || a.state == AttemptState::kCancelled;
}

Result<uint64_t> Controller::AppendLog(const std::string& node, int64_t attempt_id, uint64_t offset,
                                       std::string_view data) {
  Attempt* a = MutableAttempt(attempt_id);
  if (!a) return Error(ErrorCode::kNotFound, "no attempt " + std::to_string(attempt_id));
  if (a->node != node)  // logs of a lost attempt are kept: they stay apart, under that attempt
    return Error(ErrorCode::kNotFound, "attempt " + std::to_string(attempt_id) + " is not assigned to node " + node);
  Seen(node);
  uint64_t before = a->log_bytes;
  LATTICE_ASSIGN_OR_RETURN(uint64_t length, logs_.Append(attempt_id, offset, data));
  a->log_bytes = length;
  if (length > before && a->IsGangPart()) TeeToGangLog(*a, before, length);
  if (length != before && listener_.logs_arrived) listener_.logs_arrived(a->run);
  return length;
}

Status Controller::AcceptsData(const std::string& node, int64_t attempt_id) const {
  const Attempt* a = FindAttempt(attempt_id);
  if (!a) return Error(ErrorCode::kNotFound, "no attempt " + std::to_string(attempt_id));
  if (a->node != node)
    return Error(ErrorCode::kFailedPrecondition,
                 "attempt " + std::to_string(attempt_id) + " runs on node " + a->node + ", not on " + node);
  // Fencing: once an attempt is declared lost a new one may already run the
  // experiment; what the old one still sends (its node came back) must not
  // mix with the new attempt's metrics or checkpoints, which the experiment
  // shares across attempts. (404: the agent drops what it holds for it.)
  if (a->state == AttemptState::kLost)
    return Error(ErrorCode::kNotFound, "attempt " + std::to_string(attempt_id) + " on node " + node +
                                           " was declared lost; its data is refused");
  return OkStatus();
}

// Copies the whole lines a part's log gained into its gang's combined log
// (the agent prefixes every line with its rank), so readers follow one log.
void Controller::TeeToGangLog(Attempt& part, uint64_t before, uint64_t length) {
  uint64_t& teed = gang_teed_[part.id];
  if (teed < before && before - teed > kMaxHeldLine) teed = before;  // a server restart lost the partial line
  auto bytes = logs_.Read(part.id, teed, static_cast<size_t>(length - teed));
  if (!bytes.ok()) return;
  size_t end = bytes->rfind('\n');
  const bool final = part.final_log_bytes && length >= *part.final_log_bytes;
  size_t take = final ? bytes->size() : (end == std::string::npos ? 0 : end + 1);
  if (take == 0 && bytes->size() > kMaxHeldLine) take = bytes->size();  // a very long line: do not hold it forever
  if (take == 0) return;
  Attempt* head = MutableAttempt(part.gang);
  if (!head) return;
  auto appended = logs_.Append(head->id, head->log_bytes, std::string_view(*bytes).substr(0, take));
  if (appended.ok()) {
    head->log_bytes = *appended;
    teed += take;
  }
}

std::vector<int64_t> Controller::ActiveIds() const {
  std::vector<int64_t> ids;
  ids.reserve(active_.size());
  for (auto it = active_.begin(); it != active_.end();) {
    auto a = attempts_.find(*it);
    if (a == attempts_.end() || IsTerminal(a->second.state)) {
      it = active_.erase(it);  // ended since: forget it lazily
    } else {
      ids.push_back(*it);
      ++it;
    }
  }
  return ids;
}

const Node* Controller::FindNode(const std::string& id) const {
  for (const auto& n : nodes_)
    if (n.id == id) return &n;
  return nullptr;
}

bool Controller::StopsBeforeStart(const Attempt& a) const {
  const Attempt* head = a.IsGangPart() ? FindAttempt(a.gang) : &a;
  if (!head) return true;
  if (a.IsGangPart() && IsTerminal(head->state)) return true;
  auto it = runs_by_name_.find(a.run);
  return it != runs_by_name_.end() && it->second->experiments[static_cast<size_t>(a.experiment)].cancel_requested;
}

Node* Controller::MutableNode(const std::string& id) {
  for (auto& n : nodes_)
    if (n.id == id) return &n;
  return nullptr;
}

void Controller::Seen(const std::string& node) {
  node_seen_mono_[node] = clock_.MonotonicMs();
  if (Node* n = MutableNode(node)) n->last_seen_ms = clock_.NowMs();
}

Result<const Node*> Controller::RegisterNode(const NodeRegistration& reg) {
  const std::string& cluster = reg.cluster.empty() ? kLocalCluster : reg.cluster;
  if (!clusters_.count(cluster))
    return Error(ErrorCode::kFailedPrecondition,
                 "cluster '" + cluster + "' does not exist (lattice cluster list shows those that do)", "cluster");
  Node* n = MutableNode(reg.id);
  if (!n) {
    nodes_.push_back(Node{});
    n = &nodes_.back();
    n->id = reg.id;
  }
  n->hostname = reg.hostname;
  n->cpus = reg.cpus;
  n->memory_bytes = reg.memory_bytes;
  n->gpus = reg.gpus;
  n->address = reg.address;
  n->cluster = reg.cluster.empty() ? kLocalCluster : reg.cluster;
  n->allocation = reg.allocation;
  n->reason.clear();
  n->state = NodeState::kReady;
  draining_.erase(reg.id);  // a new agent
  n->registered_at_ms = clock_.NowMs();
  n->last_seen_ms = clock_.NowMs();
  Seen(reg.id);
  StoreBatch batch;
  batch.nodes.push_back(*n);
  LATTICE_RETURN_IF_ERROR(Commit(batch));
  LOG_INFO("controller", "node " << reg.id << " (" << reg.hostname << ") registered: " << reg.cpus << " CPUs, "
                                 << reg.gpus.size() << " GPUs");
  Schedule();
  return static_cast<const Node*>(MutableNode(reg.id));
}

Controller::ExpKey Controller::Locate(const Attempt& a) {
  auto it = runs_by_name_.find(a.run);
  if (it == runs_by_name_.end() || static_cast<size_t>(a.experiment) >= it->second->experiments.size())
    return {nullptr, nullptr};
  return {it->second, &it->second->experiments[static_cast<size_t>(a.experiment)]};
}

void Controller::FinishExperiment(Run& run, Experiment& e, const Attempt& a, StoreBatch& batch) {
  if (e.current_attempt != a.id || IsTerminal(e.state)) return;
  e.exit_code = a.exit_code;
  if (e.cancel_requested) {
    e.state = ExperimentState::kCancelled;
    e.reason = e.reason.rfind(kStopping, 0) == 0 ? "stopped: " + e.reason.substr(kStopping.size()) : "cancelled";
  } else if (a.state == AttemptState::kSucceeded) {
    e.state = ExperimentState::kSucceeded;
    e.reason = "exited with code 0";
  } else if (a.state == AttemptState::kFailed) {
    e.state = ExperimentState::kFailed;
    e.reason = a.exit_code ? "exited with code " + std::to_string(*a.exit_code) : "failed";
  }
  batch.experiments.emplace_back(run.name, e);
}

void Controller::LoseAttempt(Attempt& a, const std::string& why, StoreBatch& batch) {
  if (IsTerminal(a.state)) return;
  const bool ran = a.state != AttemptState::kStarting;
  a.state = AttemptState::kLost;
  a.ended_at_ms = clock_.NowMs();
  a.reason = AttemptEndReason(a.state, a.exit_code, why);
  batch.attempts.push_back(a);
  if (a.IsGangPart()) return GangPartEnded(a, why, batch);
  EndAndMaybeRetry(a, why, batch, ran);
}

// The attempt ended abnormally (lost, or a gang that broke): the experiment
// runs again while --max-restarts allows, else it fails with the cause.
void Controller::EndAndMaybeRetry(Attempt& a, const std::string& why, StoreBatch& batch, bool ran) {
  auto [run, e] = Locate(a);
  if (!run || e->current_attempt != a.id || IsTerminal(e->state)) return;
  // An attempt lost before its command ran (its node went away while it was
  // fetching code or building the environment) did none of the user's work.
  // Elastic clusters lose nodes that way routinely (an allocation ending),
  // so it is queued again without using a restart, but only a few times, so
  // that a node that always loses it cannot keep it going for ever.
  constexpr int kFreeRetries = 3;
  const bool free_retry = !ran && a.state == AttemptState::kLost && e->attempts - e->restarts <= kFreeRetries;
  if (e->cancel_requested) {
    e->state = ExperimentState::kCancelled;
    e->reason = "cancelled (" + why + ")";
  } else if (free_retry) {
    e->state = ExperimentState::kQueued;
    e->reason = "requeued: " + why + " (before it started; no restart used)";
  } else if (e->restarts < run->spec.max_restarts) {
    ++e->restarts;
    e->state = ExperimentState::kQueued;
    e->reason = "requeued: " + why + " (restart " + std::to_string(e->restarts) + " of " +
                std::to_string(run->spec.max_restarts) + ")";
  } else {
    e->state = ExperimentState::kFailed;
    e->exit_code = a.exit_code;
    e->reason = why + (run->spec.max_restarts > 0 ? "; no restarts left" : "; --max-restarts is 0");
  }
  batch.experiments.emplace_back(run->name, *e);
  Changed(run->name);
  WakePartNodes(a);
}

std::vector<const Attempt*> Controller::Parts(int64_t head_id) const {
  std::vector<const Attempt*> out;
  auto it = gang_parts_.find(head_id);
  if (it == gang_parts_.end()) {
    if (const Attempt* a = FindAttempt(head_id)) out.push_back(a);  // a one-node attempt is its own part
    return out;
  }
  for (int64_t id : it->second)
    if (const Attempt* a = FindAttempt(id)) out.push_back(a);
  return out;
}

void Controller::WakePartNodes(const Attempt& head) {
  if (!head.IsGangHead() || !listener_.node_has_work) return;
  for (const Attempt* part : Parts(head.id))
    if (!IsTerminal(part->state)) listener_.node_has_work(part->node);
}

// A part of a gang ended: the first part to fail or be lost ends the whole
// attempt (the other parts are aborted by PendingWork: their ranks would
// wait in a collective forever); the attempt succeeds once every part did,
// and is cancelled once every part stopped after a cancel.
void Controller::GangPartEnded(Attempt& part, const std::string& why, StoreBatch& batch) {
  Attempt* head = MutableAttempt(part.gang);
  if (!head || IsTerminal(head->state)) return;
  auto [run, e] = Locate(*head);
  const bool cancelling = run && e->cancel_requested;
  bool all_ended = true, all_succeeded = true;
  for (const Attempt* p : Parts(head->id)) {
    all_ended = all_ended && IsTerminal(p->state);
    all_succeeded = all_succeeded && p->state == AttemptState::kSucceeded;
  }
  const bool broke = part.state == AttemptState::kLost || part.state == AttemptState::kFailed;
  if (!cancelling && broke) {
    const bool ran = head->state == AttemptState::kRunning;  // every rank had started
    head->state = part.state;
    head->exit_code = part.exit_code;
    head->ended_at_ms = clock_.NowMs();
    head->reason = AttemptEndReason(head->state, head->exit_code, why);
    batch.attempts.push_back(*head);
    LOG_WARN("controller", "gang attempt " << head->id << " of " << head->run << "/" << head->experiment
                                           << " ends: " << why);
    EndAndMaybeRetry(*head, why, batch, ran);
    return;
  }
  if (!all_ended) return;
  head->state = cancelling ? AttemptState::kCancelled
                           : (all_succeeded ? AttemptState::kSucceeded : AttemptState::kFailed);
  head->exit_code = all_succeeded ? 0 : part.exit_code.value_or(1);
  head->ended_at_ms = clock_.NowMs();
  head->reason = AttemptEndReason(head->state, head->exit_code, "");
  batch.attempts.push_back(*head);
  if (run) FinishExperiment(*run, *e, *head, batch);
}

std::string Controller::GangCause(const Attempt& part, const std::optional<int>& exit_code) const {
  auto [first, last] = RankRange(part);
  std::string ranks = first == last ? "rank " + std::to_string(first)
                                    : "ranks " + std::to_string(first) + "-" + std::to_string(last);
  return ranks + " on " + part.node + " exited with code " + (exit_code ? std::to_string(*exit_code) : "?");
}

std::pair<int, int> Controller::RankRange(const Attempt& part) const {
  int per = 1;
  if (auto it = runs_by_name_.find(part.run); it != runs_by_name_.end()) {
    const RunSpec& spec = it->second->spec;
    per = EffectiveLauncher(spec) == "torchrun" ? std::max(1, spec.resources.gpus) : RanksPerNode(spec);
  }
  return {part.node_rank * per, part.node_rank * per + per - 1};
}

Status Controller::ApplyReports(const std::string& node_id, const std::vector<AttemptReport>& reports, bool full) {
  Node* node = MutableNode(node_id);
  if (!node) return Error(ErrorCode::kNotFound, "node " + node_id + " is not registered; register first");
  Seen(node_id);
  StoreBatch batch;
  // A lost node whose agent speaks again is back, unless its cluster was
  // deleted meanwhile (its agent's last reports are still welcome).
  if (node->state == NodeState::kLost && clusters_.count(node->cluster)) {
    node->state = NodeState::kReady;
    node->reason.clear();
    node->last_seen_ms = clock_.NowMs();
    batch.nodes.push_back(*node);
    LOG_INFO("controller", "node " << node_id << " is back");
  }
  std::set<std::string> changed;
  std::set<int64_t> reported;
  for (const AttemptReport& r : reports) {
    reported.insert(r.id);
    Attempt* a = MutableAttempt(r.id);
    if (!a || a->node != node_id) continue;  // PendingWork tells the agent to drop it
    if (r.state != ReportedState::kRunning && (!a->final_log_bytes || *a->final_log_bytes != r.log_bytes)) {
      a->final_log_bytes = r.log_bytes;
      batch.attempts.push_back(*a);
      changed.insert(a->run);
      if (a->IsGangPart()) TeeToGangLog(*a, a->log_bytes, a->log_bytes);  // a last line without a newline
    }
    if (a->IsGangPart() && r.master_port > 0 && a->master_port != r.master_port) {
      a->master_port = r.master_port;
      Attempt* head = MutableAttempt(a->gang);
      if (a->node_rank == 0 && head && head->master_port != r.master_port) {
        head->master_port = r.master_port;  // the other parts may start their ranks now
        WakePartNodes(*head);
      }
    }
    if (IsTerminal(a->state)) continue;
    Attempt* head = a->IsGangPart() ? MutableAttempt(a->gang) : a;
    if (!head) continue;
    auto [run, e] = Locate(*head);
    if (r.state == ReportedState::kRunning) {
      // Before its command starts the agent says what it does instead (e.g.
      // "building the environment"): the attempt is still starting.
      const bool command_runs = r.message.empty();
      if (command_runs && a->state == AttemptState::kStarting) {
        a->state = AttemptState::kRunning;
        batch.attempts.push_back(*a);
        changed.insert(a->run);
      }
      bool all_run = command_runs;
      std::string where = node_id;
      if (a != head) {
        where.clear();
        for (const Attempt* p : Parts(head->id)) {
          all_run = all_run && p->state == AttemptState::kRunning;
          where += (where.empty() ? "" : ", ") + p->node;
        }
        if (all_run && head->state == AttemptState::kStarting) {
          head->state = AttemptState::kRunning;
          batch.attempts.push_back(*head);
        }
      }
      std::string doing = all_run ? "running on " + where : (command_runs ? "started" : r.message) + " on " + node_id;
      if (run && e->current_attempt == head->id && !e->cancel_requested && !IsTerminal(head->state) &&
          (e->state == ExperimentState::kStarting || e->state == ExperimentState::kRunning) && e->reason != doing) {
        if (all_run) e->state = ExperimentState::kRunning;
        e->reason = doing;
        batch.experiments.emplace_back(run->name, *e);
        changed.insert(a->run);
      }
    } else if (r.state == ReportedState::kExited) {
      a->exit_code = r.exit_code;
      a->ended_at_ms = clock_.NowMs();
      const bool cancelled = (run && e->cancel_requested) || (a != head && IsTerminal(head->state));
      a->state = cancelled ? AttemptState::kCancelled
                           : (r.exit_code && *r.exit_code == 0 ? AttemptState::kSucceeded : AttemptState::kFailed);
      a->reason = AttemptEndReason(a->state, a->exit_code, r.message);
      batch.attempts.push_back(*a);
      if (a != head) {
        GangPartEnded(*a, r.message.empty() ? GangCause(*a, r.exit_code) : r.message + " (" + node_id + ")", batch);
      } else if (run) {
        if (!r.message.empty()) e->reason = r.message;
        FinishExperiment(*run, *e, *a, batch);
        if (!r.message.empty() && e->state == ExperimentState::kFailed) e->reason = r.message;
      }
      changed.insert(a->run);
    } else {
      LoseAttempt(*a,
                  r.message.empty() ? "the agent on " + node_id + " lost track of attempt " + std::to_string(a->id)
                                    : r.message + " (" + node_id + ")",
                  batch);
    }
  }
  if (full) {
    for (int64_t id : ActiveIds()) {
      Attempt& a = attempts_[id];
      if (a.IsGangHead() || a.node != node_id || reported.count(id)) continue;
      if (a.state == AttemptState::kRunning) {
        LoseAttempt(a, "the agent on " + node_id + " no longer knows attempt " + std::to_string(id), batch);
        continue;
      }
      // Cancelled (or its gang ended) before the agent took it: PendingWork no
      // longer assigns it and the agent ignores a cancel for an attempt it
      // never had, so end it here or it would hold its GPUs forever.
      if (a.state != AttemptState::kStarting || !StopsBeforeStart(a)) continue;
      a.state = AttemptState::kCancelled;
      a.ended_at_ms = clock_.NowMs();
      a.reason = AttemptEndReason(a.state, a.exit_code, "");
      batch.attempts.push_back(a);
      if (a.IsGangPart()) {
        GangPartEnded(a, "cancelled", batch);
      } else if (auto [run, e] = Locate(a); run) {
        FinishExperiment(*run, *e, a, batch);
      }
      changed.insert(a.run);
    }
  }
  Status st = Commit(batch);
  for (const auto& r : changed) Changed(r);
  if (!batch.empty()) Schedule();
  return st;
}

AgentWork Controller::PendingWork(const std::string& node_id, const std::set<int64_t>& reported) const {
  AgentWork work;
  for (int64_t id : reported) {
    const Attempt* a = FindAttempt(id);
    if (!a || a->node != node_id) {
      work.cancel.push_back(id);
      work.forget.push_back(id);
      continue;
    }
    if (IsTerminal(a->state) && a->state != AttemptState::kCancelled && a->state != AttemptState::kSucceeded &&
        a->state != AttemptState::kFailed) {
      work.cancel.push_back(id);  // lost on our side: stop it there
    }
    if (LogComplete(*a)) work.forget.push_back(id);
  }
  for (int64_t id : ActiveIds()) {
    const Attempt& a = attempts_.at(id);
    if (a.IsGangHead() || a.node != node_id) continue;
    auto it = runs_by_name_.find(a.run);
    if (it == runs_by_name_.end()) continue;
    const Run& run = *it->second;
    const Experiment& e = run.experiments[static_cast<size_t>(a.experiment)];
    if (e.cancel_requested) {
      work.cancel.push_back(id);
      continue;
    }
    const Attempt* head = a.IsGangPart() ? FindAttempt(a.gang) : nullptr;
    if (head && IsTerminal(head->state)) {
      if (reported.count(id)) work.abort.push_back(id);  // the gang broke elsewhere
      continue;
    }
    if (head && a.node_rank > 0 && head->master_port > 0 && reported.count(id) && a.master_port != head->master_port)
      work.master_ports.push_back({id, head->master_port});
    if (a.state == AttemptState::kStarting && !reported.count(id)) {
      Assignment x;
      x.attempt = id;
      x.run = run.name;
      x.experiment = a.experiment;
      x.number = a.number;
      x.script = run.spec.script;
      x.args = e.args;
      x.snapshot = run.spec.snapshot;
      x.env = run.spec.env;
      x.python = run.spec.python;
      x.environment = run.spec.environment;
      x.grace_ms = run.spec.grace_ms;
      x.resources = run.spec.resources;
      x.gpus = a.gpu_indices;
      x.nnodes = a.nnodes;
      x.node_rank = a.node_rank;
      x.launcher = EffectiveLauncher(run.spec);
      x.ranks_per_node = RanksPerNode(run.spec);
      if (head) {
        const Node* master = FindNode(head->node);
        x.master_addr = master && !master->address.empty() ? master->address : head->node;
        x.master_port = a.node_rank > 0 ? head->master_port : 0;
      }
      work.assign.push_back(std::move(x));
    }
  }
  return work;
}

Status Controller::NodeStopping(const std::string& node_id) {
  if (!MutableNode(node_id)) return Error(ErrorCode::kNotFound, "node " + node_id + " is not registered");
  if (draining_.insert(node_id).second)
    LOG_INFO("controller", "node " << node_id << " is stopping: nothing more is placed there");
  return OkStatus();
}

void Controller::Tick() {
  EnforceLimits();
  int64_t now = clock_.MonotonicMs();
  StoreBatch batch;
  for (auto& n : nodes_) {
    if (n.state != NodeState::kReady) continue;
    auto it = node_seen_mono_.find(n.id);
    int64_t seen = it == node_seen_mono_.end() ? 0 : it->second;
    if (now - seen < options_.node_timeout_ms) continue;
    n.last_seen_ms = clock_.NowMs() - (now - seen);
    MarkNodeLost(n, "no word from its agent for " + std::to_string((now - seen) / 1000) + " s",
                 "node " + n.id + " stopped responding", batch);
  }
  if (batch.empty()) return;
  (void)Commit(batch);
  Schedule();
}

void Controller::MarkNodeLost(Node& n, const std::string& why, const std::string& attempt_why, StoreBatch& batch) {
  if (n.state != NodeState::kReady) return;
  n.state = NodeState::kLost;
  n.reason = why;
  batch.nodes.push_back(n);
  LOG_WARN("controller", "node " << n.id << " lost: " << why);
  for (int64_t id : ActiveIds()) {
    Attempt& a = attempts_[id];
    if (!a.IsGangHead() && a.node == n.id) LoseAttempt(a, attempt_why, batch);
  }
}

void Controller::Schedule() {
  // Free resources per ready node = offer minus active attempts, per cluster:
  // a run only ever goes to nodes of its cluster.
  std::map<std::string, std::vector<sched::NodeSnapshot>> snaps;
  std::map<std::string, sched::NodeSnapshot*> by_id;
  for (const auto& n : nodes_) {
    if (n.state != NodeState::kReady || draining_.count(n.id) || !clusters_.count(n.cluster)) continue;
    sched::NodeSnapshot s;
    s.id = n.id;
    s.total = Resources{n.cpus, n.memory_bytes, static_cast<int>(n.gpus.size())};
    s.free_cpus = n.cpus;
    s.free_memory = n.memory_bytes;
    for (const auto& g : n.gpus) s.free_gpus.push_back(g.index);
    snaps[n.cluster].push_back(std::move(s));
  }
  for (auto& [cluster, list] : snaps)
    for (auto& s : list) by_id[s.id] = &s;
  for (int64_t id : ActiveIds()) {
    const Attempt& a = attempts_.at(id);
    if (a.IsGangHead()) continue;  // its parts hold the resources
    auto it = by_id.find(a.node);
    auto run = runs_by_name_.find(a.run);
    if (it == by_id.end() || run == runs_by_name_.end()) continue;
    auto& s = *it->second;
    const Resources& r = run->second->spec.resources;
    s.free_cpus -= r.cpus;
    s.free_memory -= std::min(s.free_memory, r.memory_bytes);
    for (int g : a.gpu_indices) std::erase(s.free_gpus, g);
  }
  std::set<std::string> queued_on;
  for (const auto& run : runs_)
    for (const auto& e : run->experiments)
      if (e.state == ExperimentState::kQueued) {
        queued_on.insert(ClusterOf(run->spec));
        break;
      }
  StoreBatch batch;
  std::set<std::string> woken, changed;
  for (const auto& cluster : queued_on) ScheduleCluster(cluster, std::move(snaps[cluster]), batch, woken, changed);
  (void)Commit(batch);
  for (const auto& r : changed) Changed(r);
  for (const auto& n : woken)
    if (listener_.node_has_work) listener_.node_has_work(n);
}

void Controller::ScheduleCluster(const std::string& cluster, std::vector<sched::NodeSnapshot> snaps,
                                 StoreBatch& batch, std::set<std::string>& woken, std::set<std::string>& changed) {
  // One queue per run with queued experiments; the scheduler orders runs by
  // priority, then dominant resource fairness, and applies max_parallel.
  std::vector<sched::RunQueue> runs;
  std::vector<std::pair<Run*, Experiment*>> keys;
  for (auto& run : runs_) {
    if (ClusterOf(run->spec) != cluster) continue;
    sched::RunQueue q;
    for (auto& e : run->experiments) {
      if (e.state == ExperimentState::kStarting || e.state == ExperimentState::kRunning) ++q.active;
      if (e.state != ExperimentState::kQueued) continue;
      q.queued.push_back({keys.size(), run->spec.resources, run->spec.nodes});
      keys.emplace_back(run.get(), &e);
    }
    if (q.queued.empty()) continue;
    q.run = run->name;
    q.priority = run->spec.priority;
    q.submitted_at_ms = run->created_at_ms;
    q.max_parallel = run->spec.max_parallel;
    runs.push_back(std::move(q));
  }
  if (runs.empty()) return;
  if (std::string why; ClusterOverBudget(cluster, /*starting=*/true, &why)) {
    for (auto [run, e] : keys) {
      if (e->reason == "waiting: " + why) continue;
      e->reason = "waiting: " + why;  // shown, not stored, like the scheduler's own reasons
      changed.insert(run->name);
    }
    return;
  }
  sched::Decision d = sched::Place(std::move(snaps), runs);
  std::map<const Run*, Horizon> horizons;  // of the runs with --max-cost, found once per pass
  for (const auto& p : d.placed) {
    auto [run, e] = keys[p.key];
    // What each node's share costs (a one-node attempt: its one node).
    std::vector<double> rates;
    if (p.shares.size() > 1) {
      for (const auto& share : p.shares) rates.push_back(RateOn(*run, share.node, static_cast<int>(share.gpus.size())));
    } else {
      rates.push_back(RateOn(*run, p.node, static_cast<int>(p.gpus.size())));
    }
    const double rate = std::accumulate(rates.begin(), rates.end(), 0.0);
    if (run->spec.max_cost > 0 && !horizons.count(run)) horizons[run] = ExpectedDuration(*run);
    if (std::string why; run->spec.max_cost > 0 && !BudgetAllowsStart(*run, horizons[run], rate, &why)) {
      e->state = ExperimentState::kCancelled;
      e->cancel_requested = true;
      e->reason = "not started: " + why;
      batch.experiments.emplace_back(run->name, *e);
      changed.insert(run->name);
      continue;
    }
    Attempt a;
    a.id = next_attempt_id_++;
    a.run = run->name;
    a.experiment = e->index;
    a.number = e->attempts + 1;
    a.node = p.node;
    a.state = AttemptState::kStarting;
    a.started_at_ms = clock_.NowMs();
    a.nnodes = static_cast<int>(p.shares.size());
    std::string where = p.node;
    if (a.nnodes > 1) {  // a head and one part per node, in rank order
      where.clear();
      for (size_t r = 0; r < p.shares.size(); ++r) {
        Attempt part = a;
        part.id = next_attempt_id_++;
        part.node = p.shares[r].node;
        part.gpu_indices = p.shares[r].gpus;
        part.gang = a.id;
        part.node_rank = static_cast<int>(r);
        part.rate_per_hour = rates[r];
        where += (where.empty() ? "" : ", ") + part.node;
        batch.attempts.push_back(part);
        gang_parts_[a.id].push_back(part.id);
        active_.insert(part.id);
        woken.insert(part.node);
        attempts_[part.id] = std::move(part);
      }
    } else {
      a.gpu_indices = p.gpus;
      a.rate_per_hour = rate;
      woken.insert(p.node);
    }
    e->attempts += 1;
    e->state = ExperimentState::kStarting;
    e->node = p.node;
    e->current_attempt = a.id;
    e->exit_code.reset();
    e->reason = "starting on " + where;
    batch.attempts.push_back(a);
    batch.experiments.emplace_back(run->name, *e);
    attempts_by_exp_[{a.run, a.experiment}].push_back(a.id);
    active_.insert(a.id);
    attempts_[a.id] = std::move(a);
    changed.insert(run->name);
  }
  for (const auto& [key, why_waiting] : d.waiting) {
    auto [run, e] = keys[key];
    // Keep saying why a requeued experiment is queued again.
    std::string why = why_waiting;
    auto note = waiting_notes_.find({cluster, ShapeKey(run->spec.resources, run->spec.nodes)});
    if (note != waiting_notes_.end() && why.find("max_parallel") == std::string::npos) why = note->second;
    // (attempts, not restarts: a requeue before the attempt started uses none)
    if (e->attempts > 0 && e->reason.rfind("requeued", 0) == 0) why += "; " + e->reason;
    else if (e->attempts > 0 && e->reason.find("; requeued") != std::string::npos)
      why += e->reason.substr(e->reason.find("; requeued"));
    if (e->reason == why) continue;
    e->reason = why;
    changed.insert(run->name);  // the reason is shown, not stored
  }
}

}  // namespace lattice
