// Place() over RunQueues: priorities, fairness between runs, max_parallel,
// packing and waiting reasons, checked through the public API only.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "sched/fair_queue.h"
#include "sched/placement.h"
#include "sched/test_util.h"

namespace lattice::sched {
namespace {

using ::testing::ElementsAre;
using namespace ::lattice::sched::testing;


// A run of count experiments asking gpus GPUs each; keys start at first_key.
RunQueue RunOf(const std::string& name, size_t first_key, size_t count, int gpus, int priority = 0,
             int64_t submitted = 0) {
  RunQueue r;
  r.run = name;
  r.priority = priority;
  r.submitted_at_ms = submitted;
  for (size_t i = 0; i < count; ++i) r.queued.push_back(Request{first_key + i, Resources{1, 0, gpus}});
  return r;
}

TEST(Fairness, OneExperimentRunAfterHugeSweep_PlacedInFirstPassWithRoom) {
  // The sweep was submitted first and could fill the cluster alone.
  std::vector<RunQueue> runs = {RunOf("sweep", 0, 10000, 1, 0, 100), RunOf("solo", 10000, 1, 1, 0, 200)};
  Decision d = Place({Node("n", 4)}, runs);
  EXPECT_EQ(d.placed.size(), 4u);
  EXPECT_NE(Find(d, 10000), nullptr);
  EXPECT_EQ(d.placed.size() + d.waiting.size(), 10001u);
}

TEST(Fairness, SweepAlreadyHoldingGpus_NewRunGoesFirst) {
  std::vector<RunQueue> runs = {RunOf("sweep", 0, 10, 1, 0, 100), RunOf("late", 10, 2, 1, 0, 200)};
  runs[0].active = 3;
  Decision d = Place({Node("n", 2)}, runs);
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_NE(Find(d, 10), nullptr);
  EXPECT_NE(Find(d, 11), nullptr);
}

TEST(Fairness, EqualRuns_AlternateStartingWithEarlierSubmitted) {
  std::vector<RunQueue> runs = {RunOf("b", 100, 3, 1, 0, 20), RunOf("a", 0, 3, 1, 0, 10)};
  Decision d = Place({Node("n", 4)}, runs);
  std::vector<size_t> keys;
  for (const auto& p : d.placed) keys.push_back(p.key);
  EXPECT_THAT(keys, ElementsAre(0, 100, 1, 101));
}

TEST(Fairness, DominantShare_GpuHeavyRunGetsFewerExperiments) {
  // 8 GPUs: a run of 4-GPU asks and a run of 1-GPU asks. By GPUs held they
  // alternate: 4 GPUs to "big", then 1-GPU asks until "small" holds 4, ...
  std::vector<RunQueue> runs = {RunOf("big", 0, 10, 4, 0, 1), RunOf("small", 100, 10, 1, 0, 2)};
  Decision d = Place({Node("n", 8, 64)}, runs);
  int big = 0, small = 0;
  for (const auto& p : d.placed) (p.key < 100 ? big : small) += static_cast<int>(p.gpus.size());
  EXPECT_EQ(big, 4);
  EXPECT_EQ(small, 4);
}

TEST(Fairness, DominantShareIsLargestFraction) {
  EXPECT_DOUBLE_EQ(DominantShare(Resources{8, 0, 1}, Resources{16, 0, 8}), 0.5);
  EXPECT_DOUBLE_EQ(DominantShare(Resources{1, 0, 4}, Resources{16, 0, 8}), 0.5);
  EXPECT_DOUBLE_EQ(DominantShare(Resources{1, 0, 4}, Resources{0, 0, 0}), 0.0);
}

TEST(Priority, HigherPriorityFirstEvenIfSubmittedLater) {
  std::vector<RunQueue> runs = {RunOf("low", 0, 4, 1, 0, 1), RunOf("high", 100, 4, 1, 5, 2)};
  Decision d = Place({Node("n", 4)}, runs);
  ASSERT_EQ(d.placed.size(), 4u);
  for (const auto& p : d.placed) EXPECT_GE(p.key, 100u);
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 0 of 1 GPU free on 1 node");
}

TEST(Priority, WithinARun_ExperimentOrder) {
  Decision d = Place({Node("n", 2)}, {RunOf("r", 0, 5, 1)});
  std::vector<size_t> keys;
  for (const auto& p : d.placed) keys.push_back(p.key);
  EXPECT_THAT(keys, ElementsAre(0, 1));
}

TEST(Priority, HighPriorityAskThatDoesNotFit_LowerOnesStillUseTheRoom) {
  std::vector<RunQueue> runs = {RunOf("high", 0, 1, 8, 5), RunOf("low", 100, 2, 1, 0)};
  Decision d = Place({Node("n", 4)}, runs);
  EXPECT_EQ(WaitingReason(d, 0), "waiting: 2 of 8 GPUs free on 1 node");  // after low's two start
  EXPECT_NE(Find(d, 100), nullptr);
}

TEST(MaxParallel, Honoured_CountingActive) {
  std::vector<RunQueue> runs = {RunOf("r", 0, 10, 1)};
  runs[0].max_parallel = 3;
  runs[0].active = 1;
  Decision d = Place({Node("n", 8)}, runs);
  EXPECT_EQ(d.placed.size(), 2u);
  EXPECT_EQ(WaitingReason(d, 5), "waiting: the run already has max_parallel 3 active");
  EXPECT_EQ(d.waiting.size(), 8u);
}

TEST(MaxParallel, AlreadyAtLimit_NothingPlaced_OthersUnaffected) {
  std::vector<RunQueue> runs = {RunOf("full", 0, 4, 1), RunOf("other", 100, 2, 1)};
  runs[0].max_parallel = 2;
  runs[0].active = 5;  // over the limit (limit lowered after start): still nothing new
  Decision d = Place({Node("n", 8)}, runs);
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_NE(Find(d, 100), nullptr);
  EXPECT_NE(Find(d, 101), nullptr);
}

TEST(Packing, TwoFourGpuAsks_ShareOneNode_KeepingTheOtherWhole) {
  Decision d = Place({Node("a", 8), Node("b", 8)}, {RunOf("r", 0, 2, 4)});
  ASSERT_EQ(d.placed.size(), 2u);
  EXPECT_EQ(d.placed[0].node, d.placed[1].node);
  EXPECT_THAT(d.placed[0].gpus, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(d.placed[1].gpus, ElementsAre(4, 5, 6, 7));
  // So an 8-GPU ask behind them still fits.
  Decision d2 = Place({Node("a", 8), Node("b", 8)}, {RunOf("r", 0, 2, 4), RunOf("whole", 10, 1, 8, 0, 1)});
  EXPECT_EQ(d2.placed.size(), 3u);
}

TEST(Packing, MixedAsksFillEveryGpu) {
  // 4 nodes x 8 GPUs = 32; asks 8+4+4+2+2+2+2+1*8 = 32 in an unfriendly order.
  std::vector<RunQueue> runs = {RunOf("ones", 0, 8, 1, 0, 1), RunOf("twos", 100, 4, 2, 0, 2),
                                RunOf("fours", 200, 2, 4, 0, 3), RunOf("eight", 300, 1, 8, 0, 4)};
  Decision d = Place({Node("a", 8), Node("b", 8), Node("c", 8), Node("d", 8)}, runs);
  int gpus = 0;
  for (const auto& p : d.placed) gpus += static_cast<int>(p.gpus.size());
  EXPECT_EQ(gpus, 32);
}

TEST(Explain, PlacementSaysWhyThisNode) {
  Decision d = Place({Node("n3", 8)}, {RunOf("r", 0, 1, 8)});
  ASSERT_EQ(d.placed.size(), 1u);
  EXPECT_EQ(d.placed[0].why, "best fit: leaves 0 of 8 GPUs free on n3");
}

TEST(Reasons, SameShapeTail_AllGetTheReason_LargerShapesToo) {
  std::vector<RunQueue> runs = {RunOf("ones", 0, 1000, 1, 0, 1), RunOf("fours", 5000, 10, 4, 0, 2)};
  Decision d = Place({Node("a", 4), Node("b", 4)}, runs);
  EXPECT_EQ(d.placed.size() + d.waiting.size(), 1010u);
  std::set<size_t> seen;
  for (const auto& [k, why] : d.waiting) {
    EXPECT_TRUE(seen.insert(k).second);
    EXPECT_EQ(why.rfind("waiting: 0 of ", 0), 0u) << why;
  }
}

TEST(Reasons, NoRunsOrEmptyRuns_EmptyDecision) {
  EXPECT_TRUE(Place({Node("n", 4)}, std::vector<RunQueue>{}).placed.empty());
  Decision d = Place({Node("n", 4)}, {RunOf("empty", 0, 0, 1)});
  EXPECT_TRUE(d.placed.empty());
  EXPECT_TRUE(d.waiting.empty());
}

}  // namespace
}  // namespace lattice::sched
