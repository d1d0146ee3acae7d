// Builders and lookups shared by the scheduler's tests (header only, so the
// layer library carries no test code).
#pragma once

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
