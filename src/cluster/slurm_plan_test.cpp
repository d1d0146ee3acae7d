// PlanSlurm: how many pilot allocations a Slurm cluster submits and which it
// cancels, from the queue by shape, the ready nodes and squeue's tasks.
#include "cluster/slurm_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lattice {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kNow = 1'000'000;

DemandShape Shape(int queued, int nodes = 1, int gpus = 0) {
  Resources r{4, 0, gpus};
  return DemandShape{ShapeKey(r, nodes), r, nodes, queued};
}

const std::string kOne = Shape(0).key;        // 1x{cpus=4,memory=0,gpus=0}
const std::string kTwo = Shape(0, 2).key;     // 2x{cpus=4,memory=0,gpus=0}
const std::string kGpu = Shape(0, 1, 1).key;  // 1x{cpus=4,memory=0,gpus=1}

SlurmTask Pending(const std::string& id, const std::string& shape, const std::string& reason = "Priority") {
  return SlurmTask{id, id, "PENDING", reason, shape, ""};
}

SlurmTask Running(const std::string& id, const std::string& shape, const std::string& nodes = "c1") {
  return SlurmTask{id, id, "RUNNING", "None", shape, nodes};
}

// A ready node whose agent a task of job `job` started.
ClusterNodeView Agent(const std::string& node, const std::string& job, bool busy, bool stopping = false) {
  return ClusterNodeView{node, AllocationOfJob(job), busy, stopping};
}

class PlanSlurmTest : public ::testing::Test {
 protected:
  SlurmPlan Plan() {
    SlurmPlanInput in;
    in.demand = &demand_;
    in.tasks = tasks_;
    in.max_nodes = max_nodes_;
    in.idle_since = &idle_since_;
    in.now_ms = kNow;
    in.linger_ms = 5000;
    in.max_array = max_array_;
    return PlanSlurm(in);
  }

  int Submitted(const SlurmPlan& plan, const std::string& key) {
    int n = 0;
    for (const auto& s : plan.submit)
      if (s.shape.key == key) n += s.count;
    return n;
  }

  ClusterDemand demand_;
  std::vector<SlurmTask> tasks_;
  std::map<std::string, int64_t> idle_since_;
  int max_nodes_ = 0;
  int max_array_ = 1000;
};

TEST_F(PlanSlurmTest, NothingQueuedNothingHeld_NothingToDo) {
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_THAT(p.cancel, IsEmpty());
  EXPECT_THAT(p.notes, IsEmpty());
}

TEST_F(PlanSlurmTest, QueuedWithNoSupply_SubmitsOnePilotPerQueuedExperimentInOneArray) {
  demand_.shapes = {Shape(5, 1, 1)};
  SlurmPlan p = Plan();
  ASSERT_EQ(p.submit.size(), 1u);
  EXPECT_EQ(p.submit[0].count, 5);
  EXPECT_EQ(p.submit[0].shape.key, kGpu);
  EXPECT_EQ(p.submit[0].shape.ask.gpus, 1);
  EXPECT_THAT(p.cancel, IsEmpty());
}

TEST_F(PlanSlurmTest, EachShapeGetsItsOwnSubmit) {
  demand_.shapes = {Shape(2), Shape(1, 2)};
  SlurmPlan p = Plan();
  EXPECT_EQ(p.submit.size(), 2u);
  EXPECT_EQ(Submitted(p, kOne), 2);
  EXPECT_EQ(Submitted(p, kTwo), 1);
}

TEST_F(PlanSlurmTest, PendingTasksCountAsSupply_SubmitsOnlyTheDifferenceAndSaysWhatItWaitsFor) {
  demand_.shapes = {Shape(5)};
  tasks_ = {Pending("100", kOne), Pending("101", kOne, "Resources")};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 3);
  EXPECT_THAT(p.cancel, IsEmpty());
  EXPECT_EQ(p.notes[kOne], "waiting for Slurm job 100 and 1 more (pending: Priority)");
}

TEST_F(PlanSlurmTest, EnoughPending_SubmitsNothingMore) {
  demand_.shapes = {Shape(1)};
  tasks_ = {Pending("100", kOne)};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_THAT(p.cancel, IsEmpty());
  EXPECT_EQ(p.notes[kOne], "waiting for Slurm job 100 (pending: Priority)");
}

TEST_F(PlanSlurmTest, RunningTaskWithoutARegisteredAgent_CountsAsSupplyAndIsWaitedFor) {
  demand_.shapes = {Shape(1)};
  tasks_ = {Running("200", kOne, "c7")};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_THAT(p.cancel, IsEmpty());
  EXPECT_EQ(p.notes[kOne], "waiting for the agent of Slurm job 200 on c7 to start");
}

TEST_F(PlanSlurmTest, StartingAgentsAreNamedBeforePendingJobs) {
  demand_.shapes = {Shape(3)};
  tasks_ = {Pending("300", kOne), Running("201", kOne, "c1"), Running("202", kOne, "c2")};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_EQ(p.notes[kOne], "waiting for the agent of Slurm job 201 and 1 more on c1 to start");
}

