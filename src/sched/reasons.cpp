#include "sched/reasons.h"

#include <algorithm>
#include <cstdio>

#include "common/units.h"

namespace lattice::sched {
namespace {

// "32", "0.5", "2.25": not std::to_string's "32.000000".
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string WaitingReason(const FreeMaxima& free, const Resources& ask) {
  if (free.nodes == 0) return "waiting: no nodes are connected";
  const std::string on = " on " + std::to_string(free.nodes) + (free.nodes == 1 ? " node" : " nodes");
  if (free.gpus < static_cast<size_t>(std::max(0, ask.gpus)))
    return "waiting: " + std::to_string(free.gpus) + " of " + std::to_string(ask.gpus) +
           (ask.gpus == 1 ? " GPU free" : " GPUs free") + on;
  if (free.cpus + kCpuEpsilon < ask.cpus) return "waiting: " + Num(free.cpus) + " of " + Num(ask.cpus) + " CPUs free" + on;
  if (free.memory < ask.memory_bytes)
    return "waiting: " + HumanBytes(free.memory) + " of " + HumanBytes(ask.memory_bytes) + " memory free" + on;
  return "waiting: no single node has all of it free" + on;
}

std::string MaxParallelReason(int max_parallel) {
  return "waiting: the run already has max_parallel " + std::to_string(max_parallel) + " active";
}

std::optional<std::string> InfeasibleReason(const std::vector<NodeSnapshot>& nodes, const Resources& ask) {
  if (nodes.empty()) return std::nullopt;  // nodes may still join
  int max_gpus = 0;
  double max_cpus = 0;
  uint64_t max_mem = 0;
  for (const auto& n : nodes) {
    if (n.total.gpus >= ask.gpus && n.total.cpus + kCpuEpsilon >= ask.cpus && n.total.memory_bytes >= ask.memory_bytes)
      return std::nullopt;
    max_gpus = std::max(max_gpus, n.total.gpus);
    max_cpus = std::max(max_cpus, n.total.cpus);
    max_mem = std::max(max_mem, n.total.memory_bytes);
  }
  if (ask.gpus > max_gpus)
    return "asks for " + std::to_string(ask.gpus) + " GPUs; the largest node has " + std::to_string(max_gpus);
  if (ask.cpus > max_cpus + kCpuEpsilon) return "asks for " + Num(ask.cpus) + " CPUs; the largest node has " + Num(max_cpus);
  if (ask.memory_bytes > max_mem)
    return "asks for " + HumanBytes(ask.memory_bytes) + " of memory; the largest node has " + HumanBytes(max_mem);
  return "no single node has all of " + std::to_string(ask.gpus) + " GPUs, " + Num(ask.cpus) + " CPUs and " +
         HumanBytes(ask.memory_bytes) + " together";
}

}  // namespace lattice::sched
