#include "estimate/suggest.h"

#include <gtest/gtest.h>

namespace lattice::estimate {
namespace {

const std::vector<std::string> kNames = {"g5.xlarge", "g5.2xlarge", "g5.12xlarge", "g4dn.xlarge", "p4d.24xlarge",
                                         "p4de.24xlarge", "p5.48xlarge", "Standard_NC6s_v3"};

TEST(SuggestTest, EditDistanceIsCaseInsensitive) {
  EXPECT_EQ(EditDistance("g5.xlarg", "g5.xlarge"), 1u);
  EXPECT_EQ(EditDistance("G5.XLARGE", "g5.xlarge"), 0u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
}

TEST(SuggestTest, ATypoGetsTheNearestName) {
  EXPECT_EQ(ClosestNames("g5.xlarg", kNames).front(), "g5.xlarge");
  EXPECT_EQ(ClosestNames("g5.xlrage", kNames).front(), "g5.xlarge");
  EXPECT_EQ(ClosestNames("standard_nc6s_v2", kNames).front(), "Standard_NC6s_v3");
  EXPECT_EQ(DidYouMean(ClosestNames("g5.xlarg", kNames, 1)), "did you mean g5.xlarge?");
}

TEST(SuggestTest, AFamilyPrefixListsItsMembersShortestFirst) {
  EXPECT_EQ(ClosestNames("p4d", kNames), (std::vector<std::string>{"p4d.24xlarge", "p4de.24xlarge"}));
  EXPECT_EQ(DidYouMean({"p4d.24xlarge", "p4de.24xlarge"}), "did you mean one of p4d.24xlarge, p4de.24xlarge?");
}

TEST(SuggestTest, NothingCloseGivesNothing) {
  EXPECT_TRUE(ClosestNames("tpu-v5", kNames).empty());
  EXPECT_TRUE(ClosestNames("", kNames).empty());
  EXPECT_EQ(DidYouMean({}), "");
  EXPECT_LE(ClosestNames("g", kNames).size(), 5u);
}

}  // namespace
}  // namespace lattice::estimate
