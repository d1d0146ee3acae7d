#include "model/cost.h"

#include <gtest/gtest.h>

namespace lattice {
namespace {

Node NodeWith(double cpus, int gpus) {
  Node n;
  n.cpus = cpus;
  for (int i = 0; i < gpus; ++i) n.gpus.push_back(Gpu{i, "A100", 0});
  return n;
}

TEST(NodeShare, IsTheGpusHeldOfTheNodesGpus) {
  EXPECT_DOUBLE_EQ(NodeShare(4, 2, NodeWith(96, 8)), 0.25);
  EXPECT_DOUBLE_EQ(NodeShare(4, 8, NodeWith(96, 8)), 1.0);
}

TEST(NodeShare, IsTheCpusAskedWithoutGpusAndNeverMoreThanTheNode) {
  EXPECT_DOUBLE_EQ(NodeShare(2, 0, NodeWith(8, 0)), 0.25);
  EXPECT_DOUBLE_EQ(NodeShare(2, 0, NodeWith(8, 4)), 0.25);  // a CPU-only experiment on a GPU node
  EXPECT_DOUBLE_EQ(NodeShare(64, 0, NodeWith(8, 0)), 1.0);
  EXPECT_DOUBLE_EQ(NodeShare(1, 0, NodeWith(0, 0)), 1.0);  // a node that reported no CPUs: all of it
}

TEST(AttemptCost, RunsFromItsStartToItsEndOrNow) {
  Attempt a;
  a.rate_per_hour = 3.0;
  a.started_at_ms = 1'000;
  EXPECT_DOUBLE_EQ(AttemptCost(a, 1'000 + 1'800'000), 1.5);  // running for half an hour
  a.ended_at_ms = 1'000 + 3'600'000;
  EXPECT_DOUBLE_EQ(AttemptCost(a, 99'000'000), 3.0);  // ended after an hour: no more accrues
  EXPECT_DOUBLE_EQ(AttemptCost(a, 99'000'000, 1'000 + 2'700'000), 0.75);  // only the part after `from`
  EXPECT_DOUBLE_EQ(AttemptCost(a, 99'000'000, 99'000'000), 0.0);
  Attempt unplaced;
  unplaced.rate_per_hour = 3.0;
  EXPECT_DOUBLE_EQ(AttemptCost(unplaced, 5'000'000), 0.0);
}

TEST(SummarizeDurations, GivesTheMedianNinetiethPercentileAndLongest) {
  const DurationSummary none = SummarizeDurations({});
  EXPECT_EQ(none.count, 0u);
  EXPECT_EQ(none.median_ms, 0);
  const DurationSummary s = SummarizeDurations({50, 10, 40, 20, 30, 60, 70, 80, 90, 100});
  EXPECT_EQ(s.count, 10u);
  EXPECT_EQ(s.median_ms, 60);  // the upper of the two middle ones
  EXPECT_EQ(s.p90_ms, 100);
  EXPECT_EQ(s.max_ms, 100);
  EXPECT_EQ(SummarizeDurations({7}).p90_ms, 7);
}

TEST(Month, StartsOnTheFirstAtMidnightUtc) {
  // 2026-11-26T19:53:48Z
  const int64_t t = 1795722828000;
  EXPECT_EQ(MonthName(t), "2026-11");
  EXPECT_EQ(MonthStartMs(t), 1793491200000);  // 2026-11-01T00:00:00Z
  EXPECT_EQ(MonthName(MonthStartMs(t) - 1), "2026-10");
  EXPECT_EQ(MonthStartMs(MonthStartMs(t)), MonthStartMs(t));
}

TEST(FormatMoney, ShowsCentsThousandsAndFractionsOfACent) {
  EXPECT_EQ(FormatMoney(12.345), "$12.35");
  EXPECT_EQ(FormatMoney(0), "$0.00");
  EXPECT_EQ(FormatMoney(0.0042), "$0.0042");
  EXPECT_EQ(FormatMoney(1234.5), "$1,234.50");
  EXPECT_EQ(FormatMoney(1234567.0), "$1,234,567.00");
  EXPECT_EQ(FormatMoney(-3), "-$3.00");
}

TEST(ParseUtcTime, TakesADateOrAUtcTimestamp) {
  EXPECT_EQ(*ParseUtcTime("2026-11-01", "since"), 1793491200000);
  EXPECT_EQ(*ParseUtcTime("2026-11-01T00:00:00Z", "since"), 1793491200000);
  EXPECT_EQ(*ParseUtcTime("2026-11-01T01:02Z", "since"), 1793491200000 + 3'720'000);
  EXPECT_EQ(*ParseUtcTime("2026-11-01T00:00:01.250Z", "since"), 1793491201000);  // the fraction is dropped
}

TEST(ParseUtcTime, RefusesWhatIsNotOneNamingTheField) {
  for (const char* bad : {"", "2026", "2026-13-01", "2026-02-30", "26-11-01", "2026-11-01T25:00Z", "2026-11-01T",
                          "2026-11-01 12:00:00", "2026-11-01T12:00:00", "2026-11-01T12:00:00+01:00", "1969-12-31",
                          "2026-11-01T12:00:00.Z", "yesterday"}) {
    auto r = ParseUtcTime(bad, "since");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().field, "since");
    EXPECT_NE(r.error().message.find("like 2026-11-01"), std::string::npos);
  }
}

}  // namespace
}  // namespace lattice
