#include "agent/rank_output.h"

#include <gtest/gtest.h>

namespace lattice::agent {
namespace {

TEST(RankLinesTest, PrefixesEveryCompleteLineAndHoldsThePartialOne) {
  RankLines lines(3);
  std::string out;
  lines.Feed("a\nb", &out);
  EXPECT_EQ(out, "[rank 3] a\n");
  lines.Feed("c\n\nd", &out);
  EXPECT_EQ(out, "[rank 3] a\n[rank 3] bc\n[rank 3] \n");
  lines.Finish(&out);
  EXPECT_EQ(out, "[rank 3] a\n[rank 3] bc\n[rank 3] \n[rank 3] d\n");
}

TEST(RankLinesTest, AVeryLongLineIsCutInsteadOfHeldForever) {
  RankLines lines(0);
  std::string out;
  lines.Feed(std::string(RankLines::kMaxLine + 10, 'x'), &out);
  EXPECT_EQ(out.size(), RankPrefix(0).size() + RankLines::kMaxLine + 10 + 1);
  lines.Finish(&out);  // nothing held
  EXPECT_EQ(out.back(), '\n');
}

TEST(RankLinesTest, TorchrunWorkerLinesGetTheirGlobalRankAndItsOwnLinesTheNode) {
  RankLines lines(-1, /*torchrun_base=*/4, /*node_rank=*/2);
  std::string out;
  lines.Feed("[default1]:loss 0.5\nWARNING: something\n[default]:odd\n", &out);
  EXPECT_EQ(out, "[rank 5] loss 0.5\n[node 2] WARNING: something\n[node 2] [default]:odd\n");
}

TEST(RankOfLineTest, ReadsThePrefixAndRejectsLookalikes) {
  size_t n = 0;
  EXPECT_EQ(RankOfLine("[rank 12] hello", &n), 12);
  EXPECT_EQ(n, 10u);
  EXPECT_EQ(RankOfLine("lattice: restored"), -1);
  EXPECT_EQ(RankOfLine("[rank ] x"), -1);
  EXPECT_EQ(RankOfLine("[rank -1] x"), -1);
  EXPECT_EQ(RankOfLine("[rank 1x] x"), -1);
  EXPECT_EQ(RankOfLine("[rank 99999999999999] x"), -1);
  EXPECT_EQ(RankOfLine("[rank 1]x"), -1);
}

}  // namespace
}  // namespace lattice::agent
