// Builders and lookups shared by the scheduler's tests (header only, so the
// layer library carries no test code).
#pragma once

#include <random>
#include <string>
#include <vector>

#include "sched/placement.h"

namespace lattice::sched::testing {

constexpr uint64_t kGi = 1ull << 30;

// A node offering gpus GPUs (indices 0..gpus-1), all free.
inline NodeSnapshot Node(const std::string& id, int gpus, double cpus = 32, uint64_t mem = 256 * kGi) {
  NodeSnapshot n;
  n.id = id;
  n.total = Resources{cpus, mem, gpus};
  n.free_cpus = cpus;
  n.free_memory = mem;
  for (int i = 0; i < gpus; ++i) n.free_gpus.push_back(i);
  return n;
}

// Between 0 and max_nodes nodes named n0, n1, ... of random size, some of
// their CPUs, memory and GPUs already taken: the clusters of the property
// tests.
inline std::vector<NodeSnapshot> RandomNodes(std::mt19937& rng, int max_nodes) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<NodeSnapshot> out;
  const int nodes = pick(0, max_nodes);
  for (int i = 0; i < nodes; ++i) {
    NodeSnapshot n;
    n.id = "n" + std::to_string(i);
    const int gpus = pick(0, 8);
    n.total = Resources{static_cast<double>(pick(1, 64)) / 2, static_cast<uint64_t>(pick(0, 64)) * kGi, gpus};
    n.free_cpus = n.total.cpus * pick(0, 4) / 4;
    n.free_memory = n.total.memory_bytes / static_cast<uint64_t>(pick(1, 3));
    for (int g = 0; g < gpus; ++g)
      if (pick(0, 3) != 0) n.free_gpus.push_back(g);  // some GPUs already busy
    out.push_back(std::move(n));
  }
  return out;
}

// The placement of key, or nullptr when it was not placed.
inline const Placement* Find(const Decision& d, size_t key) {
  for (const auto& p : d.placed)
    if (p.key == key) return &p;
  return nullptr;
}

// Why key waits, or "" when it does not.
inline std::string WaitingReason(const Decision& d, size_t key) {
  for (const auto& [k, why] : d.waiting)
    if (k == key) return why;
  return "";
}

}  // namespace lattice::sched::testing
