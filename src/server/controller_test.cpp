// The experiment state machine through Controller's public API: submit,
// placement, reports, cancellation and logs. Node loss, full syncs, restarts
// and store failures are in controller_recovery_test.cpp.
#include "server/controller.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "server/controller_test_util.h"

namespace lattice::testing {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// --- submit and placement --------------------------------------------------------------

TEST_F(ControllerTest, Submit_NoNodes_QueuedAndSaysWhy) {
  Submit("r");
  const lattice::Run* run = c().FindRun("r");
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->created_at_ms, clock_.NowMs());
  EXPECT_EQ(RunStateOf(*run), RunState::kQueued);
  EXPECT_EQ(Exp("r").state, ExperimentState::kQueued);
  EXPECT_EQ(Exp("r").reason, "waiting: no nodes are connected");
  EXPECT_EQ(Current("r"), nullptr);
  EXPECT_THAT(changed_, Contains("r"));
}

TEST_F(ControllerTest, Submit_ThenNodeRegisters_PlacedAndAgentWokenWithAssignment) {
  Submit("r", /*gpus=*/2);
  woken_.clear();
  Register("n1", {0, 1, 2, 3});
  EXPECT_THAT(woken_, ElementsAre("n1"));
  const Experiment& e = Exp("r");
  EXPECT_EQ(e.state, ExperimentState::kStarting);
  EXPECT_EQ(e.node, "n1");
  EXPECT_EQ(e.attempts, 1);
  EXPECT_EQ(e.reason, "starting on n1");
  const Attempt* a = Current("r");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->state, AttemptState::kStarting);
  EXPECT_EQ(a->number, 1);
  EXPECT_EQ(a->started_at_ms, clock_.NowMs());
  EXPECT_EQ(e.current_attempt, a->id);

  AgentWork w = c().PendingWork("n1", {});
  ASSERT_EQ(w.assign.size(), 1u);
  const Assignment& x = w.assign[0];
  EXPECT_EQ(x.attempt, a->id);
  EXPECT_EQ(x.run, "r");
  EXPECT_EQ(x.experiment, 0);
  EXPECT_EQ(x.number, 1);
  EXPECT_EQ(x.script, "train.py");
  EXPECT_EQ(x.args, (std::vector<std::string>{"--lr", "0.1"}));
  EXPECT_EQ(x.snapshot, kSnapshot);
  EXPECT_EQ(x.env.at("WANDB_MODE"), "offline");
  EXPECT_EQ(x.resources.gpus, 2);
  EXPECT_THAT(x.gpus, ElementsAre(0, 1));
  EXPECT_THAT(w.cancel, IsEmpty());
  EXPECT_THAT(w.forget, IsEmpty());
  // Other nodes get nothing.
  EXPECT_TRUE(c().PendingWork("n2", {}).empty());
}

TEST_F(ControllerTest, NodeFirst_SubmitPlacesImmediately) {
  Register("n1");
  woken_.clear();
  Submit("r");
  EXPECT_EQ(Exp("r").state, ExperimentState::kStarting);
  EXPECT_THAT(woken_, ElementsAre("n1"));
}

TEST_F(ControllerTest, Gpus_AreTheNodesCudaIndicesAndNeverShared) {
  Register("n1", {2, 5, 6, 7});
  Submit("a", 2);
  Submit("b", 2);
  Submit("c", 2);
  EXPECT_THAT(Current("a")->gpu_indices, ElementsAre(2, 5));
  EXPECT_THAT(Current("b")->gpu_indices, ElementsAre(6, 7));
  EXPECT_EQ(Current("c"), nullptr);
  EXPECT_EQ(Exp("c").state, ExperimentState::kQueued);
  EXPECT_EQ(Exp("c").reason, "waiting: 0 of 2 GPUs free on 1 node");

  // When "a" ends its GPUs go to "c".
  int64_t a = CurrentId("a");
  Sync("n1", {Running(a), Running(CurrentId("b"))});
  Report("n1", {Exited(a, 0)});
  EXPECT_EQ(Exp("c").state, ExperimentState::kStarting);
  EXPECT_THAT(Current("c")->gpu_indices, ElementsAre(2, 5));
}

