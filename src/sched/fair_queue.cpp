#include "sched/fair_queue.h"

#include <algorithm>

namespace lattice::sched {

double DominantShare(const Resources& ask, const Resources& totals, int nodes) {
  double s = 0;
  if (totals.cpus > 0) s = std::max(s, ask.cpus / totals.cpus);
  if (totals.memory_bytes > 0)
    s = std::max(s, static_cast<double>(ask.memory_bytes) / static_cast<double>(totals.memory_bytes));
  if (totals.gpus > 0) s = std::max(s, static_cast<double>(ask.gpus) / totals.gpus);
  // The same fraction of every dimension on each node, so the largest stays
  // largest: N times the per-node share, without multiplying bytes (overflow).
  return nodes > 1 ? s * nodes : s;
}

bool FairQueue::After::operator()(const Slot& a, const Slot& b) const {
  if (a.priority != b.priority) return a.priority < b.priority;
  if (a.share != b.share) return a.share > b.share;
  if (a.submitted_at_ms != b.submitted_at_ms) return a.submitted_at_ms > b.submitted_at_ms;
  const std::string& an = (*runs)[a.run].run;
  const std::string& bn = (*runs)[b.run].run;
  if (an != bn) return an > bn;
  return a.run > b.run;
}

FairQueue::FairQueue(const std::vector<RunQueue>& runs, const Resources& cluster_totals)
    : totals_(cluster_totals), share_(runs.size(), 0.0), heap_(After{&runs}) {
  std::vector<Slot> slots;
  slots.reserve(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunQueue& r = runs[i];
    if (r.queued.empty()) continue;
    // RunQueue carries a count, not what the active experiments hold; a run's
    // experiments share one spec in Lattice, so its first ask stands for all
    // (a gang's active experiments hold a gang's worth each).
    const Request& first = r.queued.front();
    share_[i] = std::max(0, r.active) * DominantShare(first.ask, totals_, first.nodes);
    slots.push_back(Slot{r.priority, share_[i], r.submitted_at_ms, i});
  }
  // Heapify once: O(runs), not O(runs log runs).
  heap_ = std::priority_queue<Slot, std::vector<Slot>, After>(After{&runs}, std::move(slots));
}

void FairQueue::Placed(const Resources& ask, int nodes) {
  Slot s = heap_.top();
  heap_.pop();
  share_[s.run] += DominantShare(ask, totals_, nodes);
  s.share = share_[s.run];
  heap_.push(s);
}

}  // namespace lattice::sched
