#include "cluster/slurm_plan.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace lattice {
namespace {

struct TaskView {
  const SlurmTask* task;
  int registered = 0;  // agents of it that the server knows
  bool busy = false;
  bool stopping = false;
  int64_t idle_since = -1;  // the latest time one of its agents became idle; -1: not idle
};

std::string Describe(const std::vector<const SlurmTask*>& tasks) {
  std::string ids = tasks.front()->id;
  if (tasks.size() > 1) ids += " and " + std::to_string(tasks.size() - 1) + " more";
  return ids;
}

// The node count of a shape key ("2x{cpus=...}", see ShapeKey), for tasks of a
// shape no queued experiment has any more; 1 if the key is not of that form
// (squeue's comment field is anyone's to set) or past a run's 1024 nodes.
int NodesOfKey(const std::string& key) {
  int n = 0;
  const char* end = key.data() + key.size();
  auto [p, ec] = std::from_chars(key.data(), end, n);
  return ec == std::errc() && n > 0 && n <= 1024 && p != end && *p == 'x' ? n : 1;
}

}  // namespace

SlurmPlan PlanSlurm(const SlurmPlanInput& in) {
  SlurmPlan plan;
  const ClusterDemand& demand = *in.demand;
  std::map<std::string, TaskView> by_job;  // running tasks by job id
  std::vector<TaskView> views;
  views.reserve(in.tasks.size());
  for (const auto& t : in.tasks) views.push_back(TaskView{&t});
  for (auto& v : views)
    if (v.task->Running()) by_job.emplace(AllocationOfJob(v.task->job_id), v);
  for (const auto& n : demand.nodes) {
    auto it = by_job.find(n.allocation);
    if (it == by_job.end()) continue;
    TaskView& v = it->second;
    ++v.registered;
    v.busy = v.busy || n.busy;
    v.stopping = v.stopping || n.stopping;
    if (!n.busy && in.idle_since) {
      auto s = in.idle_since->find(n.id);
      v.idle_since = std::max(v.idle_since, s == in.idle_since->end() ? in.now_ms : s->second);
    }
  }
  for (auto& v : views)
    if (v.task->Running()) v = by_job.at(AllocationOfJob(v.task->job_id));

  std::map<std::string, const DemandShape*> shapes;
  for (const auto& s : demand.shapes) shapes[s.key] = &s;
  std::map<std::string, int> nodes_per_shape;
  for (const auto& s : demand.shapes) nodes_per_shape[s.key] = s.nodes;

  int held_nodes = 0;  // nodes of pending and running tasks, against max_nodes
  std::map<std::string, std::vector<const TaskView*>> pending, starting, idle;
  for (const auto& v : views) {
    const SlurmTask& t = *v.task;
    if (!t.Pending() && !t.Running()) continue;
    auto per = nodes_per_shape.find(t.shape);
    held_nodes += per == nodes_per_shape.end() ? NodesOfKey(t.shape) : per->second;
    if (t.Pending()) pending[t.shape].push_back(&v);
    else if (v.registered == 0) starting[t.shape].push_back(&v);
    else if (!v.busy && !v.stopping) idle[t.shape].push_back(&v);
  }

  std::set<std::string> all_shapes;
  for (const auto& s : demand.shapes) all_shapes.insert(s.key);
  for (const auto* group : {&pending, &starting, &idle})
    for (const auto& [key, list] : *group) all_shapes.insert(key);

  for (const auto& key : all_shapes) {
    auto sit = shapes.find(key);
    const int queued = sit == shapes.end() ? 0 : sit->second->queued;
    auto& p = pending[key];
    auto& st = starting[key];
    auto& id = idle[key];
    const int supply = static_cast<int>(p.size() + st.size() + id.size());
    if (queued > supply) {
      const DemandShape& shape = *sit->second;
      int count = std::min(queued - supply, in.max_array);
      if (in.max_nodes > 0) count = std::min(count, std::max(0, (in.max_nodes - held_nodes) / shape.nodes));
      if (count > 0) {
        plan.submit.push_back(SlurmSubmit{shape, count});
        held_nodes += count * shape.nodes;
      } else if (p.empty() && st.empty()) {
        plan.notes[key] = "waiting: the cluster's max_nodes (" + std::to_string(in.max_nodes) +
                          ") are all held by its other allocations";
      }
    } else if (queued < supply) {
      int surplus = supply - queued;
      // Pending ones first, newest first: they hold nothing yet.
      for (auto it = p.rbegin(); it != p.rend() && surplus > 0; ++it, --surplus) plan.cancel.push_back((*it)->task->id);
      for (const TaskView* v : id) {
        if (surplus == 0) break;
        if (in.now_ms - v->idle_since < in.linger_ms) continue;
        plan.cancel.push_back(v->task->id);
        --surplus;
      }
    }
    if (queued == 0 || !id.empty()) continue;  // idle agents: the scheduler places there now
    std::vector<const SlurmTask*> waiting_for;
    for (const TaskView* v : st) waiting_for.push_back(v->task);
    if (!waiting_for.empty()) {
      plan.notes[key] = "waiting for the agent of Slurm job " + Describe(waiting_for) + " on " +
                        waiting_for.front()->nodes + " to start";
      continue;
    }
    for (const TaskView* v : p) waiting_for.push_back(v->task);
    if (!waiting_for.empty())
      plan.notes[key] = "waiting for Slurm job " + Describe(waiting_for) + " (pending: " +
                        waiting_for.front()->reason + ")";
  }
  return plan;
}

}  // namespace lattice
