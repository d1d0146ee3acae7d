// NodeIndex on its own: best fit across buckets, bookkeeping after Take.
#include "sched/node_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lattice::sched {
namespace {

using ::testing::ElementsAre;

NodeSnapshot Node(const std::string& id, std::vector<int> free_gpus, double cpus, uint64_t mem = 1000) {
  NodeSnapshot n;
  n.id = id;
  n.total = Resources{cpus, mem, 8};
  n.free_cpus = cpus;
  n.free_memory = mem;
  n.free_gpus = std::move(free_gpus);
  return n;
}

TEST(NodeIndex, BestFit_FewestFreeGpusThenFewestCpus) {
  NodeIndex idx({Node("eight", {0, 1, 2, 3, 4, 5, 6, 7}, 4), Node("two-roomy", {0, 1}, 64), Node("two-tight", {3, 4}, 8),
                 Node("one", {5}, 2)});
  EXPECT_EQ(idx.BestFit(Resources{4, 0, 2}), 2u);   // two-tight
  EXPECT_EQ(idx.BestFit(Resources{16, 0, 2}), 1u);  // only two-roomy has the CPUs
  EXPECT_EQ(idx.BestFit(Resources{1, 0, 1}), 3u);   // one
  EXPECT_EQ(idx.BestFit(Resources{65, 0, 0}), std::nullopt);
}

TEST(NodeIndex, BestFit_WalksPastNodesShortOfMemory) {
  NodeIndex idx({Node("small-mem", {0}, 2, 10), Node("big-mem", {0}, 4, 100)});
  EXPECT_EQ(idx.BestFit(Resources{1, 50, 1}), 1u);
  EXPECT_EQ(idx.BestFit(Resources{1, 500, 1}), std::nullopt);
}

TEST(NodeIndex, Take_MovesNodeToItsNewBucket) {
  NodeIndex idx({Node("a", {0, 1, 2, 3}, 8), Node("b", {0, 1}, 8)});
  EXPECT_THAT(idx.Take(0, Resources{1, 0, 3}), ElementsAre(0, 1, 2));
  EXPECT_THAT(idx.node(0).free_gpus, ElementsAre(3));
  EXPECT_EQ(idx.node(0).free_cpus, 7);
  EXPECT_EQ(idx.BestFit(Resources{1, 0, 1}), 0u);  // a now has 1 free: best fit
  EXPECT_EQ(idx.BestFit(Resources{1, 0, 3}), std::nullopt);
  const FreeMaxima m = idx.Maxima();
  EXPECT_EQ(m.nodes, 2u);
  EXPECT_EQ(m.gpus, 2u);
  EXPECT_EQ(m.cpus, 8);
}

TEST(NodeIndex, BestFits_FirstNOfTheBestFitOrder_AllOrNothing) {
  NodeIndex idx({Node("eight", {0, 1, 2, 3, 4, 5, 6, 7}, 4), Node("two-roomy", {0, 1}, 64), Node("two-tight", {3, 4}, 8),
                 Node("one", {5}, 2), Node("two-no-mem", {0, 1}, 8, 10)});
  EXPECT_THAT(idx.BestFits(Resources{1, 0, 2}, 3), ElementsAre(2, 4, 1));
  EXPECT_THAT(idx.BestFits(Resources{1, 0, 1}, 2), ElementsAre(3, 2));
  EXPECT_THAT(idx.BestFits(Resources{1, 500, 2}, 3), ElementsAre(2, 1, 0));  // walks past two-no-mem
  EXPECT_TRUE(idx.BestFits(Resources{1, 500, 2}, 4).empty());
  EXPECT_TRUE(idx.BestFits(Resources{1, 0, 1}, 0).empty());
  EXPECT_TRUE(idx.BestFits(Resources{1, 0, -1}, 1).empty());
}

TEST(NodeIndex, CountFit_StopsAtTheLimit) {
  NodeIndex idx({Node("a", {0, 1}, 8), Node("b", {0}, 8), Node("c", {0, 1}, 2), Node("d", {}, 8)});
  EXPECT_EQ(idx.CountFit(Resources{1, 0, 1}, 10), 3u);
  EXPECT_EQ(idx.CountFit(Resources{1, 0, 1}, 2), 2u);
  EXPECT_EQ(idx.CountFit(Resources{4, 0, 1}, 10), 2u);
  EXPECT_EQ(idx.CountFit(Resources{1, 0, 2}, 10), 2u);
  EXPECT_EQ(idx.CountFit(Resources{0, 0, 0}, 10), 4u);
  EXPECT_EQ(idx.CountFit(Resources{0, 0, 0}, 0), 0u);
}

TEST(NodeIndex, NegativeGpuAsk_NeverFits) { EXPECT_EQ(NodeIndex({Node("a", {0}, 1)}).BestFit(Resources{1, 0, -1}), std::nullopt); }

}  // namespace
}  // namespace lattice::sched
