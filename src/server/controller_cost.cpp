// What runs cost and the limits that follow from it (docs/cost.md): spend
// per run, experiment, user and cluster; --max-cost, the clusters' monthly
// budgets and --max-duration. See controller.h.
#include <algorithm>

#include "common/log.h"
#include "common/units.h"
#include "model/cost.h"
#include "server/controller.h"

namespace lattice {
namespace {

constexpr double kMsPerHour = 3'600'000.0;
constexpr int64_t kDefaultGraceMs = 30'000;  // the agent's default --grace

int64_t GraceMs(const RunSpec& spec) { return spec.grace_ms >= 0 ? spec.grace_ms : kDefaultGraceMs; }

void Add(Controller::Spend& to, const Attempt& a, int64_t now, int64_t since) {
  const double hours = AttemptHours(a, now, since);
  if (hours <= 0 && IsTerminal(a.state)) return;
  to.cost += a.rate_per_hour * hours;
  to.gpu_hours += hours * static_cast<double>(a.gpu_indices.size());
  if (!IsTerminal(a.state)) to.rate_per_hour += a.rate_per_hour;
  if (!a.IsGangHead()) ++to.attempts;
}

}  // namespace

template <typename F>
void Controller::ForEachAttemptOf(const Run& run, F&& f) const {
  for (const auto& e : run.experiments) {
    auto it = attempts_by_exp_.find({run.name, e.index});
    if (it == attempts_by_exp_.end()) continue;
    for (int64_t id : it->second) {
      const Attempt* a = FindAttempt(id);
      if (!a) continue;
      f(*a);
      if (!a->IsGangHead()) continue;
      if (auto parts = gang_parts_.find(id); parts != gang_parts_.end())
        for (int64_t p : parts->second)
          if (const Attempt* part = FindAttempt(p)) f(*part);
    }
  }
}

Controller::Spend Controller::RunSpend(const Run& run) const {
  Spend s;
  const int64_t now = clock_.NowMs();
  ForEachAttemptOf(run, [&](const Attempt& a) { Add(s, a, now, 0); });
  return s;
}

std::map<int, Controller::Spend> Controller::ExperimentSpend(const Run& run, int64_t since_ms) const {
  std::map<int, Spend> out;
  const int64_t now = clock_.NowMs();
  for (const auto& e : run.experiments) out[e.index];
  ForEachAttemptOf(run, [&](const Attempt& a) { Add(out[a.experiment], a, now, since_ms); });
  return out;
}

std::map<std::string, Controller::Spend> Controller::SpendBy(const std::string& by, int64_t since_ms) const {
  std::map<std::string, Spend> out;
  const int64_t now = clock_.NowMs();
  for (const auto& run : runs_) {
    const std::string& key = by == "user" ? run->spec.user : by == "cluster" ? ClusterOf(run->spec) : run->name;
    Spend s;
    ForEachAttemptOf(*run, [&](const Attempt& a) { Add(s, a, now, since_ms); });
    if (s.attempts == 0) continue;  // nothing of it ran in the window
    out[key] += s;
  }
  return out;
}

Controller::Spend Controller::ClusterMonthSpend(const std::string& cluster) const {
  Spend s;
  const int64_t now = clock_.NowMs();
  const int64_t month = MonthStartMs(now);
  for (const auto& run : runs_)
    if (ClusterOf(run->spec) == cluster) ForEachAttemptOf(*run, [&](const Attempt& a) { Add(s, a, now, month); });
  return s;
}

std::string Controller::CurrentMonth() const { return MonthName(clock_.NowMs()); }

DurationSummary Controller::SucceededDurations(const std::string& script) const {
  std::vector<int64_t> out;
  for (const auto& run : runs_) {
    if (run->spec.script != script) continue;
    for (const auto& e : run->experiments) {
      const Attempt* a = e.current_attempt ? FindAttempt(e.current_attempt) : nullptr;
      if (e.state == ExperimentState::kSucceeded && a && a->ended_at_ms > a->started_at_ms && a->started_at_ms > 0)
        out.push_back(a->ended_at_ms - a->started_at_ms);
    }
  }
  return SummarizeDurations(std::move(out));
}

double Controller::RateOn(const Run& run, const std::string& node_id, int gpus_held) const {
  const Cluster* cluster = FindCluster(ClusterOf(run.spec));
  const Node* node = FindNode(node_id);
  if (!cluster || !node || cluster->price_per_node_hour <= 0) return 0;
  return cluster->price_per_node_hour * NodeShare(run.spec.resources.cpus, gpus_held, *node);
}

Controller::Horizon Controller::ExpectedDuration(const Run& run) const {
  if (run.spec.max_duration_ms > 0)
    return {run.spec.max_duration_ms, "until --max-duration " + HumanDuration(run.spec.max_duration_ms)};
  const DurationSummary d = SucceededDurations(run.spec.script);
  if (d.count == 0) return {};
  const int64_t median = std::max<int64_t>(1000, d.median_ms / 1000 * 1000);
  return {median, "for " + HumanDuration(median) + " each, the median of " + std::to_string(d.count) +
                      " earlier experiments of " + run.spec.script};
}

bool Controller::BudgetAllowsStart(const Run& run, const Horizon& horizon, double rate_per_hour,
                                   std::string* why) const {
  const RunSpec& spec = run.spec;
  if (spec.max_cost <= 0) return true;
  // One walk: what the run spent, and what runs now (this pass's placements
  // included) will still cost until the horizon.
  Spend spent;
  double still = 0;
  const int64_t now = clock_.NowMs();
  ForEachAttemptOf(run, [&](const Attempt& a) {
    Add(spent, a, now, 0);
    if (horizon.ms <= 0 || IsTerminal(a.state) || a.started_at_ms <= 0) return;
    const int64_t left = std::max<int64_t>(0, a.started_at_ms + horizon.ms - now);
    still += a.rate_per_hour * static_cast<double>(left) / kMsPerHour;
  });
  // ... and the new experiment's whole horizon.
  const double projected = spent.cost + still + rate_per_hour * static_cast<double>(horizon.ms) / kMsPerHour;
  if (projected <= spec.max_cost && spent.cost < spec.max_cost) return true;
  *why = horizon.ms > 0
             ? "starting it would pass the run's --max-cost " + FormatMoney(spec.max_cost) + " (spent " +
                   FormatMoney(spent.cost) + ", " + FormatMoney(projected) + " with what runs " + horizon.basis + ")"
             : "the run's cost " + FormatMoney(spent.cost) + " reached its --max-cost " + FormatMoney(spec.max_cost);
  return false;
}

bool Controller::ClusterOverBudget(const std::string& name, bool starting, std::string* why) const {
  const Cluster* cluster = FindCluster(name);
  if (!cluster || cluster->monthly_budget <= 0) return false;
  const Spend s = ClusterMonthSpend(name);
  // Starting one more: at most a whole node more through its grace period,
  // else it would be stopped as soon as it started.
  const double rate = s.rate_per_hour + (starting ? cluster->price_per_node_hour : 0);
  if (s.cost + rate * kDefaultGraceMs / kMsPerHour < cluster->monthly_budget) return false;
  *why = "cluster " + name + " spent " + FormatMoney(s.cost) + " of its " + FormatMoney(cluster->monthly_budget) +
         " budget for " + MonthName(clock_.NowMs()) + " (lattice cluster set " + name +
         " --monthly-budget N raises it)";
  return true;
}

void Controller::EnforceLimits() {
  const int64_t now = clock_.NowMs();
  // (run, experiment or all, why), applied after the walk: Cancel changes experiments.
  std::vector<std::tuple<std::string, std::optional<int>, std::string>> stops;
  for (const auto& run : runs_) {
    const RunSpec& spec = run->spec;
    if (spec.max_duration_ms <= 0 && spec.max_cost <= 0) continue;
    bool open = false;
    for (const auto& e : run->experiments) {
      if (IsTerminal(e.state) || e.cancel_requested) continue;
      open = true;
      const Attempt* a = e.current_attempt ? FindAttempt(e.current_attempt) : nullptr;
      if (spec.max_duration_ms > 0 && a && !IsTerminal(a->state) && e.state != ExperimentState::kQueued &&
          now - a->started_at_ms >= spec.max_duration_ms)
        stops.emplace_back(run->name, e.index, "it ran longer than its --max-duration " +
                                                   HumanDuration(spec.max_duration_ms));
    }
    if (!open || spec.max_cost <= 0) continue;
    // Stopped while the grace period's cost still fits: the script gets
    // SIGTERM and its grace to write a checkpoint before the money runs out.
    const Spend s = RunSpend(*run);
    const int64_t grace_ms = GraceMs(spec);
    if (s.rate_per_hour > 0 && s.cost + s.rate_per_hour * static_cast<double>(grace_ms) / kMsPerHour >= spec.max_cost)
      stops.emplace_back(run->name, std::nullopt,
                         "the run's cost " + FormatMoney(s.cost) + " would pass its --max-cost " +
                             FormatMoney(spec.max_cost) + " within the " + HumanDuration(grace_ms) + " grace period");
  }
  for (const auto& [name, cluster] : clusters_) {
    std::string why;
    if (!ClusterOverBudget(name, /*starting=*/false, &why)) continue;
    for (const auto& run : runs_) {
      if (ClusterOf(run->spec) != name) continue;
      for (const auto& e : run->experiments)
        if (!IsTerminal(e.state) && e.state != ExperimentState::kQueued && !e.cancel_requested)
          stops.emplace_back(run->name, e.index, why);
    }
  }
  for (const auto& [run, exp, why] : stops) {
    LOG_INFO("controller", "stopping " << run << (exp ? "/" + std::to_string(*exp) : "") << ": " << why);
    if (Status st = Cancel(run, exp, why); !st.ok())
      LOG_WARN("controller", "could not stop " << run << ": " << st.error().message);
  }
}

}  // namespace lattice