TEST_F(PlanSlurmTest, IdleRegisteredAgent_CountsAsSupplyAndNeedsNoNote) {
  demand_.shapes = {Shape(2)};
  tasks_ = {Running("200", kOne)};
  demand_.nodes = {Agent("c1-200", "200", /*busy=*/false)};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 1);
  EXPECT_THAT(p.cancel, IsEmpty());
  EXPECT_EQ(p.notes.count(kOne), 0u) << "the scheduler places on the idle agent now";
}

TEST_F(PlanSlurmTest, BusyAgents_AreNotSupply) {
  demand_.shapes = {Shape(2)};
  tasks_ = {Running("200", kOne), Running("201", kOne)};
  demand_.nodes = {Agent("c1-200", "200", /*busy=*/true), Agent("c2-201", "201", /*busy=*/true)};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 2);
  EXPECT_THAT(p.cancel, IsEmpty());
}

TEST_F(PlanSlurmTest, StoppingAgents_AreNotSupplyAndNotCancelled) {
  demand_.shapes = {Shape(1)};
  tasks_ = {Running("200", kOne)};
  demand_.nodes = {Agent("c1-200", "200", /*busy=*/false, /*stopping=*/true)};
  idle_since_["c1-200"] = kNow - 60'000;
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 1);
  EXPECT_THAT(p.cancel, IsEmpty());
}

TEST_F(PlanSlurmTest, MultiNodeTaskWithOneBusyAgent_IsBusy) {
  demand_.shapes = {Shape(1, 2)};
  tasks_ = {Running("200", kTwo, "c[1-2]")};
  demand_.nodes = {Agent("c1-200", "200", /*busy=*/true), Agent("c2-200", "200", /*busy=*/false)};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kTwo), 1);
  EXPECT_THAT(p.cancel, IsEmpty());
}

TEST_F(PlanSlurmTest, NodesOfOtherAllocations_AreIgnored) {
  demand_.shapes = {Shape(1)};
  demand_.nodes = {ClusterNodeView{"by-hand", "", false, false}, Agent("c9-999", "999", false)};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 1);
}

TEST_F(PlanSlurmTest, MaxNodes_CapsTheSubmitCountingNodesOfEveryHeldTask) {
  max_nodes_ = 5;
  demand_.shapes = {Shape(4, 2)};
  tasks_ = {Running("200", kTwo)};
  demand_.nodes = {Agent("a-200", "200", true), Agent("b-200", "200", true)};
  // 2 of 5 nodes held: one more 2-node pilot fits, not two.
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kTwo), 1);
}

TEST_F(PlanSlurmTest, MaxNodes_PendingTasksHoldNodesToo) {
  max_nodes_ = 3;
  demand_.shapes = {Shape(5)};
  tasks_ = {Pending("100", kOne), Pending("101", kOne)};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 1);
}

TEST_F(PlanSlurmTest, MaxNodes_AnEarlierShapesSubmitCountsAgainstALaterOne) {
  max_nodes_ = 4;
  demand_.shapes = {Shape(3), Shape(3, 2)};
  SlurmPlan p = Plan();
  // Shapes are planned in key order: the one-node shape takes 3, leaving 1: no 2-node pilot fits.
  EXPECT_EQ(Submitted(p, kOne), 3);
  EXPECT_EQ(Submitted(p, kTwo), 0);
  EXPECT_EQ(p.notes[kTwo], "waiting: the cluster's max_nodes (4) are all held by its other allocations");
}

TEST_F(PlanSlurmTest, MaxNodes_AllHeld_SubmitsNothingAndSaysSo) {
  max_nodes_ = 2;
  demand_.shapes = {Shape(3)};
  tasks_ = {Running("200", kOne), Running("201", kOne)};
  demand_.nodes = {Agent("a-200", "200", true), Agent("b-201", "201", true)};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_EQ(p.notes[kOne], "waiting: the cluster's max_nodes (2) are all held by its other allocations");
}

TEST_F(PlanSlurmTest, MaxNodes_ABusyMultiNodeTaskOfADrainedShapeHoldsAllItsNodes) {
  max_nodes_ = 4;
  demand_.shapes = {Shape(10)};  // no 2-node experiment queued any more
  tasks_ = {Running("200", kTwo, "c[1-2]")};
  demand_.nodes = {Agent("c1-200", "200", true), Agent("c2-200", "200", true)};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 2) << "the running 2-node gang holds 2 of the 4 nodes";
}

TEST_F(PlanSlurmTest, MaxNodes_ZeroMeansNoLimit) {
  max_nodes_ = 0;
  demand_.shapes = {Shape(500, 2)};
  EXPECT_EQ(Submitted(Plan(), kTwo), 500);
}

TEST_F(PlanSlurmTest, MaxArray_CapsOneSubmit) {
  max_array_ = 1000;
  demand_.shapes = {Shape(2500)};
  SlurmPlan p = Plan();
  ASSERT_EQ(p.submit.size(), 1u);
  EXPECT_EQ(p.submit[0].count, 1000);
}

