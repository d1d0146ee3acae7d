#include "sched/reasons.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "common/units.h"

namespace lattice::sched {
namespace {

// "32", "0.5", "2.25": not std::to_string's "32.000000".
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string Count(size_t n, const char* one, const char* many) { return std::to_string(n) + (n == 1 ? one : many); }

// The per-node ask of a gang in words, up to the given dimension (0: GPUs,
// 1: and CPUs, 2: and memory), naming only what is asked for; adjective
// "free " for what is free now, "" for totals. "4 free GPUs and 8 free CPUs".
std::string PerNode(const Resources& ask, int upto, const std::string& adjective) {
  std::vector<std::string> parts;
  if (ask.gpus > 0) parts.push_back(std::to_string(ask.gpus) + " " + adjective + (ask.gpus == 1 ? "GPU" : "GPUs"));
  if (upto >= 1 && ask.cpus > 0) parts.push_back(Num(ask.cpus) + " " + adjective + (ask.cpus == 1 ? "CPU" : "CPUs"));
  if (upto >= 2 && ask.memory_bytes > 0) parts.push_back(HumanBytes(ask.memory_bytes) + " of " + adjective + "memory");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " and " : ", ";
    out += parts[i];
  }
  return out;
}

// The ask cut down to the dimensions PerNode names at upto; the others ask
// for nothing (CPUs: less than any node could have, so every node passes).
Resources Upto(const Resources& ask, int upto) {
  Resources r{-std::numeric_limits<double>::infinity(), 0, ask.gpus};
  if (upto >= 1) r.cpus = ask.cpus;
  if (upto >= 2) r.memory_bytes = ask.memory_bytes;
  return r;
}

bool Asks(const Resources& ask, int dim) {
  return dim == 0 ? ask.gpus > 0 : dim == 1 ? ask.cpus > 0 : ask.memory_bytes > 0;
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

std::string GangWaitingReason(const NodeIndex& index, const Resources& ask, int nodes) {
  if (index.size() == 0) return "waiting: no nodes are connected";
  const size_t want = static_cast<size_t>(std::max(1, nodes));
  const std::string of = " (" + Count(index.size(), " node)", " nodes)");
  for (int dim = 0; dim < 3; ++dim) {
    if (!Asks(ask, dim)) continue;
    const size_t have = index.CountFit(Upto(ask, dim), want);
    if (have < want)
      return "waiting: " + std::to_string(have) + " of " + std::to_string(want) + " nodes with " +
             PerNode(ask, dim, "free ") + of;
  }
  // An ask of nothing (no GPUs, CPUs or memory) waits for nodes alone.
  // Otherwise not reached while free resources only shrink during the pass;
  // kept so a reason is never wrong.
  const bool nothing = !Asks(ask, 0) && !Asks(ask, 1) && !Asks(ask, 2);
  return "waiting: " + std::to_string(index.CountFit(ask, want)) + " of " + std::to_string(want) + " nodes " +
         (nothing ? "have room" : "have all of it free") + of;
}

std::string MaxParallelReason(int max_parallel) {
  return "waiting: the run already has max_parallel " + std::to_string(max_parallel) + " active";
}

std::optional<std::string> InfeasibleReason(const std::vector<NodeSnapshot>& nodes, const Resources& ask,
                                            int gang_nodes) {
  if (nodes.empty()) return std::nullopt;  // nodes may still join
  if (gang_nodes > 1) {
    const size_t want = static_cast<size_t>(gang_nodes);
    const std::string asks = "asks for " + std::to_string(want) + " nodes";
    // Count the nodes whose totals hold the GPUs, then also the CPUs, then
    // all of it; name the first count that falls short.
    for (int dim = 0; dim < 3; ++dim) {
      if (!Asks(ask, dim)) continue;
      const Resources need = Upto(ask, dim);
      size_t have = 0;
      for (const auto& n : nodes)
        if (n.total.gpus >= need.gpus && n.total.cpus + kCpuEpsilon >= need.cpus &&
            n.total.memory_bytes >= need.memory_bytes)
          ++have;
      if (have >= want) continue;
      const std::string what = PerNode(ask, dim, "");
      if (have == nodes.size())
        return asks + " with " + what + " each; only " + Count(have, " node is", " nodes are") + " connected";
      return asks + " with " + what + " each; " +
             (have == 0 ? "no node has " : "only " + Count(have, " node has ", " nodes have ")) + what;
    }
    if (nodes.size() < want) return asks + "; only " + Count(nodes.size(), " node is", " nodes are") + " connected";
    return std::nullopt;
  }
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
