#include "sched/placement.h"

#include <algorithm>

#include "common/units.h"

namespace lattice::sched {
namespace {

bool Fits(const NodeSnapshot& n, const Resources& ask) {
  return n.free_cpus + 1e-9 >= ask.cpus && n.free_memory >= ask.memory_bytes &&
         n.free_gpus.size() >= static_cast<size_t>(ask.gpus);
}

std::string WaitingReason(const std::vector<NodeSnapshot>& nodes, const Resources& ask) {
  if (nodes.empty()) return "waiting: no nodes are connected";
  size_t best_gpus = 0;
  double best_cpus = 0;
  uint64_t best_mem = 0;
  for (const auto& n : nodes) {
    best_gpus = std::max(best_gpus, n.free_gpus.size());
    best_cpus = std::max(best_cpus, n.free_cpus);
    best_mem = std::max(best_mem, n.free_memory);
  }
  std::string on = " on " + std::to_string(nodes.size()) + (nodes.size() == 1 ? " node" : " nodes");
  if (best_gpus < static_cast<size_t>(ask.gpus))
    return "waiting: " + std::to_string(best_gpus) + " of " + std::to_string(ask.gpus) +
           (ask.gpus == 1 ? " GPU free" : " GPUs free") + on;
  if (best_cpus + 1e-9 < ask.cpus) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "waiting: %g of %g CPUs free", best_cpus, ask.cpus);
    return buf + on;
  }
  if (best_mem < ask.memory_bytes)
    return "waiting: " + HumanBytes(best_mem) + " of " + HumanBytes(ask.memory_bytes) + " memory free" + on;
  return "waiting: no single node has all of it free" + on;
}

}  // namespace

Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<Request>& queue) {
  Decision d;
  for (const Request& r : queue) {
    NodeSnapshot* best = nullptr;
    for (auto& n : nodes) {
      if (!Fits(n, r.ask)) continue;
      if (!best || n.free_gpus.size() < best->free_gpus.size() ||
          (n.free_gpus.size() == best->free_gpus.size() && n.free_cpus < best->free_cpus)) {
        best = &n;
      }
    }
    if (!best) {
      d.waiting.emplace_back(r.key, WaitingReason(nodes, r.ask));
      continue;
    }
    Placement p{r.key, best->id, {}};
    p.gpus.assign(best->free_gpus.begin(), best->free_gpus.begin() + r.ask.gpus);
    best->free_gpus.erase(best->free_gpus.begin(), best->free_gpus.begin() + r.ask.gpus);
    best->free_cpus -= r.ask.cpus;
    best->free_memory -= r.ask.memory_bytes;
    d.placed.push_back(std::move(p));
  }
  return d;
}

std::optional<std::string> Infeasible(const std::vector<NodeSnapshot>& nodes, const Resources& ask) {
  if (nodes.empty()) return std::nullopt;  // nodes may still join
  int max_gpus = 0;
  double max_cpus = 0;
  uint64_t max_mem = 0;
  for (const auto& n : nodes) {
    if (n.total.gpus >= ask.gpus && n.total.cpus + 1e-9 >= ask.cpus && n.total.memory_bytes >= ask.memory_bytes)
      return std::nullopt;
    max_gpus = std::max(max_gpus, n.total.gpus);
    max_cpus = std::max(max_cpus, n.total.cpus);
    max_mem = std::max(max_mem, n.total.memory_bytes);
  }
  if (ask.gpus > max_gpus)
    return "asks for " + std::to_string(ask.gpus) + " GPUs; the largest node has " + std::to_string(max_gpus);
  if (ask.cpus > max_cpus + 1e-9) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "asks for %g CPUs; the largest node has %g", ask.cpus, max_cpus);
    return std::string(buf);
  }
  if (ask.memory_bytes > max_mem)
    return "asks for " + HumanBytes(ask.memory_bytes) + " of memory; the largest node has " + HumanBytes(max_mem);
  char cpus[32];
  std::snprintf(cpus, sizeof cpus, "%g", ask.cpus);  // "32", not std::to_string's "32.000000"
  return "no single node has all of " + std::to_string(ask.gpus) + " GPUs, " + cpus + " CPUs and " +
         HumanBytes(ask.memory_bytes) + " together";
}

}  // namespace lattice::sched
