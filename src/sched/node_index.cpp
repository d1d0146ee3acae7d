#include "sched/node_index.h"

#include <algorithm>

namespace lattice::sched {

NodeIndex::NodeIndex(std::vector<NodeSnapshot> nodes) : nodes_(std::move(nodes)) {
  size_t most = 0;
  for (const auto& n : nodes_) most = std::max(most, n.free_gpus.size());
  by_free_gpus_.resize(most + 1);
  for (size_t pos = 0; pos < nodes_.size(); ++pos) Insert(pos);
}

void NodeIndex::Insert(size_t pos) {
  const NodeSnapshot& n = nodes_[pos];
  by_free_gpus_[n.free_gpus.size()].insert(Entry{n.free_cpus, pos});
}

void NodeIndex::Erase(size_t pos) {
  const NodeSnapshot& n = nodes_[pos];
  by_free_gpus_[n.free_gpus.size()].erase(Entry{n.free_cpus, pos});
}

template <typename Visit>
void NodeIndex::Walk(const Resources& ask, Visit visit) const {
  if (ask.gpus < 0) return;
  // Entries at or after this key have free_cpus + epsilon >= ask.cpus.
  const Entry from{ask.cpus - kCpuEpsilon, 0};
  for (size_t g = static_cast<size_t>(ask.gpus); g < by_free_gpus_.size(); ++g) {
    const auto& bucket = by_free_gpus_[g];
    // Memory is not in the key: walk past nodes short of it. Memory is rarely
    // the scarce resource on GPU nodes, so the walk is short in practice.
    for (auto it = bucket.lower_bound(from); it != bucket.end(); ++it) {
      if (nodes_[it->pos].free_memory >= ask.memory_bytes && !visit(it->pos)) return;
    }
  }
}

std::optional<size_t> NodeIndex::BestFit(const Resources& ask) const {
  std::optional<size_t> best;
  Walk(ask, [&](size_t pos) {
    best = pos;
    return false;
  });
  return best;
}

std::vector<size_t> NodeIndex::BestFits(const Resources& ask, size_t n) const {
  std::vector<size_t> out;
  if (n == 0) return out;
  out.reserve(std::min(n, nodes_.size()));
  Walk(ask, [&](size_t pos) {
    out.push_back(pos);
    return out.size() < n;
  });
  if (out.size() < n) out.clear();
  return out;
}

size_t NodeIndex::CountFit(const Resources& ask, size_t limit) const {
  size_t count = 0;
  if (limit == 0) return 0;
  Walk(ask, [&](size_t) { return ++count < limit; });
  return count;
}

std::vector<int> NodeIndex::Take(size_t pos, const Resources& ask) {
  Erase(pos);
  NodeSnapshot& n = nodes_[pos];
  const auto count = static_cast<std::ptrdiff_t>(ask.gpus);
  std::vector<int> gpus(n.free_gpus.begin(), n.free_gpus.begin() + count);
  n.free_gpus.erase(n.free_gpus.begin(), n.free_gpus.begin() + count);
  n.free_cpus -= ask.cpus;
  n.free_memory -= ask.memory_bytes;
  Insert(pos);
  return gpus;
}

Resources NodeIndex::Totals() const {
  Resources t{0, 0, 0};
  for (const auto& n : nodes_) {
    t.cpus += n.total.cpus;
    t.memory_bytes += n.total.memory_bytes;
    t.gpus += n.total.gpus;
  }
  return t;
}

FreeMaxima NodeIndex::Maxima() const {
  FreeMaxima m;
  m.nodes = nodes_.size();
  for (const auto& n : nodes_) {
    m.gpus = std::max(m.gpus, n.free_gpus.size());
    m.cpus = std::max(m.cpus, n.free_cpus);
    m.memory = std::max(m.memory, n.free_memory);
  }
  return m;
}

}  // namespace lattice::sched
