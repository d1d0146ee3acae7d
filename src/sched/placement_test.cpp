#include "sched/placement.h"
#include "sched/test_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace lattice::sched {
namespace {

using ::testing::ElementsAre;
using namespace ::lattice::sched::testing;
using ::testing::HasSubstr;


// The same node with only the given GPU indices free.
NodeSnapshot WithFreeGpus(NodeSnapshot n, std::vector<int> free) {
  n.free_gpus = std::move(free);
  return n;
}

Request Ask(size_t key, int gpus, double cpus = 1, uint64_t mem = 0) { return Request{key, Resources{cpus, mem, gpus}}; }

// --- best fit ----------------------------------------------------------------------

TEST(Place, BestFit_PrefersPartlyUsedNodeAndKeepsWholeNodeFree) {
  std::vector<NodeSnapshot> nodes = {Node("empty", 8), WithFreeGpus(Node("busy", 8), {6, 7})};
  Decision d = Place(nodes, {Ask(0, 2)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].node, "busy");
  EXPECT_THAT(d.placed[0].gpus, ElementsAre(6, 7));
  // The whole node is still there for an 8-GPU ask.
  Decision d2 = Place(nodes, {Ask(0, 2), Ask(1, 8)});
  ASSERT_EQ(d2.placed.size(), 2u);
  EXPECT_EQ(Find(d2, 1)->node, "empty");
}

TEST(Place, BestFit_SmallAskGoesToSmallestNodeThatFits) {
  Decision d = Place({Node("big", 8), Node("small", 1), Node("mid", 4)}, {Ask(0, 1)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].node, "small");
}

TEST(Place, CpuOnlyAsk_AvoidsGpuNodes) {
  Decision d = Place({Node("gpu", 8, 64), Node("cpu", 0, 16)}, {Ask(0, 0, 4)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].node, "cpu");
}

TEST(Place, EqualGpus_TieBrokenByFewestFreeCpus) {
  Decision d = Place({Node("roomy", 2, 64), Node("tight", 2, 8)}, {Ask(0, 1, 4)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].node, "tight");
}

TEST(Place, TiesOtherwise_FirstNodeInInputOrder) {
  Decision d = Place({Node("a", 4), Node("b", 4)}, {Ask(0, 1)});
  EXPECT_EQ(d.placed[0].node, "a");
}

// --- GPUs handed out by index, never shared ---------------------------------------------

TEST(Place, Gpus_HandedOutInAscendingIndexOrder) {
  Decision d = Place({Node("n", 4)}, {Ask(0, 2), Ask(1, 2)});
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_THAT(Find(d, 0)->gpus, ElementsAre(0, 1));
  EXPECT_THAT(Find(d, 1)->gpus, ElementsAre(2, 3));
}

TEST(Place, Gpus_UseTheNodesOwnIndicesNotPositions) {
  Decision d = Place({WithFreeGpus(Node("n", 8), {1, 4, 5})}, {Ask(0, 2), Ask(1, 1)});
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_THAT(Find(d, 0)->gpus, ElementsAre(1, 4));
  EXPECT_THAT(Find(d, 1)->gpus, ElementsAre(5));
}

TEST(Place, Gpus_NeverSharedAcrossPlacements) {
  std::vector<Request> queue;
  for (size_t i = 0; i < 10; ++i) queue.push_back(Ask(i, 1 + static_cast<int>(i % 3)));
  Decision d = Place({Node("a", 8), Node("b", 4), WithFreeGpus(Node("c", 8), {0, 2, 4, 6})}, queue);
  std::set<std::pair<std::string, int>> used;
  for (const auto& p : d.placed) {
    EXPECT_EQ(p.gpus.size(), static_cast<size_t>(queue[p.key].ask.gpus));
    for (int g : p.gpus) EXPECT_TRUE(used.insert({p.node, g}).second) << p.node << " GPU " << g << " twice";
  }
  EXPECT_EQ(d.placed.size() + d.waiting.size(), queue.size());
}

TEST(Place, ZeroGpuAsk_GetsNoGpus) {
  Decision d = Place({Node("n", 4)}, {Ask(0, 0)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_TRUE(d.placed[0].gpus.empty());
}

// --- CPUs and memory -----------------------------------------------------------------------

TEST(Place, CpusAndMemory_AccountedAcrossPlacements) {
  Decision d = Place({Node("n", 0, 4, 8 * kGi)}, {Ask(0, 0, 2, 3 * kGi), Ask(1, 0, 2, 3 * kGi), Ask(2, 0, 0.5, 0)});
  EXPECT_NE(Find(d, 0), nullptr);
  EXPECT_NE(Find(d, 1), nullptr);
  EXPECT_EQ(Find(d, 2), nullptr);
  EXPECT_EQ(WaitingReason(d, 2), "waiting: 0 of 0.5 CPUs free on 1 node");
}

TEST(Place, FractionalCpus_SumExactlyToTheNode) {
  // 0.1 * 10 is not exactly 1.0 in binary; the epsilon must let all ten fit.
  std::vector<Request> q;
  for (size_t i = 0; i < 10; ++i) q.push_back(Ask(i, 0, 0.1));
  Decision d = Place({Node("n", 0, 1)}, q);
  EXPECT_EQ(d.placed.size(), 10u);
}

// --- order and waiting reasons -----------------------------------------------------------

TEST(Place, QueueOrder_EarlierAskServedFirst) {
  Decision d = Place({Node("n", 4)}, {Ask(0, 4), Ask(1, 1)});
  ASSERT_NE(Find(d, 0), nullptr);
  EXPECT_EQ(Find(d, 1), nullptr);
  EXPECT_EQ(WaitingReason(d, 1), "waiting: 0 of 1 GPU free on 1 node");
}

TEST(Place, BigAskWaiting_DoesNotBlockSmallerOnesBehindIt) {
  // No reservations: a small ask may overtake a big one that does not fit now.
  Decision d = Place({Node("n", 4)}, {Ask(0, 8), Ask(1, 1)});
  EXPECT_EQ(Find(d, 0), nullptr);
  ASSERT_NE(Find(d, 1), nullptr);
  // Reasons describe what is free once this pass's placements start.
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 3 of 8 GPUs free on 1 node");
}

TEST(Place, WaitingReason_GpusAcrossSeveralNodes) {
  std::vector<NodeSnapshot> nodes = {WithFreeGpus(Node("a", 8), {}), WithFreeGpus(Node("b", 8), {}),
                                     WithFreeGpus(Node("c", 8), {})};
  Decision d = Place(nodes, {Ask(0, 4)});
  ASSERT_EQ(d.waiting.size(), 1u);
  EXPECT_EQ(d.waiting[0].first, 0u);
  EXPECT_EQ(d.waiting[0].second, "waiting: 0 of 4 GPUs free on 3 nodes");
}

TEST(Place, WaitingReason_ReportsTheBestSingleNode) {
  Decision d = Place({WithFreeGpus(Node("a", 8), {0, 1}), WithFreeGpus(Node("b", 8), {0, 1, 2})}, {Ask(0, 4)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 3 of 4 GPUs free on 2 nodes");
}

TEST(Place, WaitingReason_NoNodes) {
  Decision d = Place({}, {Ask(0, 1), Ask(1, 0)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: no nodes are connected");
  EXPECT_EQ(WaitingReason(d, 1), "waiting: no nodes are connected");
}

TEST(Place, WaitingReason_Memory) {
  Decision d = Place({Node("n", 0, 8, 1 * kGi)}, {Ask(0, 0, 1, 2 * kGi)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 1 GiB of 2 GiB memory free on 1 node");
}

TEST(Place, WaitingReason_ResourcesSplitAcrossNodes) {
  // One node has the GPUs, another the CPUs; neither has both.
  Decision d = Place({Node("gpus", 4, 2), Node("cpus", 0, 64)}, {Ask(0, 2, 16)});
  EXPECT_EQ(WaitingReason(d, 0), "waiting: no single node has all of it free on 2 nodes");
}

TEST(Place, EmptyQueue_EmptyDecision) {
  Decision d = Place({Node("n", 4)}, std::vector<Request>{});
  EXPECT_TRUE(d.placed.empty());
  EXPECT_TRUE(d.waiting.empty());
}

TEST(Place, Pure_InputSnapshotsUntouched) {
  std::vector<NodeSnapshot> nodes = {Node("n", 4)};
  (void)Place(nodes, {Ask(0, 4)});
  EXPECT_EQ(nodes[0].free_gpus.size(), 4u);
  EXPECT_EQ(nodes[0].free_cpus, 32);
}

// --- infeasible asks ---------------------------------------------------------------------

TEST(Infeasible, MoreGpusThanAnyNode_SaysLargestNode) {
  auto why = Infeasible({Node("a", 8), Node("b", 4)}, Resources{1, 0, 16});
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "asks for 16 GPUs; the largest node has 8");
}

TEST(Infeasible, MoreCpusThanAnyNode) {
  auto why = Infeasible({Node("a", 0, 32), Node("b", 0, 16)}, Resources{64, 0, 0});
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "asks for 64 CPUs; the largest node has 32");
  why = Infeasible({Node("a", 0, 1.5)}, Resources{2.25, 0, 0});
  EXPECT_EQ(*why, "asks for 2.25 CPUs; the largest node has 1.5");
}

TEST(Infeasible, MoreMemoryThanAnyNode) {
  auto why = Infeasible({Node("a", 0, 8, 64 * kGi)}, Resources{1, 512 * kGi, 0});
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "asks for 512 GiB of memory; the largest node has 64 GiB");
}

TEST(Infeasible, NoSingleNodeHasAllOfIt_CpusPrintedPlainly) {
  auto why = Infeasible({Node("gpus", 8, 4), Node("cpus", 0, 64)}, Resources{32, 0, 8});
  ASSERT_TRUE(why.has_value());
  EXPECT_THAT(*why, HasSubstr("no single node has all of 8 GPUs, 32 CPUs"));
}

TEST(Infeasible, FitsSomewhereOrNoNodesYet_Nullopt) {
  EXPECT_FALSE(Infeasible({Node("a", 8)}, Resources{32, 256 * kGi, 8}).has_value());
  EXPECT_FALSE(Infeasible({}, Resources{1000, 0, 1000}).has_value());  // nodes may still join
}

TEST(Infeasible, UsesTotalsNotWhatIsFreeNow) {
  EXPECT_FALSE(Infeasible({WithFreeGpus(Node("busy", 8), {})}, Resources{1, 0, 8}).has_value());
}

}  // namespace
}  // namespace lattice::sched