TEST_F(PlanSlurmTest, Surplus_CancelsPendingTasksNewestFirst) {
  demand_.shapes = {Shape(1)};
  tasks_ = {Pending("10", kOne), Pending("11", kOne), Pending("12", kOne)};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_THAT(p.cancel, ElementsAre("12", "11"));
}

TEST_F(PlanSlurmTest, Surplus_CancelsIdleTasksOnlyAfterTheLingerTime) {
  tasks_ = {Pending("20", kOne), Running("21", kOne), Running("22", kOne), Running("23", kOne)};
  demand_.nodes = {Agent("c1-21", "21", false), Agent("c2-22", "22", false), Agent("c3-23", "23", false)};
  idle_since_["c1-21"] = kNow - 10'000;  // past the 5 s linger
  idle_since_["c2-22"] = kNow - 1'000;   // still lingering
  // c3-23 not in the map: idle since now.
  SlurmPlan p = Plan();
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_THAT(p.cancel, ElementsAre("20", "21"));
}

TEST_F(PlanSlurmTest, Surplus_PendingFirstThenIdleAndNoMoreThanTheSurplus) {
  demand_.shapes = {Shape(2)};
  tasks_ = {Running("21", kOne), Running("22", kOne), Pending("30", kOne), Pending("31", kOne)};
  demand_.nodes = {Agent("c1-21", "21", false), Agent("c2-22", "22", false)};
  idle_since_ = {{"c1-21", kNow - 60'000}, {"c2-22", kNow - 60'000}};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.cancel, ElementsAre("31", "30"));
}

TEST_F(PlanSlurmTest, AMultiNodeTaskIsIdleSinceItsLatestIdleAgent) {
  tasks_ = {Running("21", kTwo, "c[1-2]")};
  demand_.nodes = {Agent("c1-21", "21", false), Agent("c2-21", "21", false)};
  idle_since_ = {{"c1-21", kNow - 60'000}, {"c2-21", kNow - 1'000}};
  EXPECT_THAT(Plan().cancel, IsEmpty());
  idle_since_["c2-21"] = kNow - 6'000;
  EXPECT_THAT(Plan().cancel, ElementsAre("21"));
}

TEST_F(PlanSlurmTest, BusyTasks_AreNeverCancelled) {
  tasks_ = {Running("21", kOne), Running("22", kTwo, "c[2-3]")};
  demand_.nodes = {Agent("c1-21", "21", true), Agent("c2-22", "22", true), Agent("c3-22", "22", false)};
  idle_since_ = {{"c3-22", kNow - 600'000}};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.cancel, IsEmpty());
  EXPECT_THAT(p.submit, IsEmpty());
}

TEST_F(PlanSlurmTest, StartingTasks_AreNotCancelled) {
  tasks_ = {Running("21", kOne)};  // no agent registered yet
  EXPECT_THAT(Plan().cancel, IsEmpty());
}

TEST_F(PlanSlurmTest, ADrainedShape_CancelsItsPendingAtOnceAndItsIdleAfterLinger) {
  demand_.shapes = {Shape(1, 1, 1)};  // another shape is still wanted
  tasks_ = {Pending("40", kOne), Pending("41", kOne), Running("42", kOne), Running("43", kOne),
            Running("50", kGpu)};
  demand_.nodes = {Agent("c2-42", "42", false), Agent("c3-43", "43", false), Agent("g-50", "50", false)};
  idle_since_ = {{"c2-42", kNow - 5'000}, {"c3-43", kNow - 4'999}, {"g-50", kNow - 600'000}};
  SlurmPlan p = Plan();
  EXPECT_THAT(p.cancel, ElementsAre("41", "40", "42"));
  EXPECT_THAT(p.submit, IsEmpty());
  EXPECT_EQ(p.notes.count(kOne), 0u) << "notes are for shapes with queued experiments only";
  EXPECT_EQ(p.notes.count(kGpu), 0u);
}

TEST_F(PlanSlurmTest, TasksInOtherStates_AreIgnored) {
  demand_.shapes = {Shape(1)};
  tasks_ = {SlurmTask{"60", "60", "COMPLETING", "None", kOne, "c1"}};
  SlurmPlan p = Plan();
  EXPECT_EQ(Submitted(p, kOne), 1);
  EXPECT_THAT(p.cancel, IsEmpty());
}

TEST_F(PlanSlurmTest, ArrayTasks_MatchTheirAgentsByTheirOwnJobId) {
  demand_.shapes = {Shape(2)};
  tasks_ = {SlurmTask{"70_0", "71", "RUNNING", "None", kOne, "c1"},
            SlurmTask{"70_1", "72", "RUNNING", "None", kOne, "c2"}};
  demand_.nodes = {Agent("c1-71", "71", true)};
  SlurmPlan p = Plan();
  // 70_0 is busy; 70_1 has no agent yet: one starting pilot covers one of the two.
  EXPECT_EQ(Submitted(p, kOne), 1);
  EXPECT_EQ(p.notes[kOne], "waiting for the agent of Slurm job 70_1 on c2 to start");
}

}  // namespace
}  // namespace lattice