TEST_F(ControllerTest, CpuOnlyRuns_PackUntilCpusRunOut) {
  Register("n1", {}, /*cpus=*/2);
  Submit("a");
  Submit("b");
  Submit("c");
  EXPECT_EQ(Exp("a").state, ExperimentState::kStarting);
  EXPECT_EQ(Exp("b").state, ExperimentState::kStarting);
  EXPECT_EQ(Exp("c").state, ExperimentState::kQueued);
  EXPECT_EQ(Exp("c").reason, "waiting: 0 of 1 CPUs free on 1 node");
}

TEST_F(ControllerTest, Submit_DuplicateName_AlreadyExists) {
  Submit("r");
  auto again = TrySubmit("r");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(again.error().field, "name");
}

TEST_F(ControllerTest, Submit_InvalidName_Refused) {
  auto r = TrySubmit("Bad_Name");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, "name");
  EXPECT_EQ(c().FindRun("Bad_Name"), nullptr);
}

TEST_F(ControllerTest, Submit_NoName_GetsAValidUniqueGeneratedOne) {
  std::set<std::string> names;
  for (int i = 0; i < 20; ++i) {
    auto r = TrySubmit("");
    ASSERT_TRUE(r.ok()) << r.error().message;
    names.insert((*r)->name);
  }
  EXPECT_EQ(names.size(), 20u);
  EXPECT_EQ(c().Runs().size(), 20u);
}

TEST_F(ControllerTest, Submit_NeverFits_RefusedUpFrontSayingWhy) {
  Register("n1", {0, 1, 2, 3, 4, 5, 6, 7});
  auto r = TrySubmit("r", 16);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().field, "resources");
  EXPECT_EQ(r.error().message, "this run can never start: it asks for 16 GPUs; the largest node has 8");
  EXPECT_EQ(c().FindRun("r"), nullptr);
}

// --- reports ------------------------------------------------------------------------------

