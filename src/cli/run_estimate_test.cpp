#include "cli/run_estimate.h"

#include <gtest/gtest.h>

namespace lattice::cli {
namespace {

RunEstimate Sweep() {
  RunEstimate e;
  e.experiments = 6;
  e.nodes = 2;
  e.price = PriceQuote{5.672, 2.0, "g5.12xlarge, aws"};
  e.duration = DurationQuote{2 * 3'600'000, "--max-duration"};
  return e;
}

TEST(RunEstimate, IsExperimentsTimesNodesTimesPriceTimesDuration) {
  Json j = RunEstimateJson(Sweep());
  EXPECT_DOUBLE_EQ(j["node_hours"].get<double>(), 24.0);
  EXPECT_DOUBLE_EQ(j["on_demand"].get<double>(), 24 * 5.672);
  EXPECT_DOUBLE_EQ(j["spot"].get<double>(), 48.0);
  std::string text = DescribeRunEstimate(Sweep());
  EXPECT_NE(text.find("6 experiments × 2 nodes × 2h (--max-duration) = 24 node-hours"), std::string::npos) << text;
  EXPECT_NE(text.find("on-demand: $136.13 at $5.67/node-hour (g5.12xlarge, aws)"), std::string::npos) << text;
  EXPECT_NE(text.find("spot:      $48.00 at $2.00/node-hour"), std::string::npos) << text;
}

TEST(RunEstimate, SaysHowFarMaxCostGoes) {
  RunEstimate e = Sweep();
  e.max_cost = 50;  // each experiment: $22.69 on-demand
  EXPECT_NE(DescribeRunEstimate(e).find("--max-cost $50.00 stops it after about 2 of 6 experiments"),
            std::string::npos);
}

TEST(RunEstimate, UnknownPartsAreSaidAndNull) {
  RunEstimate e = Sweep();
  e.duration.reset();
  EXPECT_NE(DescribeRunEstimate(e).find("no duration known: give --max-duration"), std::string::npos);
  Json j = RunEstimateJson(e);
  EXPECT_TRUE(j["on_demand"].is_null());
  EXPECT_DOUBLE_EQ(j["per_node_hour"]["on_demand"].get<double>(), 5.672);
  e.price.reset();
  e.note = "no server is running";
  EXPECT_EQ(DescribeRunEstimate(e), "estimate: no price known (no server is running)\n");
  e.price = PriceQuote{1.0, std::nullopt, "cluster local's price"};
  e.duration = DurationQuote{1'800'000, "the median of 3 earlier experiments of train.py"};
  EXPECT_NE(DescribeRunEstimate(e).find("spot:      not offered"), std::string::npos);
  EXPECT_NE(DescribeRunEstimate(e).find("30min"), std::string::npos);
  EXPECT_TRUE(RunEstimateJson(e)["spot"].is_null());
}

}  // namespace
}  // namespace lattice::cli
