// Randomized property test: on random clusters and queues, Place never
// over-commits a node, never hands out a GPU twice or one that was not free,
// honours max_parallel, and gives every request exactly one outcome, with a
// reason for each one left waiting. Fixed seeds: failures reproduce.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "sched/placement.h"
#include "sched/test_util.h"

namespace lattice::sched {
namespace {

using testing::kGi;
using testing::RandomNodes;

struct World {
  std::vector<NodeSnapshot> nodes;
  std::vector<RunQueue> runs;
  std::map<size_t, std::pair<size_t, Resources>> asks;  // key -> (run, ask)
};

World RandomWorld(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  World w;
  w.nodes = RandomNodes(rng, 12);
  const int runs = pick(0, 8);
  size_t key = 0;
  for (int r = 0; r < runs; ++r) {
    RunQueue q;
    q.run = "r" + std::to_string(r);
    q.priority = pick(0, 2);
    q.submitted_at_ms = pick(0, 5);
    q.max_parallel = pick(0, 1) ? pick(1, 5) : 0;
    q.active = pick(0, 3);
    const int count = pick(0, 40);
    for (int e = 0; e < count; ++e) {
      // Mostly one shape per run, as in Lattice, with some odd ones mixed in.
      Resources ask{static_cast<double>(pick(0, 16)) / 4, static_cast<uint64_t>(pick(0, 8)) * kGi, pick(0, 9)};
      q.queued.push_back(Request{key, ask});
      w.asks[key] = {static_cast<size_t>(r), ask};
      ++key;
    }
    w.runs.push_back(std::move(q));
  }
  return w;
}

TEST(PlaceProperty, RandomClusters_NoOvercommit_EveryRequestDecided) {
  for (uint32_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = RandomWorld(seed);
    Decision d = Place(w.nodes, w.runs);

    std::map<std::string, const NodeSnapshot*> by_id;
    for (const auto& n : w.nodes) by_id[n.id] = &n;
    std::map<std::string, double> cpus;
    std::map<std::string, uint64_t> mem;
    std::set<std::pair<std::string, int>> gpus;
    std::vector<int> placed_per_run(w.runs.size(), 0);
    std::set<size_t> decided;
    for (const auto& p : d.placed) {
      ASSERT_TRUE(decided.insert(p.key).second) << "key " << p.key << " decided twice";
      ASSERT_TRUE(by_id.contains(p.node));
      const auto& [run, ask] = w.asks.at(p.key);
      const NodeSnapshot& n = *by_id[p.node];
      ASSERT_EQ(p.gpus.size(), static_cast<size_t>(ask.gpus));
      for (int g : p.gpus) {
        EXPECT_TRUE(std::find(n.free_gpus.begin(), n.free_gpus.end(), g) != n.free_gpus.end()) << "GPU not free";
        EXPECT_TRUE(gpus.insert({p.node, g}).second) << p.node << " GPU " << g << " handed out twice";
      }
      cpus[p.node] += ask.cpus;
      mem[p.node] += ask.memory_bytes;
      EXPECT_FALSE(p.why.empty());
      ++placed_per_run[run];
    }
    for (const auto& [id, used] : cpus) EXPECT_LE(used, by_id[id]->free_cpus + 1e-6) << id;
    for (const auto& [id, used] : mem) EXPECT_LE(used, by_id[id]->free_memory) << id;
    for (size_t r = 0; r < w.runs.size(); ++r) {
      if (w.runs[r].max_parallel > 0) {
        EXPECT_LE(placed_per_run[r], std::max(0, w.runs[r].max_parallel - w.runs[r].active));
      }
    }
    for (const auto& [key, why] : d.waiting) {
      EXPECT_TRUE(decided.insert(key).second) << "key " << key << " decided twice";
      EXPECT_EQ(why.rfind("waiting: ", 0), 0u) << why;
      if (why.find("max_parallel") != std::string::npos) continue;
      // Waiting for resources: true of what is left free after the pass.
      const Resources& ask = w.asks.at(key).second;
      for (const auto& n : w.nodes) {
        size_t used_gpus = 0;
        for (const auto& [node, g] : gpus) used_gpus += node == n.id ? 1 : 0;
        const bool fits = n.free_cpus - cpus[n.id] + 1e-9 >= ask.cpus && n.free_memory - mem[n.id] >= ask.memory_bytes &&
                          n.free_gpus.size() - used_gpus >= static_cast<size_t>(ask.gpus);
        EXPECT_FALSE(fits) << "key " << key << " waits but fits on " << n.id;
      }
    }
    EXPECT_EQ(decided.size(), w.asks.size());
  }
}

// The scheduler before the index: scan every node per request. The index
// and the failed-shape memo must pick exactly what this picks.
std::vector<Placement> NaiveFifo(std::vector<NodeSnapshot> nodes, const std::vector<Request>& queue) {
  std::vector<Placement> out;
  for (const Request& r : queue) {
    NodeSnapshot* best = nullptr;
    for (auto& n : nodes) {
      const bool fits = n.free_cpus + 1e-9 >= r.ask.cpus && n.free_memory >= r.ask.memory_bytes &&
                        n.free_gpus.size() >= static_cast<size_t>(r.ask.gpus);
      if (!fits) continue;
      if (!best || n.free_gpus.size() < best->free_gpus.size() ||
          (n.free_gpus.size() == best->free_gpus.size() && n.free_cpus < best->free_cpus))
        best = &n;
    }
    if (!best) continue;
    Placement p{r.key, best->id, {}, {}};
    p.gpus.assign(best->free_gpus.begin(), best->free_gpus.begin() + r.ask.gpus);
    best->free_gpus.erase(best->free_gpus.begin(), best->free_gpus.begin() + r.ask.gpus);
    best->free_cpus -= r.ask.cpus;
    best->free_memory -= r.ask.memory_bytes;
    out.push_back(std::move(p));
  }
  return out;
}

TEST(PlaceProperty, FifoOverload_SamePicksAsANaiveScanOfAllNodes) {
  for (uint32_t seed = 1; seed <= 2000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = RandomWorld(seed);
    std::vector<Request> flat;
    for (const auto& r : w.runs) flat.insert(flat.end(), r.queued.begin(), r.queued.end());
    Decision d = Place(w.nodes, flat);
    std::vector<Placement> want = NaiveFifo(w.nodes, flat);
    ASSERT_EQ(d.placed.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(d.placed[i].key, want[i].key);
      EXPECT_EQ(d.placed[i].node, want[i].node);
      EXPECT_EQ(d.placed[i].gpus, want[i].gpus);
    }
    EXPECT_EQ(d.placed.size() + d.waiting.size(), flat.size());
  }
}

}  // namespace
}  // namespace lattice::sched
