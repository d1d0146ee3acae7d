// Gangs: one experiment on N distinct nodes (multi-node training), placed
// on all of them in one pass or on none. Checked through the public API,
// then against a naive scheduler on random clusters.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "sched/fair_queue.h"
#include "sched/placement.h"
#include "sched/test_util.h"

namespace lattice::sched {
namespace {

using ::testing::ElementsAre;
using namespace ::lattice::sched::testing;

// The same node with only the given GPU indices free.
NodeSnapshot WithFreeGpus(NodeSnapshot n, std::vector<int> free) {
  n.free_gpus = std::move(free);
  return n;
}

Request Gang(size_t key, int nodes, int gpus, double cpus = 1, uint64_t mem = 0) {
  return Request{key, Resources{cpus, mem, gpus}, nodes};
}

RunQueue RunOf(const std::string& name, std::vector<Request> queued, int64_t submitted = 0) {
  RunQueue r;
  r.run = name;
  r.submitted_at_ms = submitted;
  r.queued = std::move(queued);
  return r;
}

std::vector<std::string> NodesOf(const Placement& p) {
  std::vector<std::string> out;
  for (const auto& s : p.shares) out.push_back(s.node);
  return out;
}

// --- shape of a placement --------------------------------------------------------------

TEST(Gang, SingleNodeRequest_HasOneShareEqualToNodeAndGpus) {
  Decision d = Place({Node("n", 4)}, {Gang(0, 1, 2)});
  ASSERT_EQ(d.placed.size(), 1u);
  const Placement& p = d.placed[0];
  ASSERT_EQ(p.shares.size(), 1u);
  EXPECT_EQ(p.shares[0], (NodeShare{"n", {0, 1}}));
  EXPECT_EQ(p.node, "n");
  EXPECT_THAT(p.gpus, ElementsAre(0, 1));
}

TEST(Gang, PlacedOnDistinctNodes_NodeAndGpusAreRankZero) {
  Decision d = Place({Node("a", 8), Node("b", 8), Node("c", 8)}, {Gang(0, 3, 8)});
  ASSERT_EQ(d.placed.size(), 1u);
  const Placement& p = d.placed[0];
  ASSERT_EQ(p.shares.size(), 3u);
  EXPECT_THAT(NodesOf(p), ElementsAre("a", "b", "c"));
  for (const auto& s : p.shares) EXPECT_THAT(s.gpus, ElementsAre(0, 1, 2, 3, 4, 5, 6, 7));
  EXPECT_EQ(p.node, p.shares[0].node);
  EXPECT_EQ(p.gpus, p.shares[0].gpus);
}

TEST(Gang, NeverTwiceOnOneNode_EvenWhenItHasRoomForBoth) {
  Decision d = Place({Node("big", 8)}, {Gang(0, 2, 4)});
  EXPECT_TRUE(d.placed.empty());
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 1 of 2 nodes with 4 free GPUs (1 node)");
}

TEST(Gang, NodesBelowOne_CountAsOne) {
  Decision d = Place({Node("n", 4)}, {Gang(0, 0, 2), Gang(1, -3, 2)});
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_EQ(Find(d, 0)->shares.size(), 1u);
  EXPECT_EQ(Find(d, 1)->shares.size(), 1u);
}

// --- all or nothing ----------------------------------------------------------------------

TEST(Gang, TooFewNodes_TakesNothing_SinglesBehindItGetEveryNode) {
  // Were the gang partly placed on a and b, neither 8-GPU single would fit.
  Decision d = Place({Node("a", 8), Node("b", 8)}, {Gang(0, 3, 8), Gang(1, 1, 8), Gang(2, 1, 8)});
  EXPECT_EQ(Find(d, 0), nullptr);
  ASSERT_NE(Find(d, 1), nullptr);
  ASSERT_NE(Find(d, 2), nullptr);
  EXPECT_EQ(Find(d, 1)->node, "a");
  EXPECT_EQ(Find(d, 2)->node, "b");
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 0 of 3 nodes with 8 free GPUs (2 nodes)");
}

TEST(Gang, SecondGangFindsTheFirstsNodesTaken) {
  Decision d = Place({Node("a", 4), Node("b", 4), Node("c", 4)}, {Gang(0, 2, 4), Gang(1, 2, 4)});
  ASSERT_NE(Find(d, 0), nullptr);
  EXPECT_EQ(Find(d, 1), nullptr);
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 1 of 2 nodes with 4 free GPUs (3 nodes)");
}

// --- best fit across nodes -----------------------------------------------------------------

TEST(Gang, BestFit_PartlyUsedNodesFirst_WholeNodesKept) {
  std::vector<NodeSnapshot> nodes = {Node("whole1", 8), WithFreeGpus(Node("half1", 8), {4, 5, 6, 7}),
                                     Node("whole2", 8), WithFreeGpus(Node("half2", 8), {0, 1, 2, 3})};
  Decision d = Place(nodes, {Gang(0, 2, 4), Gang(1, 2, 8)});
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_THAT(NodesOf(*Find(d, 0)), ElementsAre("half1", "half2"));
  EXPECT_THAT(Find(d, 0)->shares[0].gpus, ElementsAre(4, 5, 6, 7));
  EXPECT_THAT(Find(d, 0)->shares[1].gpus, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(NodesOf(*Find(d, 1)), ElementsAre("whole1", "whole2"));
}

TEST(Gang, BestFit_FewestFreeGpusFirst_RankZeroIsTheTightestNode) {
  std::vector<NodeSnapshot> nodes = {Node("eight", 8), WithFreeGpus(Node("six", 8), {0, 1, 2, 3, 4, 5}),
                                     WithFreeGpus(Node("two", 8), {6, 7}), WithFreeGpus(Node("four", 8), {0, 2, 4, 6})};
  Decision d = Place(nodes, {Gang(0, 3, 2)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_THAT(NodesOf(d.placed[0]), ElementsAre("two", "four", "six"));
  EXPECT_EQ(d.placed[0].node, "two");
  EXPECT_THAT(d.placed[0].shares[1].gpus, ElementsAre(0, 2));
}

TEST(Gang, BestFit_EqualGpus_FewestFreeCpusThenInputOrder) {
  std::vector<NodeSnapshot> nodes = {Node("roomy", 4, 64), Node("tight", 4, 8), Node("mid-a", 4, 16),
                                     Node("mid-b", 4, 16)};
  Decision d = Place(nodes, {Gang(0, 3, 4, 4)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_THAT(NodesOf(d.placed[0]), ElementsAre("tight", "mid-a", "mid-b"));
}

TEST(Gang, BestFit_SkipsNodesShortOfCpusOrMemory) {
  std::vector<NodeSnapshot> nodes = {Node("few-cpus", 4, 2), Node("little-mem", 4, 32, 8 * kGi), Node("ok1", 4),
                                     Node("ok2", 4)};
  Decision d = Place(nodes, {Gang(0, 2, 4, 8, 64 * kGi)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_THAT(NodesOf(d.placed[0]), ElementsAre("ok1", "ok2"));
}

TEST(Gang, CpusAndMemoryTakenOnEveryNodeOfTheGang) {
  // Each node has 8 CPUs: a gang taking 6 on both leaves no node for a 4-CPU single.
  Decision d = Place({Node("a", 0, 8), Node("b", 0, 8)}, {Gang(0, 2, 0, 6), Gang(1, 1, 0, 4), Gang(2, 1, 0, 2)});
  EXPECT_NE(Find(d, 0), nullptr);
  EXPECT_EQ(Find(d, 1), nullptr);
  EXPECT_NE(Find(d, 2), nullptr);
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 2 of 4 CPUs free on 2 nodes");
}

TEST(Gang, Gpus_NeverHandedOutTwiceAcrossGangsAndSingles) {
  std::vector<Request> queue;
  for (size_t i = 0; i < 24; ++i) queue.push_back(Gang(i, 1 + static_cast<int>(i % 3), 1 + static_cast<int>(i % 4)));
  std::vector<NodeSnapshot> nodes = {Node("a", 8), Node("b", 4), WithFreeGpus(Node("c", 8), {0, 2, 4, 6}),
                                     Node("d", 8), Node("e", 2)};
  Decision d = Place(nodes, queue);
  std::set<std::pair<std::string, int>> used;
  for (const auto& p : d.placed) {
    const Request& r = queue[p.key];
    ASSERT_EQ(p.shares.size(), static_cast<size_t>(r.nodes));
    std::set<std::string> distinct;
    for (const auto& s : p.shares) {
      EXPECT_TRUE(distinct.insert(s.node).second) << "key " << p.key << " twice on " << s.node;
      EXPECT_EQ(s.gpus.size(), static_cast<size_t>(r.ask.gpus));
      for (int g : s.gpus) EXPECT_TRUE(used.insert({s.node, g}).second) << s.node << " GPU " << g << " twice";
    }
  }
  EXPECT_EQ(d.placed.size() + d.waiting.size(), queue.size());
  EXPECT_GT(d.placed.size(), 3u);
}

TEST(Gang, Why_NamesEveryNodeAndRankZero) {
  Decision d = Place({WithFreeGpus(Node("n1", 8), {0, 1, 2, 3}), Node("n2", 8)}, {Gang(0, 2, 4)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].why, "best fit for 2 nodes: leaves 0 of 8 GPUs free on n1 (rank 0), 4 of 8 on n2");
}

TEST(Gang, Why_LongGangNamesTheFirstEight) {
  std::vector<NodeSnapshot> nodes;
  for (int i = 0; i < 10; ++i) nodes.push_back(Node("n" + std::to_string(i), 1));
  Decision d = Place(nodes, {Gang(0, 10, 1)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].shares.size(), 10u);
  EXPECT_EQ(d.placed[0].why,
            "best fit for 10 nodes: leaves 0 of 1 GPUs free on n0 (rank 0), 0 of 1 on n1, 0 of 1 on n2, 0 of 1 on "
            "n3, 0 of 1 on n4, 0 of 1 on n5, 0 of 1 on n6, 0 of 1 on n7 and 2 more");
}

TEST(Gang, Pure_InputSnapshotsUntouched) {
  std::vector<NodeSnapshot> nodes = {Node("a", 4), Node("b", 4)};
  (void)Place(nodes, {Gang(0, 2, 4)});
  EXPECT_EQ(nodes[0].free_gpus.size(), 4u);
  EXPECT_EQ(nodes[1].free_cpus, 32);
}

// --- fairness and limits -----------------------------------------------------------------

TEST(Gang, DominantShare_CountsEveryNode) {
  EXPECT_DOUBLE_EQ(DominantShare(Resources{1, 0, 4}, Resources{16, 0, 32}, 4), 0.5);
  EXPECT_DOUBLE_EQ(DominantShare(Resources{8, 0, 1}, Resources{16, 0, 32}, 2), 1.0);
  EXPECT_DOUBLE_EQ(DominantShare(Resources{1, 0, 4}, Resources{16, 0, 32}, 0), 0.125);
}

TEST(Gang, Fairness_GangRunGetsAsManyGpusAsASingleRun_NotAsManyExperiments) {
  // 4 x 8 GPUs. A gang of 2 x 4 GPUs holds 8 GPUs (a quarter), a single 4.
  // DRF: gang (1/4), single (1/8), single (1/4), gang (1/2), single, single.
  std::vector<RunQueue> runs = {
      RunOf("gangs", {Gang(0, 2, 4), Gang(1, 2, 4), Gang(2, 2, 4), Gang(3, 2, 4)}, 1),
      RunOf("singles", {Gang(100, 1, 4), Gang(101, 1, 4), Gang(102, 1, 4), Gang(103, 1, 4), Gang(104, 1, 4)}, 2)};
  Decision d = Place({Node("a", 8), Node("b", 8), Node("c", 8), Node("d", 8)}, runs);
  std::vector<size_t> keys;
  int gang_gpus = 0, single_gpus = 0;
  for (const auto& p : d.placed) {
    keys.push_back(p.key);
    for (const auto& s : p.shares) (p.key < 100 ? gang_gpus : single_gpus) += static_cast<int>(s.gpus.size());
  }
  EXPECT_THAT(keys, ElementsAre(0, 100, 101, 1, 102, 103));
  EXPECT_EQ(gang_gpus, 16);
  EXPECT_EQ(single_gpus, 16);
}

TEST(Gang, Fairness_ActiveGangsCountAllTheirNodes) {
  // Each run has one experiment active: the gang run's holds 2 x 8 GPUs,
  // the single run's 8, so the single run, though submitted later, goes first.
  std::vector<RunQueue> runs = {RunOf("gangs", {Gang(0, 2, 8)}, 1), RunOf("singles", {Gang(100, 1, 8)}, 2)};
  runs[0].active = 1;
  runs[1].active = 1;
  Decision d = Place({Node("a", 8), Node("b", 8)}, runs);
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].key, 100u);
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 1 of 2 nodes with 8 free GPUs (2 nodes)");
}

TEST(Gang, MaxParallel_AGangIsOneExperiment) {
  std::vector<RunQueue> runs = {RunOf("r", {Gang(0, 2, 1), Gang(1, 2, 1), Gang(2, 2, 1), Gang(3, 2, 1)})};
  runs[0].max_parallel = 3;
  runs[0].active = 1;
  Decision d = Place({Node("a", 8), Node("b", 8)}, runs);
  ASSERT_EQ(d.placed.size(), 2u);  // two gangs (four nodes' worth), not two nodes' worth
  EXPECT_EQ(Find(d, 0)->shares.size(), 2u);
  EXPECT_EQ(Find(d, 1)->shares.size(), 2u);
  EXPECT_EQ(WaitingReason(d, 2), "waiting: the run already has max_parallel 3 active");
}

// --- the failed-shape memo -------------------------------------------------------------------

TEST(GangMemo, FailedGang_DoesNotStopSmallerGangsOrSingles) {
  // 3 nodes with 4 GPUs free. Gang of 4 fails; a gang of 3 with the same
  // ask, a gang of 2 with more, and a single still find their nodes.
  std::vector<NodeSnapshot> nodes = {Node("a", 4), Node("b", 4), Node("c", 4), Node("d", 8)};
  Decision d = Place(nodes, {Gang(0, 5, 4), Gang(1, 3, 2), Gang(2, 2, 6), Gang(3, 1, 2)});
  EXPECT_EQ(Find(d, 0), nullptr);
  ASSERT_NE(Find(d, 1), nullptr);
  EXPECT_THAT(NodesOf(*Find(d, 1)), ElementsAre("a", "b", "c"));
  EXPECT_EQ(Find(d, 2), nullptr);  // only d has 6 GPUs
  ASSERT_NE(Find(d, 3), nullptr);
  EXPECT_EQ(Find(d, 3)->node, "a");
}

TEST(GangMemo, FailedGang_LargerGangsAndAsksWait_SmallerAsksStillPlaced) {
  std::vector<NodeSnapshot> nodes = {Node("a", 4), WithFreeGpus(Node("b", 4), {0, 1})};
  Decision d = Place(nodes, {Gang(0, 2, 4), Gang(1, 3, 4), Gang(2, 2, 3), Gang(3, 2, 2), Gang(4, 2, 2)});
  EXPECT_EQ(Find(d, 0), nullptr);
  EXPECT_EQ(Find(d, 1), nullptr);
  EXPECT_EQ(Find(d, 2), nullptr);
  ASSERT_NE(Find(d, 3), nullptr);
  EXPECT_THAT(NodesOf(*Find(d, 3)), ElementsAre("b", "a"));
  EXPECT_EQ(Find(d, 4), nullptr);
  EXPECT_EQ(WaitingReason(d, 4), "waiting: 1 of 2 nodes with 2 free GPUs (2 nodes)");
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 0 of 3 nodes with 4 free GPUs (2 nodes)");
}

TEST(GangMemo, FailedSingle_AlsoDecidesGangsAskingAsMuchPerNode) {
  Decision d = Place({Node("a", 4), Node("b", 4)}, {Gang(0, 1, 8), Gang(1, 2, 8), Gang(2, 2, 4)});
  EXPECT_EQ(Find(d, 0), nullptr);
  EXPECT_EQ(Find(d, 1), nullptr);
  EXPECT_NE(Find(d, 2), nullptr);
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 0 of 8 GPUs free on 2 nodes");
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 0 of 2 nodes with 8 free GPUs (2 nodes)");
}

// --- waiting reasons -------------------------------------------------------------------------

TEST(GangReasons, CountsNodesWithTheGpusFree) {
  std::vector<NodeSnapshot> nodes = {Node("a", 4), WithFreeGpus(Node("b", 4), {0}), WithFreeGpus(Node("c", 4), {}),
                                     WithFreeGpus(Node("d", 4), {1, 2})};
  Decision d = Place(nodes, {Gang(0, 2, 4), Gang(1, 4, 1)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 1 of 2 nodes with 4 free GPUs (4 nodes)");
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 3 of 4 nodes with 1 free GPU (4 nodes)");
}

TEST(GangReasons, ThenTheCpus_ThenTheMemory) {
  std::vector<NodeSnapshot> nodes = {Node("a", 4, 8), Node("b", 4, 32), Node("c", 4, 32, 16 * kGi)};
  Decision d = Place(nodes, {Gang(0, 3, 4, 16), Gang(1, 3, 4, 8, 64 * kGi), Gang(2, 2, 0, 64)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 2 of 3 nodes with 4 free GPUs and 16 free CPUs (3 nodes)");
  EXPECT_EQ(WaitingReason(d, 1),
            "waiting: 2 of 3 nodes with 4 free GPUs, 8 free CPUs and 64 GiB of free memory (3 nodes)");
  EXPECT_EQ(WaitingReason(d, 2), "waiting: 0 of 2 nodes with 64 free CPUs (3 nodes)");
}

TEST(GangReasons, DescribeWhatIsFreeAfterThePass) {
  // The single takes a's GPUs first (earlier in the queue); the gang then waits.
  Decision d = Place({Node("a", 2), Node("b", 2)}, {Gang(0, 1, 2), Gang(1, 2, 1), Gang(2, 2, 2)});
  EXPECT_NE(Find(d, 0), nullptr);
  EXPECT_EQ(Find(d, 1), nullptr);
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 1 of 2 nodes with 1 free GPU (2 nodes)");
  EXPECT_EQ(WaitingReason(d, 2), "waiting: 1 of 2 nodes with 2 free GPUs (2 nodes)");
}

TEST(GangReasons, AskingForNothingButNodes) {
  Decision d = Place({Node("a", 0), Node("b", 0)}, {Gang(0, 3, 0, 0)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 2 of 3 nodes have room (2 nodes)");
}

TEST(GangReasons, NoNodes) {
  Decision d = Place({}, {Gang(0, 2, 1)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: no nodes are connected");
}

// --- infeasible gangs ---------------------------------------------------------------------------

TEST(GangInfeasible, TooFewNodesWithTheGpus) {
  EXPECT_EQ(Infeasible({Node("a", 8), Node("b", 8), Node("c", 4)}, Resources{1, 0, 8}, 3),
            "asks for 3 nodes with 8 GPUs each; only 2 nodes have 8 GPUs");
  EXPECT_EQ(Infeasible({Node("a", 8), Node("b", 4)}, Resources{1, 0, 8}, 2),
            "asks for 2 nodes with 8 GPUs each; only 1 node has 8 GPUs");
  EXPECT_EQ(Infeasible({Node("a", 8), Node("b", 8)}, Resources{1, 0, 16}, 2),
            "asks for 2 nodes with 16 GPUs each; no node has 16 GPUs");
}

TEST(GangInfeasible, EveryNodeFitsButThereAreTooFew) {
  EXPECT_EQ(Infeasible({Node("a", 8), Node("b", 8)}, Resources{1, 0, 8}, 3),
            "asks for 3 nodes with 8 GPUs each; only 2 nodes are connected");
  EXPECT_EQ(Infeasible({Node("a", 8)}, Resources{0, 0, 0}, 2), "asks for 2 nodes; only 1 node is connected");
}

TEST(GangInfeasible, CpusThenMemory) {
  std::vector<NodeSnapshot> nodes = {Node("a", 8, 64, 512 * kGi), Node("b", 8, 16, 512 * kGi),
                                     Node("c", 8, 64, 64 * kGi)};
  EXPECT_EQ(Infeasible(nodes, Resources{32, 0, 8}, 3),
            "asks for 3 nodes with 8 GPUs and 32 CPUs each; only 2 nodes have 8 GPUs and 32 CPUs");
  EXPECT_EQ(Infeasible(nodes, Resources{32, 256 * kGi, 8}, 2),
            "asks for 2 nodes with 8 GPUs, 32 CPUs and 256 GiB of memory each; only 1 node has 8 GPUs, 32 CPUs and 256 "
            "GiB of memory");
  EXPECT_EQ(Infeasible(nodes, Resources{0.5, 0, 0}, 4),
            "asks for 4 nodes with 0.5 CPUs each; only 3 nodes are connected");
}

TEST(GangInfeasible, FitsOrNoNodes_Nullopt_OneNodeAsBefore) {
  EXPECT_FALSE(Infeasible({Node("a", 8), Node("b", 8)}, Resources{32, 256 * kGi, 8}, 2).has_value());
  EXPECT_FALSE(Infeasible({}, Resources{1, 0, 8}, 64).has_value());
  EXPECT_FALSE(Infeasible({WithFreeGpus(Node("a", 8), {}), WithFreeGpus(Node("b", 8), {})}, Resources{1, 0, 8}, 2)
                   .has_value());  // totals, not what is free now
  EXPECT_EQ(Infeasible({Node("a", 8)}, Resources{1, 0, 16}, 1), "asks for 16 GPUs; the largest node has 8");
  EXPECT_EQ(Infeasible({Node("a", 8)}, Resources{1, 0, 16}, 0), "asks for 16 GPUs; the largest node has 8");
}

// --- random clusters ------------------------------------------------------------------------------

struct World {
  std::vector<NodeSnapshot> nodes;
  std::vector<RunQueue> runs;
  std::map<size_t, std::pair<size_t, Request>> asks;  // key -> (run, request)
};

World RandomWorld(uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  World w;
  w.nodes = RandomNodes(rng, 10);
  const int runs = pick(0, 6);
  size_t key = 0;
  for (int r = 0; r < runs; ++r) {
    RunQueue q;
    q.run = "r" + std::to_string(pick(0, 3));  // equal names happen: the index breaks the tie
    q.priority = pick(0, 1);
    q.submitted_at_ms = pick(0, 3);
    q.max_parallel = pick(0, 2) == 0 ? pick(1, 4) : 0;
    q.active = pick(0, 2);
    const int count = pick(0, 25);
    // One shape per run, as in Lattice, with odd ones mixed in; gangs of 1 to 4.
    auto ask = [&] {
      return Resources{static_cast<double>(pick(0, 12)) / 4, static_cast<uint64_t>(pick(0, 8)) * kGi, pick(0, 8)};
    };
    const Request base{0, ask(), pick(1, 4)};
    for (int e = 0; e < count; ++e) {
      Request req = base;
      if (pick(0, 3) == 0) {
        req.ask = ask();
        req.nodes = pick(0, 5);
      }
      req.key = key;
      q.queued.push_back(req);
      w.asks[key] = {static_cast<size_t>(r), req};
      ++key;
    }
    w.runs.push_back(std::move(q));
  }
  return w;
}

bool Fits(const NodeSnapshot& n, const Resources& ask) {
  return ask.gpus >= 0 && n.free_cpus + 1e-9 >= ask.cpus && n.free_memory >= ask.memory_bytes &&
         n.free_gpus.size() >= static_cast<size_t>(ask.gpus);
}

// The policy without the index or the memo: per request, scan every node;
// per turn, scan every run. Place() must pick exactly what this picks.
std::vector<Placement> Naive(std::vector<NodeSnapshot> nodes, const std::vector<RunQueue>& runs) {
  Resources totals{0, 0, 0};
  for (const auto& n : nodes) {
    totals.cpus += n.total.cpus;
    totals.memory_bytes += n.total.memory_bytes;
    totals.gpus += n.total.gpus;
  }
  std::vector<double> share(runs.size(), 0);
  std::vector<size_t> next(runs.size(), 0);
  std::vector<int> room(runs.size(), -1);
  std::vector<bool> live(runs.size(), false);
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].queued.empty()) continue;
    live[i] = true;
    share[i] = std::max(0, runs[i].active) *
               DominantShare(runs[i].queued.front().ask, totals, runs[i].queued.front().nodes);
    if (runs[i].max_parallel > 0) room[i] = std::max(0, runs[i].max_parallel - std::max(0, runs[i].active));
  }
  auto before = [&](size_t a, size_t b) {
    const RunQueue& x = runs[a];
    const RunQueue& y = runs[b];
    if (x.priority != y.priority) return x.priority > y.priority;
    if (share[a] != share[b]) return share[a] < share[b];
    if (x.submitted_at_ms != y.submitted_at_ms) return x.submitted_at_ms < y.submitted_at_ms;
    if (x.run != y.run) return x.run < y.run;
    return a < b;
  };
  std::vector<Placement> out;
  for (;;) {
    std::optional<size_t> top;
    for (size_t i = 0; i < runs.size(); ++i)
      if (live[i] && (!top || before(i, *top))) top = i;
    if (!top) break;
    const size_t r = *top;
    bool placed = false;
    while (next[r] < runs[r].queued.size() && room[r] != 0) {
      const Request& req = runs[r].queued[next[r]++];
      const size_t want = static_cast<size_t>(std::max(1, req.nodes));
      std::vector<size_t> fit;
      for (size_t i = 0; i < nodes.size(); ++i)
        if (Fits(nodes[i], req.ask)) fit.push_back(i);
      if (fit.size() < want) continue;
      std::stable_sort(fit.begin(), fit.end(), [&](size_t a, size_t b) {
        if (nodes[a].free_gpus.size() != nodes[b].free_gpus.size())
          return nodes[a].free_gpus.size() < nodes[b].free_gpus.size();
        return nodes[a].free_cpus < nodes[b].free_cpus;
      });
      Placement p;
      p.key = req.key;
      for (size_t k = 0; k < want; ++k) {
        NodeSnapshot& n = nodes[fit[k]];
        NodeShare s{n.id, {n.free_gpus.begin(), n.free_gpus.begin() + req.ask.gpus}};
        n.free_gpus.erase(n.free_gpus.begin(), n.free_gpus.begin() + req.ask.gpus);
        n.free_cpus -= req.ask.cpus;
        n.free_memory -= req.ask.memory_bytes;
        p.shares.push_back(std::move(s));
      }
      out.push_back(std::move(p));
      share[r] += DominantShare(req.ask, totals, req.nodes);
      if (room[r] > 0) --room[r];
      placed = true;
      break;
    }
    if (!placed) live[r] = false;
  }
  return out;
}

TEST(GangProperty, RandomClusters_SamePicksAsANaiveScheduler) {
  size_t gangs_placed = 0, gangs_waiting = 0;
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = RandomWorld(seed);
    Decision d = Place(w.nodes, w.runs);
    std::vector<Placement> want = Naive(w.nodes, w.runs);
    ASSERT_EQ(d.placed.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(d.placed[i].key, want[i].key);
      EXPECT_EQ(d.placed[i].shares, want[i].shares);
      gangs_placed += want[i].shares.size() > 1 ? 1 : 0;
    }
    for (const auto& [key, why] : d.waiting) gangs_waiting += w.asks.at(key).second.nodes > 1 ? 1 : 0;
  }
  // The worlds exercise both outcomes, and so the memo, a lot.
  EXPECT_GT(gangs_placed, 1000u);
  EXPECT_GT(gangs_waiting, 10000u);
}

TEST(GangProperty, RandomClusters_AllOrNothing_NoOvercommit_ReasonsTrue) {
  for (uint32_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    World w = RandomWorld(seed);
    Decision d = Place(w.nodes, w.runs);

    std::map<std::string, NodeSnapshot> after;  // what is free once the placements start
    for (const auto& n : w.nodes) after[n.id] = n;
    std::vector<int> placed_per_run(w.runs.size(), 0);
    std::set<size_t> decided;
    for (const auto& p : d.placed) {
      ASSERT_TRUE(decided.insert(p.key).second) << "key " << p.key << " decided twice";
      const auto& [run, req] = w.asks.at(p.key);
      ASSERT_EQ(p.shares.size(), static_cast<size_t>(std::max(1, req.nodes))) << "key " << p.key;
      EXPECT_EQ(p.node, p.shares[0].node);
      EXPECT_EQ(p.gpus, p.shares[0].gpus);
      EXPECT_FALSE(p.why.empty());
      std::set<std::string> distinct;
      for (const auto& s : p.shares) {
        ASSERT_TRUE(after.contains(s.node));
        EXPECT_TRUE(distinct.insert(s.node).second) << "key " << p.key << " twice on " << s.node;
        NodeSnapshot& n = after[s.node];
        ASSERT_EQ(s.gpus.size(), static_cast<size_t>(req.ask.gpus));
        for (int g : s.gpus) {
          auto it = std::find(n.free_gpus.begin(), n.free_gpus.end(), g);
          ASSERT_NE(it, n.free_gpus.end()) << s.node << " GPU " << g << " not free or handed out twice";
          n.free_gpus.erase(it);
        }
        n.free_cpus -= req.ask.cpus;
        EXPECT_GE(n.free_cpus, -1e-6) << s.node;
        ASSERT_GE(n.free_memory, req.ask.memory_bytes) << s.node;
        n.free_memory -= req.ask.memory_bytes;
      }
      ++placed_per_run[run];
    }
    for (size_t r = 0; r < w.runs.size(); ++r) {
      if (w.runs[r].max_parallel > 0) {
        EXPECT_LE(placed_per_run[r], std::max(0, w.runs[r].max_parallel - w.runs[r].active));
      }
    }
    for (const auto& [key, why] : d.waiting) {
      EXPECT_TRUE(decided.insert(key).second) << "key " << key << " decided twice";
      EXPECT_EQ(why.rfind("waiting: ", 0), 0u) << why;
      if (why.find("max_parallel") != std::string::npos) continue;
      // Waiting for resources: too few nodes have the ask free after the pass.
      const Request& req = w.asks.at(key).second;
      size_t fit = 0;
      for (const auto& [id, n] : after) fit += Fits(n, req.ask) ? 1 : 0;
      EXPECT_LT(fit, static_cast<size_t>(std::max(1, req.nodes))) << "key " << key << " waits but fits: " << why;
      if (req.nodes > 1 && !w.nodes.empty()) {
        // "waiting: K of N nodes with ...": K < N, and K counts nodes that have at least the whole ask free.
        const std::string of = " of " + std::to_string(req.nodes) + " nodes ";
        ASSERT_NE(why.find(of), std::string::npos) << why;
        const size_t k = std::stoul(why.substr(9, why.find(of) - 9));
        EXPECT_LT(k, static_cast<size_t>(req.nodes)) << why;
        EXPECT_GE(k, fit) << why;
      }
    }
    EXPECT_EQ(decided.size(), w.asks.size());
  }
}

TEST(GangProperty, Infeasible_ExactlyWhenAnEmptyClusterCannotPlaceIt) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 3000; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<NodeSnapshot> nodes;
    const int count = pick(1, 6);
    for (int i = 0; i < count; ++i)
      nodes.push_back(
          Node("n" + std::to_string(i), pick(0, 8), pick(1, 8) * 4, static_cast<uint64_t>(pick(0, 4)) * 64 * kGi));
    const Resources ask{static_cast<double>(pick(0, 40)), static_cast<uint64_t>(pick(0, 5)) * 64 * kGi, pick(0, 9)};
    const int gang = pick(1, 7);
    const auto why = Infeasible(nodes, ask, gang);
    const Decision d = Place(nodes, {Request{0, ask, gang}});
    EXPECT_EQ(why.has_value(), d.placed.empty()) << why.value_or("feasible");
    if (why && gang > 1) {
      EXPECT_EQ(why->rfind("asks for " + std::to_string(gang) + " nodes", 0), 0u) << *why;
    }
  }
}

}  // namespace
}  // namespace lattice::sched
