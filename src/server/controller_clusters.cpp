// The controller's clusters: the registry (create, delete, the default),
// what a cluster's backend sees of its queue and nodes (Demand), and what it
// says back (waiting notes, nodes down). See controller.h.
#include "common/log.h"
#include "server/controller.h"

namespace lattice {

void Controller::LoadClusters(std::vector<Cluster> stored) {
  clusters_.clear();
  default_cluster_ = kLocalCluster;
  Cluster local;
  local.name = kLocalCluster;
  local.backend = "local";
  clusters_[local.name] = local;
  for (auto& c : stored) {
    if (c.is_default) default_cluster_ = c.name;
    clusters_[c.name] = std::move(c);
  }
  for (auto& [name, c] : clusters_) c.is_default = name == default_cluster_;
}

const Cluster* Controller::FindCluster(const std::string& name) const {
  auto it = clusters_.find(name);
  return it == clusters_.end() ? nullptr : &it->second;
}

const std::string& Controller::DefaultCluster() const { return default_cluster_; }

std::string Controller::ClusterNames() const {
  std::string out;
  for (const auto& [name, c] : clusters_) out += (out.empty() ? "" : ", ") + name;
  return out;
}

Result<const Cluster*> Controller::CreateCluster(Cluster cluster) {
  if (clusters_.count(cluster.name))
    return Error(ErrorCode::kAlreadyExists,
                 "a cluster named '" + cluster.name + "' already exists (lattice cluster delete removes it)", "name");
  cluster.created_at_ms = clock_.NowMs();
  StoreBatch batch;
  if (cluster.is_default) {
    // `local` too: once stored as the default (SetDefaultCluster, or its
    // default deleted), it would otherwise still be the default after a reload.
    for (auto& [name, c] : clusters_)
      if (c.is_default) batch.clusters.push_back(Cluster(c)), batch.clusters.back().is_default = false;
  }
  batch.clusters.push_back(cluster);
  LATTICE_RETURN_IF_ERROR(store_.Commit(batch));
  if (cluster.is_default) {
    for (auto& [name, c] : clusters_) c.is_default = false;
    default_cluster_ = cluster.name;
  }
  LOG_INFO("controller", "cluster " << cluster.name << " (" << cluster.backend << ") created");
  auto [it, inserted] = clusters_.emplace(cluster.name, std::move(cluster));
  return static_cast<const Cluster*>(&it->second);
}

Result<const Cluster*> Controller::UpdateCluster(Cluster updated) {
  auto it = clusters_.find(updated.name);
  if (it == clusters_.end()) return Error(ErrorCode::kNotFound, "cluster '" + updated.name + "' does not exist", "name");
  StoreBatch batch;
  batch.clusters.push_back(updated);
  LATTICE_RETURN_IF_ERROR(store_.Commit(batch));
  it->second = std::move(updated);
  LOG_INFO("controller", "cluster " << it->first << " updated: " << it->second.price_per_node_hour
                                    << " per node-hour, monthly budget " << it->second.monthly_budget);
  Schedule();  // a raised budget may let queued experiments start
  return static_cast<const Cluster*>(&it->second);
}

Status Controller::DeleteCluster(const std::string& name) {
  if (name == kLocalCluster)
    return Error(ErrorCode::kFailedPrecondition, "the cluster 'local' (this machine) cannot be deleted", "name");
  if (!clusters_.count(name)) return Error(ErrorCode::kNotFound, "cluster '" + name + "' does not exist", "name");
  for (const auto& run : runs_) {
    if (ClusterOf(run->spec) != name) continue;
    int active = 0;
    for (const auto& e : run->experiments) active += IsTerminal(e.state) ? 0 : 1;
    if (active > 0)
      return Error(ErrorCode::kFailedPrecondition,
                   "cluster '" + name + "' still has " + std::to_string(active) + " unfinished experiment(s) of run " +
                       run->name + "; cancel them first (lattice cancel " + run->name + ")",
                   "name");
  }
  StoreBatch batch;
  batch.deleted_clusters.push_back(name);
  for (auto& n : nodes_)
    if (n.cluster == name && n.state == NodeState::kReady) {
      n.state = NodeState::kLost;
      n.reason = "its cluster was deleted";
      batch.nodes.push_back(n);
    }
  if (default_cluster_ == name) {
    Cluster local = clusters_.at(kLocalCluster);
    local.is_default = true;
    batch.clusters.push_back(local);
  }
  LATTICE_RETURN_IF_ERROR(Commit(batch));
  clusters_.erase(name);
  if (default_cluster_ == name) {
    default_cluster_ = kLocalCluster;
    clusters_.at(kLocalCluster).is_default = true;
  }
  std::erase_if(waiting_notes_, [&](const auto& kv) { return kv.first.first == name; });
  LOG_INFO("controller", "cluster " << name << " deleted");
  return OkStatus();
}

Status Controller::SetDefaultCluster(const std::string& name) {
  if (!clusters_.count(name)) return Error(ErrorCode::kNotFound, "cluster '" + name + "' does not exist", "name");
  StoreBatch batch;
  for (auto& [n, c] : clusters_) {
    if (c.is_default == (n == name)) continue;
    Cluster changed = c;
    changed.is_default = n == name;
    batch.clusters.push_back(changed);
  }
  LATTICE_RETURN_IF_ERROR(store_.Commit(batch));
  for (auto& [n, c] : clusters_) c.is_default = n == name;
  default_cluster_ = name;
  return OkStatus();
}

ClusterDemand Controller::Demand(const std::string& cluster) const {
  ClusterDemand d;
  std::map<std::string, size_t> shape_index;
  for (const auto& run : runs_) {
    if (ClusterOf(run->spec) != cluster) continue;
    int queued = 0, active = 0;
    for (const auto& e : run->experiments) {
      if (e.state == ExperimentState::kQueued && !e.cancel_requested) ++queued;
      if (e.state == ExperimentState::kStarting || e.state == ExperimentState::kRunning) ++active;
    }
    d.active_experiments += active;
    // What max_parallel lets start now is all the nodes could be used for.
    if (run->spec.max_parallel > 0) queued = std::min(queued, std::max(0, run->spec.max_parallel - active));
    if (queued == 0) continue;
    std::string key = ShapeKey(run->spec.resources, run->spec.nodes);
    auto [it, added] = shape_index.emplace(key, d.shapes.size());
    if (added) d.shapes.push_back(DemandShape{key, run->spec.resources, run->spec.nodes, 0});
    d.shapes[it->second].queued += queued;
  }
  std::set<std::string> busy;
  for (int64_t id : ActiveIds()) {
    const Attempt& a = attempts_.at(id);
    if (!a.IsGangHead()) busy.insert(a.node);
  }
  for (const auto& n : nodes_) {
    if (n.cluster != cluster || n.state != NodeState::kReady) continue;
    d.nodes.push_back(ClusterNodeView{n.id, n.allocation, busy.count(n.id) > 0, draining_.count(n.id) > 0});
  }
  return d;
}

void Controller::SetWaitingNote(const std::string& cluster, const std::string& shape_key, const std::string& note) {
  auto key = std::make_pair(cluster, shape_key);
  auto it = waiting_notes_.find(key);
  if (note.empty() ? it == waiting_notes_.end() : (it != waiting_notes_.end() && it->second == note)) return;
  if (note.empty()) waiting_notes_.erase(it);
  else waiting_notes_[key] = note;
  Schedule();  // rewrites the reasons
}

Status Controller::NodeDown(const std::string& node, const std::string& why) {
  Node* n = MutableNode(node);
  if (!n) return Error(ErrorCode::kNotFound, "node " + node + " is not registered");
  StoreBatch batch;
  if (n->state == NodeState::kReady) {
    MarkNodeLost(*n, why, "node " + node + " is down: " + why, batch);
  } else if (n->reason != why) {
    n->reason = why;  // a better reason than "no word from its agent"
    batch.nodes.push_back(*n);
  }
  LATTICE_RETURN_IF_ERROR(Commit(batch));
  Schedule();
  return OkStatus();
}

}  // namespace lattice
