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

// How many nodes a request runs on: 1, or a gang's size.
int GangSize(const Request& r) { return std::max(1, r.nodes); }

// A request's shape, hashable, for the per-pass memo of shapes that found no
// place: the per-node ask and how many nodes need it.
struct Shape {
  double cpus;
  uint64_t memory;
  int gpus;
  int nodes;
  bool operator==(const Shape&) const = default;
  // o asks at least as much of every resource on at least as many nodes: if
  // this found too few nodes, o finds too few as well.
  bool AtMost(const Shape& o) const {
    return nodes <= o.nodes && gpus <= o.gpus && cpus <= o.cpus && memory <= o.memory;
  }
};

Shape ShapeOf(const Request& r) { return Shape{r.ask.cpus, r.ask.memory_bytes, r.ask.gpus, GangSize(r)}; }

struct ShapeHash {
  size_t operator()(const Shape& s) const {
    // -0.0 == 0.0 but their bits differ; equal shapes must hash alike.
    const double cpus = s.cpus == 0 ? 0.0 : s.cpus;
    uint64_t bits = 0;
    std::memcpy(&bits, &cpus, sizeof bits);
    size_t h = std::hash<uint64_t>()(bits);
    h ^= std::hash<uint64_t>()(s.memory) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= std::hash<int>()(s.gpus) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= std::hash<int>()(s.nodes) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h;
  }
};

// Free resources only shrink during a pass, so a shape that found no node
// (a gang: too few nodes) finds none for the rest of the pass, nor does any
// shape at least as large: the same or a bigger per-node ask on as many nodes
// or more. A single node is a gang of one, so a failed single also decides
// the gangs that ask at least as much per node.
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
  const Request* req;
  int max_parallel;  // > 0: waits for the run's limit, not for resources
};

// Why these nodes, in words; called after the take, so it says what is left.
std::string WhyHere(const NodeIndex& index, const std::vector<size_t>& picks) {
  auto left = [&](size_t pos) {
    const NodeSnapshot& n = index.node(pos);
    return std::to_string(n.free_gpus.size()) + " of " + std::to_string(n.total.gpus);
  };
  const NodeSnapshot& first = index.node(picks[0]);
  if (picks.size() == 1) return "best fit: leaves " + left(picks[0]) + " GPUs free on " + first.id;
  // "best fit for 2 nodes: leaves 0 of 8 GPUs free on n1 (rank 0), 4 of 8 on n3"
  constexpr size_t kNamed = 8;  // a 64-node gang's reason stays one line
  std::string why = "best fit for " + std::to_string(picks.size()) + " nodes: leaves " + left(picks[0]) +
                    " GPUs free on " + first.id + " (rank 0)";
  for (size_t i = 1; i < picks.size() && i < kNamed; ++i)
    why += ", " + left(picks[i]) + " on " + index.node(picks[i]).id;
  if (picks.size() > kNamed) why += " and " + std::to_string(picks.size() - kNamed) + " more";
  return why;
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
    const Request& req = *w.req;
    if (w.max_parallel > 0) {
      auto [it, fresh] = by_limit.try_emplace(w.max_parallel);
      if (fresh) it->second = MaxParallelReason(w.max_parallel);
      d.waiting.emplace_back(req.key, it->second);
      continue;
    }
    const Shape shape = ShapeOf(req);
    auto [it, fresh] = by_shape.try_emplace(shape);
    if (fresh)
      it->second = shape.nodes == 1 ? WaitingReason(free, req.ask) : GangWaitingReason(index, req.ask, shape.nodes);
    d.waiting.emplace_back(req.key, it->second);
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
      const Shape shape = ShapeOf(req);
      if (failed.Covers(shape)) {
        waits.push_back(Wait{&req, 0});
        continue;
      }
      // A gang takes its nodes only once all of them are found: never part of one.
      std::vector<size_t> picks;
      if (shape.nodes == 1) {
        if (std::optional<size_t> pos = index.BestFit(req.ask)) picks.push_back(*pos);
      } else {
        picks = index.BestFits(req.ask, static_cast<size_t>(shape.nodes));
      }
      if (picks.empty()) {
        failed.Add(shape);
        waits.push_back(Wait{&req, 0});
        continue;
      }
      Placement p;
      p.key = req.key;
      p.shares.reserve(picks.size());
      for (size_t pos : picks) p.shares.push_back(NodeShare{index.node(pos).id, index.Take(pos, req.ask)});
      p.node = p.shares[0].node;
      p.gpus = p.shares[0].gpus;
      p.why = WhyHere(index, picks);
      d.placed.push_back(std::move(p));
      if (room[r] > 0) --room[r];  // a gang is one experiment
      order.Placed(req.ask, shape.nodes);
      placed = true;
      break;
    }
    if (placed) continue;
    // The run is at its limit (or out of requests): the rest wait for it.
    for (; next[r] < run.queued.size(); ++next[r]) waits.push_back(Wait{&run.queued[next[r]], run.max_parallel});
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

std::optional<std::string> Infeasible(const std::vector<NodeSnapshot>& nodes, const Resources& ask, int gang_nodes) {
  return InfeasibleReason(nodes, ask, gang_nodes);
}

}  // namespace lattice::sched