TEST_F(ControllerTest, RunningReport_StartingBecomesRunning) {
  Register("n1");
  Submit("r");
  int64_t id = CurrentId("r");
  uint64_t version = c().RunVersion("r");
  Sync("n1", {Running(id)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);
  EXPECT_EQ(Exp("r").reason, "running on n1");
  EXPECT_EQ(Current("r")->state, AttemptState::kRunning);
  EXPECT_EQ(RunStateOf(*c().FindRun("r")), RunState::kRunning);
  EXPECT_GT(c().RunVersion("r"), version);
}

TEST_F(ControllerTest, RunningReportWithMessage_ReasonSaysWhatTheAgentDoes) {
  Register("n1");
  Submit("r");
  int64_t id = CurrentId("r");
  AttemptReport building = Running(id);
  building.message = "building the environment";
  Sync("n1", {building});
  EXPECT_EQ(Exp("r").state, ExperimentState::kStarting);  // its command has not started
  EXPECT_EQ(Current("r")->state, AttemptState::kStarting);
  EXPECT_EQ(Exp("r").reason, "building the environment on n1");
  uint64_t version = c().RunVersion("r");
  Sync("n1", {building});  // the same again changes nothing
  EXPECT_EQ(c().RunVersion("r"), version);
  Sync("n1", {Running(id)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);
  EXPECT_EQ(Current("r")->state, AttemptState::kRunning);
  EXPECT_EQ(Exp("r").reason, "running on n1");
  EXPECT_GT(c().RunVersion("r"), version);
}

TEST_F(ControllerTest, ReportedAttempt_NotAssignedAgain) {
  Register("n1");
  Submit("r");
  int64_t id = CurrentId("r");
  EXPECT_EQ(c().PendingWork("n1", {}).assign.size(), 1u);
  EXPECT_TRUE(Sync("n1", {Running(id)}).empty());
}

TEST_F(ControllerTest, Exit0_Succeeded) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  clock_.Advance(5000);
  Report("n1", {Exited(id, 0)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
  EXPECT_EQ(Exp("r").exit_code, std::optional<int>(0));
  EXPECT_EQ(Exp("r").reason, "exited with code 0");
  EXPECT_EQ(Current("r")->state, AttemptState::kSucceeded);
  EXPECT_EQ(Current("r")->ended_at_ms, clock_.NowMs());
  EXPECT_EQ(RunStateOf(*c().FindRun("r")), RunState::kSucceeded);
}

TEST_F(ControllerTest, Exit3_FailedWithExitCode3) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  Report("n1", {Exited(id, 3)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("r").exit_code, std::optional<int>(3));
  EXPECT_EQ(Exp("r").reason, "exited with code 3");
  EXPECT_EQ(Current("r")->state, AttemptState::kFailed);
  EXPECT_EQ(Current("r")->exit_code, std::optional<int>(3));
  EXPECT_EQ(RunStateOf(*c().FindRun("r")), RunState::kFailed);
}

TEST_F(ControllerTest, ExitWithMessage_ReasonIsTheAgentsMessage) {
  Register("n1");
  Submit("r");
  // It never ran: the exit comes straight from starting.
  Report("n1", {Exited(CurrentId("r"), 127, 0, "could not start: python3: not found")});
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("r").reason, "could not start: python3: not found");
}

TEST_F(ControllerTest, FinishedExperiment_LaterReportsChangeNothing) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  Report("n1", {Exited(id, 0)});
  Report("n1", {Exited(id, 1)});
  Report("n1", {Running(id)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
  EXPECT_EQ(Current("r")->exit_code, std::optional<int>(0));
}

TEST_F(ControllerTest, ReportFromUnregisteredNode_NotFound) {
  Status st = c().ApplyReports("ghost", {}, true);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(st.error().message, HasSubstr("register first"));
}

TEST_F(ControllerTest, AttemptOfAnotherNode_IgnoredAndThatAgentToldToDropIt) {
  Register("n1");
  Register("n2");
  int64_t id = StartRunning("r", "n1");
  AgentWork w = Sync("n2", {Exited(id, 1)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);
  EXPECT_THAT(w.cancel, ElementsAre(id));
  EXPECT_THAT(w.forget, ElementsAre(id));
}

TEST_F(ControllerTest, UnknownAttemptReported_CancelAndForget) {
  Register("n1");
  AgentWork w = Sync("n1", {Running(999)});
  EXPECT_THAT(w.cancel, ElementsAre(999));
  EXPECT_THAT(w.forget, ElementsAre(999));
  EXPECT_TRUE(w.assign.empty());
}

// --- cancel ---------------------------------------------------------------------------------

TEST_F(ControllerTest, CancelQueued_CancelledAtOnceAndNeverPlaced) {
  Submit("r");
  ASSERT_TRUE(c().Cancel("r", std::nullopt).ok());
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
  EXPECT_EQ(Exp("r").reason, "cancelled before it started");
  EXPECT_EQ(RunStateOf(*c().FindRun("r")), RunState::kCancelled);
  Register("n1");
  EXPECT_EQ(Current("r"), nullptr);
  EXPECT_TRUE(c().PendingWork("n1", {}).empty());
}

TEST_F(ControllerTest, CancelRunning_CancelInPendingWorkThenExitMakesItCancelled) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  woken_.clear();
  ASSERT_TRUE(c().Cancel("r", std::nullopt).ok());
  EXPECT_THAT(woken_, ElementsAre("n1"));
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);  // until the agent confirms
  EXPECT_TRUE(Exp("r").cancel_requested);
  EXPECT_EQ(Exp("r").reason, "cancelling");
  AgentWork w = Sync("n1", {Running(id)});
  EXPECT_THAT(w.cancel, ElementsAre(id));
  EXPECT_TRUE(w.assign.empty());

  Report("n1", {Exited(id, 143)});  // SIGTERM
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
  EXPECT_EQ(Current("r")->state, AttemptState::kCancelled);
  EXPECT_EQ(RunStateOf(*c().FindRun("r")), RunState::kCancelled);
}

TEST_F(ControllerTest, CancelRunning_EvenExit0AfterCancelCountsAsCancelled) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  ASSERT_TRUE(c().Cancel("r", 0).ok());
  Report("n1", {Exited(id, 0)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
}

TEST_F(ControllerTest, CancelStarting_AgentNeverTookIt_NextFullSyncEndsIt) {
  Register("n1");
  Submit("r");
  ASSERT_EQ(Exp("r").state, ExperimentState::kStarting);
  ASSERT_TRUE(c().Cancel("r", std::nullopt).ok());
  // The agent never got the assignment, so it reports nothing: it must not be
  // assigned now, and the attempt must not hold its resources forever.
  AgentWork w = Sync("n1", {});
  EXPECT_TRUE(w.assign.empty());
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
  EXPECT_EQ(Current("r")->state, AttemptState::kCancelled);
  Submit("next");
  EXPECT_EQ(Exp("next").state, ExperimentState::kStarting);
}

TEST_F(ControllerTest, CancelStarting_AgentAlreadyHasIt_WaitsForItsExit) {
  Register("n1");
  Submit("r");
  int64_t id = CurrentId("r");
  ASSERT_TRUE(c().Cancel("r", std::nullopt).ok());
  AgentWork w = Sync("n1", {Running(id)});
  EXPECT_THAT(w.cancel, ElementsAre(id));
  EXPECT_FALSE(IsTerminal(Exp("r").state));
  Report("n1", {Exited(id, 143)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
}

TEST_F(ControllerTest, Cancel_Errors) {
  Submit("r");
  Status st = c().Cancel("nope", std::nullopt);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  st = c().Cancel("r", 1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(st.error().message, HasSubstr("has no experiment 1"));
  EXPECT_FALSE(c().Cancel("r", -1).ok());
}

TEST_F(ControllerTest, CancelFinishedOrTwice_IsANoOp) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  Report("n1", {Exited(id, 0)});
  int commits = store_->commits;
  EXPECT_TRUE(c().Cancel("r", std::nullopt).ok());
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
  EXPECT_FALSE(Exp("r").cancel_requested);
  EXPECT_EQ(store_->commits, commits);
}

// --- logs ---------------------------------------------------------------------------------------

TEST_F(ControllerTest, AppendLog_ReplayIdempotentAndGapRefused) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  logs_arrived_.clear();
  EXPECT_EQ(*c().AppendLog("n1", id, 0, "epoch 1\n"), 8u);
  EXPECT_THAT(logs_arrived_, ElementsAre("r"));
  logs_arrived_.clear();
  EXPECT_EQ(*c().AppendLog("n1", id, 0, "epoch 1\n"), 8u);  // replay
  EXPECT_THAT(logs_arrived_, IsEmpty());                     // nothing new, nobody woken
  EXPECT_EQ(*c().AppendLog("n1", id, 4, "h 1\nepoch 2\n"), 16u);
  EXPECT_EQ(*c().ReadLog(id, 0, 100), "epoch 1\nepoch 2\n");
  EXPECT_EQ(Current("r")->log_bytes, 16u);

  auto gap = c().AppendLog("n1", id, 20, "x");
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(gap.error().message, HasSubstr("16 bytes"));
  EXPECT_EQ(Current("r")->log_bytes, 16u);
}

TEST_F(ControllerTest, AppendLog_UnknownAttemptOrWrongNode_Refused) {
  Register("n1");
  Register("n2");
  int64_t id = StartRunning("r", "n1");
  auto r = c().AppendLog("n1", 12345, 0, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  r = c().AppendLog("n2", id, 0, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message, HasSubstr("is not assigned to node n2"));
  EXPECT_EQ(Current("r")->log_bytes, 0u);
}

TEST_F(ControllerTest, LogCompleteAndForget_OnlyOnceAllBytesUpToTheFinalSizeArrived) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  ASSERT_TRUE(c().AppendLog("n1", id, 0, "hello ").ok());
  EXPECT_FALSE(c().LogComplete(*Current("r")));  // still running

  AgentWork w = Sync("n1", {Exited(id, 0, /*log_bytes=*/11)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
  EXPECT_EQ(Current("r")->final_log_bytes, std::optional<uint64_t>(11));
  EXPECT_FALSE(c().LogComplete(*Current("r")));
  EXPECT_THAT(w.forget, IsEmpty());  // the agent must keep its spool
  EXPECT_THAT(w.cancel, IsEmpty());

  ASSERT_TRUE(c().AppendLog("n1", id, 6, "world").ok());
  EXPECT_TRUE(c().LogComplete(*Current("r")));
  w = Sync("n1", {Exited(id, 0, 11)});
  EXPECT_THAT(w.forget, ElementsAre(id));
  EXPECT_THAT(w.cancel, IsEmpty());
}

TEST_F(ControllerTest, LogComplete_ExitWithNoOutputIsCompleteAtOnce) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  AgentWork w = Sync("n1", {Exited(id, 0, 0)});
  EXPECT_TRUE(c().LogComplete(*Current("r")));
  EXPECT_THAT(w.forget, ElementsAre(id));
}

}  // namespace
}  // namespace lattice::testing
