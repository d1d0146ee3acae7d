#include "cluster/slurm_backend.h"

#include <filesystem>
#include <set>

#include "cluster/slurm_plan.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/subprocess.h"

namespace lattice {
namespace {
constexpr const char* kLog = "slurm";
constexpr int64_t kRetryMs = 5000;  // after a failed sbatch, per shape

std::string ScriptName(const std::string& shape_key) {
  // The shape key has characters a file name should not; its hash does not.
  return "pilot-" + std::to_string(std::hash<std::string>{}(shape_key) % 1'000'000'007ULL) + ".sh";
}
}  // namespace

Result<std::string> SlurmBackend::Slurm(const std::vector<std::string>& argv, std::string* failure) {
  CommandSpec spec;
  spec.argv = argv;
  spec.timeout_ms = 60'000;  // slurmctld's MessageTimeout and retries can take a while
  auto r = RunCommand(spec);
  if (!r.ok()) {
    *failure = argv[0] + " could not run: " + r.error().message + " (command: " + ShellJoin(argv) + ")";
    return r.error();
  }
  if (!r->ok()) {
    *failure = argv[0] + " failed: " + r->Why() + " (command: " + ShellJoin(argv) + ")";
    return Error(ErrorCode::kUnavailable, *failure);
  }
  return r->out;
}

BackendReport SlurmBackend::Step(const BackendInput& in) {
  BackendReport report;
  // Nothing asked for, nothing held: no need to ask Slurm (a cluster may be
  // created before Slurm's commands work on this machine).
  if (in.demand.shapes.empty() && in.demand.nodes.empty() && last_tasks_.empty()) {
    report.status = Json{{"allocations", Json::array()}, {"job_name", paths_.job_name}};
    return report;
  }
  std::string failure;
  auto listed = Slurm(SqueueArgv(paths_), &failure);
  auto tasks = listed.ok() ? ParseSqueue(*listed) : Result<std::vector<SlurmTask>>(listed.error());
  if (!tasks.ok()) {
    // Nothing is submitted while Slurm cannot say what it holds: the runs
    // stay queued, saying why, and go on when it answers again.
    if (failure.empty()) failure = tasks.error().message;
    for (const auto& s : in.demand.shapes) report.notes[s.key] = "waiting: Slurm does not answer: " + failure;
    report.status = Json{{"error", failure}};
    return report;
  }
  last_tasks_ = *tasks;
  for (const auto& n : in.demand.nodes) {
    if (n.busy) idle_since_.erase(n.id);
    else idle_since_.emplace(n.id, in.now_ms);
  }
  std::erase_if(idle_since_, [&](const auto& kv) {
    return std::none_of(in.demand.nodes.begin(), in.demand.nodes.end(), [&](const auto& n) { return n.id == kv.first; });
  });

  if (in.now_ms - last_cleanup_ms_ > 60'000) {
    last_cleanup_ms_ = in.now_ms;
    RemoveEndedPilotHomes(in.demand);
  }

  SlurmPlanInput plan_in;
  plan_in.demand = &in.demand;
  plan_in.tasks = *tasks;
  plan_in.max_nodes = in.cluster.max_nodes;
  plan_in.idle_since = &idle_since_;
  plan_in.now_ms = in.now_ms;
  SlurmPlan plan = PlanSlurm(plan_in);
  report.notes = plan.notes;

  if (!plan.cancel.empty()) {
    std::vector<std::string> argv = {"scancel"};
    argv.insert(argv.end(), plan.cancel.begin(), plan.cancel.end());
    if (Slurm(argv, &failure).ok()) LOG_INFO(kLog, "released " << ShellJoin(plan.cancel) << " (no work for them)");
    else LOG_WARN(kLog, failure);
  }
  for (const auto& submit : plan.submit) {
    const std::string& key = submit.shape.key;
    if (auto r = retry_after_.find(key); r != retry_after_.end() && in.now_ms < r->second) {
      report.notes[key] = "waiting: " + submit_error_[key];
      continue;
    }
    std::string script = paths_.state_dir + "/" + ScriptName(key);
    Status wrote = fs::WriteFileAtomic(script, PilotScript(in.cluster, submit.shape, paths_), 0700);
    auto argv = SbatchArgv(in.cluster, submit.shape, submit.count, paths_, script);
    auto out = wrote.ok() ? Slurm(argv, &failure) : Result<std::string>(wrote.error());
    auto job = out.ok() ? ParseSbatchJobId(*out) : Result<std::string>(out.error());
    if (!job.ok()) {
      if (failure.empty()) failure = job.error().message;
      LOG_WARN(kLog, failure);
      submit_error_[key] = failure;
      retry_after_[key] = in.now_ms + kRetryMs;
      report.notes[key] = "waiting: " + failure;
      continue;
    }
    retry_after_.erase(key);
    submit_error_.erase(key);
    LOG_INFO(kLog, "submitted Slurm job " << *job << ": " << submit.count << " pilot(s) of " << key);
    report.notes[key] = "waiting for Slurm job " + *job + " (just submitted)";
  }

  Json allocations = Json::array();
  for (const auto& t : last_tasks_)
    allocations.push_back(Json{{"id", t.id}, {"job_id", t.job_id}, {"state", t.state}, {"reason", t.reason},
                               {"shape", t.shape}, {"nodes", t.nodes}});
  report.status = Json{{"allocations", allocations}, {"job_name", paths_.job_name}};
  return report;
}

void SlurmBackend::RemoveEndedPilotHomes(const ClusterDemand& demand) {
  // A pilot's home is "<node>-<job id>" (its agent's node id): its attempts'
  // workspaces. Once its job is gone from squeue and its node from the
  // server, nothing reads it again. Generous age: a job that just ended may
  // still be uploading through a slow server.
  std::set<std::string> alive;
  for (const auto& t : last_tasks_) alive.insert(t.job_id);
  for (const auto& n : demand.nodes) alive.insert(n.id.substr(n.id.rfind('-') + 1));
  std::error_code ec;
  const auto cutoff = std::filesystem::file_time_type::clock::now() - std::chrono::minutes(10);
  for (const auto& entry : std::filesystem::directory_iterator(paths_.state_dir + "/agents", ec)) {
    const std::string name = entry.path().filename().string();
    const size_t dash = name.rfind('-');
    if (dash == std::string::npos || entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
    const std::string job = name.substr(dash + 1);
    if (job.empty() || job.find_first_not_of("0123456789") != std::string::npos || alive.count(job)) continue;
    if (std::filesystem::last_write_time(entry.path(), ec) > cutoff || ec) continue;
    std::filesystem::remove_all(entry.path(), ec);  // symlinks to the node's caches go, not what they point to
    if (!ec) LOG_INFO(kLog, "removed the home of ended pilot " << name);
  }
}

void SlurmBackend::Shutdown(bool deleted) {
  if (!deleted) return;  // the allocations' agents reconnect to the next server
  std::string failure;
  if (!Slurm({"scancel", "--me", "--name=" + paths_.job_name}, &failure).ok()) LOG_WARN(kLog, failure);
}

}  // namespace lattice
