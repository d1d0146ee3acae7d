// NodeIndex: the free resources of every node during one scheduling pass,
// indexed for best fit. Nodes sit in buckets by free GPU count; within a
// bucket they are ordered by free CPUs, then by input position. Best fit walks
// the buckets upward from the ask's GPU count and takes, in the first bucket
// that has one, the node with the fewest free CPUs that still fit. A lookup
// costs O(distinct free GPU counts x log nodes), not O(nodes): what lets one
// pass over 100,000 requests stay fast on 10,000 nodes. A gang of N nodes
// takes the first N nodes of the same walk (BestFits), so it costs that plus
// O(N).
//
// Owns its copy of the snapshots. Not thread-safe (one pass, one thread).
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <vector>

#include "sched/placement.h"

namespace lattice::sched {

// 0.1 * 10 is not exactly 1.0 in binary; asks that sum to a node's CPUs must fit.
inline constexpr double kCpuEpsilon = 1e-9;

// The largest free amount of each resource on any single node (not
// necessarily the same node), and how many nodes there are.
struct FreeMaxima {
  size_t nodes = 0;
  size_t gpus = 0;
  double cpus = 0;
  uint64_t memory = 0;
};

class NodeIndex final {
 public:
  explicit NodeIndex(std::vector<NodeSnapshot> nodes);

  // Position of the best-fit node for ask, or nullopt when no node has it all free.
  std::optional<size_t> BestFit(const Resources& ask) const;

  // The n best-fit nodes for ask, best first (fewest free GPUs, then fewest
  // free CPUs, then input order), all distinct; empty when fewer than n nodes
  // have ask free (all or nothing). Takes nothing.
  std::vector<size_t> BestFits(const Resources& ask, size_t n) const;

  // How many nodes have ask free, counting no further than limit.
  size_t CountFit(const Resources& ask, size_t limit) const;

  // Takes ask from the node at pos (which BestFit returned); returns the GPU
  // indices handed out, lowest first, so no GPU is handed out twice.
  std::vector<int> Take(size_t pos, const Resources& ask);

  const NodeSnapshot& node(size_t pos) const { return nodes_[pos]; }
  size_t size() const { return nodes_.size(); }

  // Sum of node totals: the denominator of fair shares.
  Resources Totals() const;
  // O(nodes); called once per pass, for waiting reasons.
  FreeMaxima Maxima() const;

 private:
  struct Entry {
    double free_cpus;
    size_t pos;
    bool operator<(const Entry& o) const {
      return free_cpus != o.free_cpus ? free_cpus < o.free_cpus : pos < o.pos;
    }
  };
  void Insert(size_t pos);
  void Erase(size_t pos);
  // Calls visit(pos) for each node with ask free, in best-fit order, until
  // visit returns false or the nodes run out.
  template <typename Visit>
  void Walk(const Resources& ask, Visit visit) const;

  std::vector<NodeSnapshot> nodes_;
  // by_free_gpus_[g]: the nodes with exactly g GPUs free.
  std::vector<std::set<Entry>> by_free_gpus_;
};

}  // namespace lattice::sched
