// FairQueue: which run offers the next request in a scheduling pass.
//
// Policy: higher priority first. Between runs of equal priority, dominant
// resource fairness (DRF): the run whose experiments hold the smallest share
// of the cluster's resource they use most (CPUs, memory or GPUs, each as a
// fraction of the cluster total) goes next; ties go to the earlier submitted
// run, then to the smaller name. A run's share counts its active experiments
// and those placed earlier in the pass, so a 10,000-experiment sweep and a
// 1-experiment run submitted after it alternate instead of the sweep going
// first to last. A gang of N nodes counts as N times its per-node ask, and
// as one experiment.
//
// Not thread-safe; refers to the RunQueues it was built from (for names),
// which must outlive it.
#pragma once

#include <cstddef>
#include <queue>
#include <vector>

#include "sched/placement.h"

namespace lattice::sched {

// The fraction of totals that ask takes in the dimension where that
// fraction is largest; 0 for dimensions the cluster lacks. With nodes > 1,
// ask is per node of a gang and the gang takes nodes times as much.
double DominantShare(const Resources& ask, const Resources& totals, int nodes = 1);

class FairQueue final {
 public:
  FairQueue(const std::vector<RunQueue>& runs, const Resources& cluster_totals);

  bool empty() const { return heap_.empty(); }
  // Index (into runs) of the run to serve next. Requires !empty().
  size_t Top() const { return heap_.top().run; }
  // The top run got ask placed (on each of nodes nodes, for a gang): its
  // share grows and it goes back in line.
  void Placed(const Resources& ask, int nodes = 1);
  // The top run has nothing more to offer in this pass.
  void Drop() { heap_.pop(); }

  // The run's dominant share so far (active plus placed in this pass).
  double share(size_t run) const { return share_[run]; }

 private:
  struct Slot {
    int priority;
    double share;
    int64_t submitted_at_ms;
    size_t run;
  };
  // "Greater" for std::priority_queue, so the top is the run to serve next.
  struct After {
    const std::vector<RunQueue>* runs;
    bool operator()(const Slot& a, const Slot& b) const;
  };

  const Resources totals_;
  std::vector<double> share_;
  std::priority_queue<Slot, std::vector<Slot>, After> heap_;
};

}  // namespace lattice::sched
