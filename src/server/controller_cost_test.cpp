// What attempts cost and the limits on it in the controller: the rate fixed
// at placement (price per node-hour x the node's share held), spend per run
// and cluster, --max-cost (stop before the grace period would pass it; no
// start that would pass it over --max-duration or the script's usual
// duration), the clusters' monthly budgets, and --max-duration.
#include <gmock/gmock.h>

#include "server/controller_test_util.h"

namespace lattice::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class CostTest : public ControllerTest {
 protected:
  void PriceLocal(double per_node_hour, double monthly_budget = 0) {
    Cluster local = *c().FindCluster("local");
    local.price_per_node_hour = per_node_hour;
    local.monthly_budget = monthly_budget;
    auto r = c().UpdateCluster(local);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // A run of `experiments` experiments, each asking `cpus` CPUs.
  void SubmitLimited(const std::string& name, int experiments, double max_cost, int64_t max_duration_ms = 0,
                     double cpus = 1) {
    SubmitRequest req;
    req.name = name;
    req.spec.script = "train.py";
    req.spec.snapshot = kSnapshot;
    req.spec.resources.cpus = cpus;
    req.spec.max_cost = max_cost;
    req.spec.max_duration_ms = max_duration_ms;
    req.spec.grace_ms = 1000;
    req.spec.user = "ada";
    for (int i = 0; i < experiments; ++i) req.experiments.push_back({{"--seed", std::to_string(i)}, {}});
    auto r = c().Submit(std::move(req), rng_);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Lets `ms` pass in steps of a second, the node's agent reporting the
  // attempt running (so the node is not lost), the reconciler ticking.
  void Hold(const std::string& node, int64_t attempt, int64_t ms) {
    for (int64_t done = 0; done < ms; done += 100) {
      clock_.Advance(std::min<int64_t>(100, ms - done));
      if ((done / 100) % 10 == 9) Sync(node, {Running(attempt)});
    }
    Sync(node, {Running(attempt)});
    c().Tick();
  }
};

TEST_F(CostTest, AnAttemptCostsThePriceTimesTheShareOfTheNodeItHolds) {
  PriceLocal(8.0);
  Register("n1", {0, 1, 2, 3});
  int64_t id = StartRunning("r", "n1", /*gpus=*/1);
  EXPECT_DOUBLE_EQ(c().FindAttempt(id)->rate_per_hour, 2.0);  // 1 of 4 GPUs of an $8 node
  clock_.Advance(30 * 60 * 1000);
  auto spend = c().RunSpend(*c().FindRun("r"));
  EXPECT_DOUBLE_EQ(spend.cost, 1.0);
  EXPECT_DOUBLE_EQ(spend.rate_per_hour, 2.0);
  EXPECT_DOUBLE_EQ(spend.gpu_hours, 0.5);
  Report("n1", {Exited(id, 0)});
  clock_.Advance(60 * 60 * 1000);  // nothing accrues after the end
  spend = c().RunSpend(*c().FindRun("r"));
  EXPECT_DOUBLE_EQ(spend.cost, 1.0);
  EXPECT_DOUBLE_EQ(spend.rate_per_hour, 0.0);
  EXPECT_DOUBLE_EQ(c().SpendBy("cluster", 0).at("local").cost, 1.0);
}

TEST_F(CostTest, TheRateIsFixedAtPlacementAndSurvivesARestart) {
  PriceLocal(8.0);
  Register("n1", {0, 1});
  int64_t id = StartRunning("r", "n1", 1);
  PriceLocal(100.0);  // a new price applies to new attempts only
  EXPECT_DOUBLE_EQ(c().FindAttempt(id)->rate_per_hour, 4.0);
  Restart();
  EXPECT_DOUBLE_EQ(c().FindAttempt(id)->rate_per_hour, 4.0);
  EXPECT_DOUBLE_EQ(c().FindCluster("local")->price_per_node_hour, 100.0);
}

TEST_F(CostTest, AFreeClusterCostsNothing) {
  Register("n1", {0});
  int64_t id = StartRunning("r", "n1", 1);
  clock_.Advance(3'600'000);
  EXPECT_DOUBLE_EQ(c().FindAttempt(id)->rate_per_hour, 0.0);
  EXPECT_DOUBLE_EQ(c().RunSpend(*c().FindRun("r")).cost, 0.0);
}

TEST_F(CostTest, MaxCost_StopsRunningExperimentsWhileTheGracePeriodStillFits) {
  PriceLocal(3600.0);  // $1 a second for the whole (1-CPU) node
  Register("n1", {}, /*cpus=*/1);
  SubmitLimited("r", 2, /*max_cost=*/10);
  int64_t id = CurrentId("r", 0);
  Sync("n1", {Running(id)});
  Hold("n1", id, 8'500);
  EXPECT_FALSE(Exp("r").cancel_requested);  // $8.50 + $1 of grace < $10
  Hold("n1", id, 600);
  EXPECT_TRUE(Exp("r").cancel_requested);
  EXPECT_THAT(Exp("r").reason, HasSubstr("the run's cost $9.10 would pass its --max-cost $10.00 within the 1s grace period"));
  EXPECT_EQ(Exp("r", 1).state, ExperimentState::kCancelled);  // the queued one never starts
  EXPECT_THAT(Exp("r", 1).reason, StartsWith("not started: the run's cost"));
  auto work = Sync("n1", {Running(id)});
  EXPECT_EQ(work.cancel, std::vector<int64_t>{id});  // SIGTERM, then the grace period
  Report("n1", {Exited(id, 143)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
  EXPECT_THAT(Exp("r").reason, StartsWith("stopped: the run's cost $9.10 would pass its --max-cost $10.00"));
}

TEST_F(CostTest, MaxCostWithMaxDuration_RefusesToStartWhatWouldPassIt) {
  PriceLocal(3600.0);
  Register("n1", {}, /*cpus=*/2);  // each experiment holds half: $0.50 a second
  SubmitLimited("r", 2, /*max_cost=*/8, /*max_duration_ms=*/10'000);
  // The first may cost $5 in its 10 s; both would be $10 > $8.
  EXPECT_EQ(Exp("r", 0).state, ExperimentState::kStarting);
  EXPECT_EQ(Exp("r", 1).state, ExperimentState::kCancelled);
  EXPECT_THAT(Exp("r", 1).reason,
              HasSubstr("not started: starting it would pass the run's --max-cost $8.00 (spent $0.00, $10.00 with "
                        "what runs until --max-duration 10s)"));
}

TEST_F(CostTest, MaxCostWithoutMaxDuration_ProjectsWithHowLongTheScriptRanBefore) {
  PriceLocal(3600.0);
  Register("n1", {}, /*cpus=*/2);  // each experiment holds half: $0.50 a second
  SubmitLimited("first", 1, /*max_cost=*/0);
  int64_t id = CurrentId("first");
  Hold("n1", id, 10'000);
  Report("n1", {Exited(id, 0)});  // train.py took 10 s
  SubmitLimited("r", 2, /*max_cost=*/8);  // each may cost $5: only one fits
  EXPECT_EQ(Exp("r", 0).state, ExperimentState::kStarting);
  EXPECT_EQ(Exp("r", 1).state, ExperimentState::kCancelled);
  EXPECT_THAT(Exp("r", 1).reason,
              HasSubstr("(spent $0.00, $10.00 with what runs for 10s each, the median of 1 earlier experiments of "
                        "train.py)"));
}

TEST_F(CostTest, MaxDuration_StopsAnAttemptThatRanLonger) {
  Register("n1");
  SubmitLimited("r", 1, /*max_cost=*/0, /*max_duration_ms=*/60'000);
  int64_t id = CurrentId("r");
  Sync("n1", {Running(id)});
  Hold("n1", id, 59'000);
  EXPECT_FALSE(Exp("r").cancel_requested);
  Hold("n1", id, 1'000);
  EXPECT_TRUE(Exp("r").cancel_requested);
  Report("n1", {Exited(id, 143)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
  EXPECT_EQ(Exp("r").reason, "stopped: it ran longer than its --max-duration 1m");
}

TEST_F(CostTest, MonthlyBudget_StopsWhatRunsAndHoldsTheQueueUntilRaised) {
  PriceLocal(360.0, /*monthly_budget=*/20);  // 10 cents a second; the 30 s default grace: $3
  Register("n1", {}, /*cpus=*/1);
  SubmitLimited("a", 1, 0);
  SubmitLimited("b", 1, 0);
  int64_t id = CurrentId("a");
  Sync("n1", {Running(id)});
  Hold("n1", id, 169'000);
  EXPECT_FALSE(Exp("a").cancel_requested);
  Hold("n1", id, 1'000);  // $17 + $3 for the grace period reaches $20
  EXPECT_TRUE(Exp("a").cancel_requested);
  EXPECT_THAT(Exp("a").reason, HasSubstr("cluster local spent $17.00 of its $20.00 budget for "));
  Report("n1", {Exited(id, 143)});
  EXPECT_EQ(Exp("b").state, ExperimentState::kQueued);  // the node is free, the budget is not
  EXPECT_THAT(Exp("b").reason, StartsWith("waiting: cluster local spent $17.00 of its $20.00 budget"));
  EXPECT_NEAR(c().ClusterMonthSpend("local").cost, 17.0, 1e-9);
  PriceLocal(360.0, /*monthly_budget=*/100);
  EXPECT_EQ(Exp("b").state, ExperimentState::kStarting);
}

TEST_F(CostTest, SpendBy_GroupsRunsByUserAndCountsOnlyTheWindow) {
  PriceLocal(3600.0);
  Register("n1", {}, /*cpus=*/1);
  SubmitLimited("a", 1, 0);
  int64_t id = CurrentId("a");
  Sync("n1", {Running(id)});
  Hold("n1", id, 10'000);
  const int64_t later = clock_.NowMs();
  Hold("n1", id, 5'000);
  Report("n1", {Exited(id, 0)});
  auto by_user = c().SpendBy("user", 0);
  ASSERT_EQ(by_user.count("ada"), 1u);
  EXPECT_DOUBLE_EQ(by_user.at("ada").cost, 15.0);
  EXPECT_DOUBLE_EQ(c().SpendBy("run", later).at("a").cost, 5.0);
  EXPECT_TRUE(c().SpendBy("run", clock_.NowMs() + 1).empty());
  EXPECT_DOUBLE_EQ(c().ExperimentSpend(*c().FindRun("a")).at(0).cost, 15.0);
}

}  // namespace
}  // namespace lattice::testing
