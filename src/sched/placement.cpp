#include "sched/placement.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <unordered_set>

#include "sched/fair_queue.h"
#include "sched/node_index.h"
#include "sched/reasons.h"

namespace lattice::sched {
namespace {

// An ask's shape, hashable, for the per-pass memo of shapes that found no node.
struct Shape {
  double cpus;
  uint64_t memory;
  int gpus;
  bool operator==(const Shape&) const = default;
  // o asks at least as much of every resource: if this found no node, neither will o.
  bool AtMost(const Shape& o) const { return gpus <= o.gpus && cpus <= o.cpus && memory <= o.memory; }
};

Shape ShapeOf(const Resources& r) { return Shape{r.cpus, r.memory_bytes, r.gpus}; }

struct ShapeHash {
  size_t operator()(const Shape& s) const {
    // -0.0 == 0.0 but their bits differ; equal shapes must hash alike.
    const double cpus = s.cpus == 0 ? 0.0 : s.cpus;
    uint64_t bits = 0;
    std::memcpy(&bits, &cpus, sizeof bits);
    size_t h = std::hash<uint64_t>()(bits);
    h ^= std::hash<uint64_t>()(s.memory) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= std::hash<int>()(s.gpus) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
  }
};

// Free resources only shrink during a pass, so a shape that found no node
// finds none for the rest of the pass, nor does any shape at least as large.
// Remembering them turns the tail of a 100,000-request queue on a full
// cluster into hash lookups instead of index walks.
class FailedShapes final {
 public:
  bool Covers(const Shape& s) const {
    if (exact_.contains(s)) return true;
    for (const Shape& f : smallest_)
      if (f.AtMost(s)) return true;
    return false;
  }
  void Add(const Shape& s) {
    exact_.insert(s);
    // A few shapes checked by dominance catch larger asks of new shapes;
    // more would make every check slower than the index walk it saves.
    if (smallest_.size() < kDominanceChecks) smallest_.push_back(s);
  }

 private:
  static constexpr size_t kDominanceChecks = 8;
  std::unordered_set<Shape, ShapeHash> exact_;
  std::vector<Shape> smallest_;
};

// A request left waiting; its reason is written once the pass is over.
struct Wait {
  size_t key;
  const Resources* ask;
  int max_parallel;  // > 0: waits for the run's limit, not for resources
};

std::string WhyHere(const NodeSnapshot& n) {
  return "best fit: leaves " + std::to_string(n.free_gpus.size()) + " of " + std::to_string(n.total.gpus) +
         " GPUs free on " + n.id;
}

// Reasons are computed from what is free after the pass: that is the state
// the user sees once these placements start, and it is still true for every
// waiting request because free resources only shrink during a pass. One
// string per distinct shape, not per request.
void WriteReasons(const NodeIndex& index, const std::vector<Wait>& waits, Decision& d) {
  const FreeMaxima free = index.Maxima();
  std::unordered_map<Shape, std::string, ShapeHash> by_shape;
  std::unordered_map<int, std::string> by_limit;
  d.waiting.reserve(waits.size());
  for (const Wait& w : waits) {
    if (w.max_parallel > 0) {
      auto [it, fresh] = by_limit.try_emplace(w.max_parallel);
      if (fresh) it->second = MaxParallelReason(w.max_parallel);
      d.waiting.emplace_back(w.key, it->second);
      continue;
    }
    auto [it, fresh] = by_shape.try_emplace(ShapeOf(*w.ask));
    if (fresh) it->second = WaitingReason(free, *w.ask);
    d.waiting.emplace_back(w.key, it->second);
  }
}

}  // namespace

Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<RunQueue>& runs) {
  NodeIndex index(std::move(nodes));
  FairQueue order(runs, index.Totals());
  FailedShapes failed;
  std::vector<size_t> next(runs.size(), 0);  // per run: first request not yet decided
  std::vector<int> room(runs.size(), -1);    // per run: placements left under max_parallel; -1 = unlimited
  for (size_t i = 0; i < runs.size(); ++i)
    if (runs[i].max_parallel > 0) room[i] = std::max(0, runs[i].max_parallel - std::max(0, runs[i].active));

  Decision d;
  std::vector<Wait> waits;
  while (!order.empty()) {
    const size_t r = order.Top();
    const RunQueue& run = runs[r];
    bool placed = false;
    // Decide this run's requests until one is placed; the run then goes back
    // in line behind runs with a smaller share. Requests that cannot fit are
    // decided here at O(1) each (memo), so the pass stays O(queue) overall.
    while (next[r] < run.queued.size() && room[r] != 0) {
      const Request& req = run.queued[next[r]++];
      const Shape shape = ShapeOf(req.ask);
      if (failed.Covers(shape)) {
        waits.push_back(Wait{req.key, &req.ask, 0});
        continue;
      }
      std::optional<size_t> pos = index.BestFit(req.ask);
      if (!pos) {
        failed.Add(shape);
        waits.push_back(Wait{req.key, &req.ask, 0});
        continue;
      }
      Placement p{req.key, index.node(*pos).id, index.Take(*pos, req.ask), {}};
      p.why = WhyHere(index.node(*pos));
      d.placed.push_back(std::move(p));
      if (room[r] > 0) --room[r];
      order.Placed(req.ask);
      placed = true;
      break;
    }
    if (placed) continue;
    // The run is at its limit (or out of requests): the rest wait for it.
    for (; next[r] < run.queued.size(); ++next[r])
      waits.push_back(Wait{run.queued[next[r]].key, &run.queued[next[r]].ask, run.max_parallel});
    order.Drop();
  }
  WriteReasons(index, waits, d);
  return d;
}

Decision Place(std::vector<NodeSnapshot> nodes, const std::vector<Request>& queue) {
  std::vector<RunQueue> one(1);
  one[0].queued = queue;
  return Place(std::move(nodes), one);
}

std::optional<std::string> Infeasible(const std::vector<NodeSnapshot>& nodes, const Resources& ask) {
  return InfeasibleReason(nodes, ask);
}

}  // namespace lattice::sched
