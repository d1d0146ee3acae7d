// The controller when things go wrong: silent nodes, agents that forget
// attempts, server restarts and crashes, and a store that refuses a commit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/controller.h"
#include "server/controller_test_util.h"

namespace lattice::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// --- silent nodes ------------------------------------------------------------------------

TEST_F(ControllerTest, AgentSilentPastTimeout_NodeAndAttemptLostAndRequeuedWithinMaxRestarts) {
  Register("n1", {0, 1});
  int64_t first = StartRunning("r", "n1", /*gpus=*/1, /*max_restarts=*/1);
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  EXPECT_EQ(FindNode("n1")->state, NodeState::kLost);
  EXPECT_EQ(c().FindAttempt(first)->state, AttemptState::kLost);
  EXPECT_EQ(c().FindAttempt(first)->ended_at_ms, clock_.NowMs());
  const Experiment& e = Exp("r");
  EXPECT_EQ(e.state, ExperimentState::kQueued);
  EXPECT_EQ(e.restarts, 1);
  // The scheduler's reason for waiting keeps why it was requeued.
  EXPECT_EQ(e.reason, "waiting: no nodes are connected; requeued: node n1 stopped responding (restart 1 of 1)");
  // Nowhere to go while the only node is lost.
  EXPECT_EQ(Current("r")->id, first);

  // The node comes back: the experiment is placed again as attempt 2.
  woken_.clear();
  Register("n1", {0, 1});
  EXPECT_THAT(woken_, ElementsAre("n1"));
  const Attempt* second = Current("r");
  ASSERT_NE(second, nullptr);
  EXPECT_NE(second->id, first);
  EXPECT_EQ(second->number, 2);
  EXPECT_EQ(Exp("r").attempts, 2);
  EXPECT_EQ(Exp("r").state, ExperimentState::kStarting);
  EXPECT_EQ(c().FindAttempt("r", 0, 1)->id, first);
  EXPECT_EQ(c().FindAttempt("r", 0, 2)->id, second->id);
  EXPECT_EQ(c().FindAttempt("r", 0, 3), nullptr);
}

TEST_F(ControllerTest, AgentSilentJustUnderTimeout_NothingLost) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  clock_.Advance(kNodeTimeoutMs - 1);
  c().Tick();
  EXPECT_EQ(FindNode("n1")->state, NodeState::kReady);
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kRunning);
}

TEST_F(ControllerTest, SeenAndSyncs_KeepTheNodeAlive) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(kNodeTimeoutMs - 1);
    if (i % 2) c().Seen("n1");
    else Sync("n1", {Running(id)});
    c().Tick();
  }
  EXPECT_EQ(FindNode("n1")->state, NodeState::kReady);
  EXPECT_EQ(FindNode("n1")->last_seen_ms, clock_.NowMs());
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);
}

TEST_F(ControllerTest, AgentSilent_NoRestartsAllowed_ExperimentFails) {
  Register("n1");
  StartRunning("r", "n1", 0, /*max_restarts=*/0);
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("r").reason, "node n1 stopped responding; --max-restarts is 0");
  EXPECT_EQ(RunStateOf(*c().FindRun("r")), RunState::kFailed);
}

TEST_F(ControllerTest, AgentSilentTwice_RestartsUsedUp_ExperimentFails) {
  Register("n1");
  StartRunning("r", "n1", 0, /*max_restarts=*/1);
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  Register("n1");
  Sync("n1", {Running(CurrentId("r"))});
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("r").restarts, 1);
  EXPECT_EQ(Exp("r").attempts, 2);
  EXPECT_THAT(Exp("r").reason, HasSubstr("no restarts left"));
}

TEST_F(ControllerTest, NodeLost_QueuedWorkMovesToAnotherNode) {
  Register("n1");
  StartRunning("r", "n1", 0, 1);
  clock_.Advance(kNodeTimeoutMs / 2);
  Register("n2");  // heard from later than n1
  clock_.Advance(kNodeTimeoutMs / 2);
  c().Tick();
  EXPECT_EQ(FindNode("n1")->state, NodeState::kLost);
  EXPECT_EQ(FindNode("n2")->state, NodeState::kReady);
  EXPECT_EQ(Exp("r").state, ExperimentState::kStarting);
  EXPECT_EQ(Exp("r").node, "n2");
}

TEST_F(ControllerTest, CancelRequestedThenNodeLost_Cancelled) {
  Register("n1");
  StartRunning("r", "n1", 0, 5);
  ASSERT_TRUE(c().Cancel("r", std::nullopt).ok());
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  EXPECT_EQ(Exp("r").state, ExperimentState::kCancelled);
  EXPECT_THAT(Exp("r").reason, HasSubstr("cancelled (node n1 stopped responding)"));
}

TEST_F(ControllerTest, LostNodeReturns_ItsOldAttemptIsStoppedAndDropped) {
  Register("n1");
  int64_t old = StartRunning("r", "n1", 0, 1);
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  // The agent was only cut off; it still runs the old attempt and syncs again.
  AgentWork w = Sync("n1", {Running(old)});
  EXPECT_EQ(FindNode("n1")->state, NodeState::kReady);
  EXPECT_EQ(c().FindAttempt(old)->state, AttemptState::kLost);
  EXPECT_THAT(w.cancel, ElementsAre(old));
  EXPECT_THAT(w.forget, ElementsAre(old));
  // Its replacement is assigned in the same answer.
  ASSERT_EQ(w.assign.size(), 1u);
  EXPECT_NE(w.assign[0].attempt, old);
  EXPECT_EQ(w.assign[0].number, 2);
}

// --- full syncs ---------------------------------------------------------------------------

TEST_F(ControllerTest, FullSyncNoLongerListingRunningAttempt_AttemptLost) {
  Register("n1");
  int64_t id = StartRunning("r", "n1", 0, 1);
  Sync("n1", {});
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kLost);
  // Requeued and immediately placed again on the same, still ready, node.
  EXPECT_EQ(Exp("r").state, ExperimentState::kStarting);
  EXPECT_EQ(Exp("r").restarts, 1);
  EXPECT_NE(CurrentId("r"), id);
}

TEST_F(ControllerTest, FullSyncNoLongerListingRunningAttempt_NoRestarts_Failed) {
  Register("n1");
  StartRunning("r", "n1", 0, 0);
  Sync("n1", {});
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
}

TEST_F(ControllerTest, PartialReportNotListingAnAttempt_LosesNothing) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  Report("n1", {});
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kRunning);
}

TEST_F(ControllerTest, FullSyncWithoutStartingAttempt_NotLostButAssignedAgain) {
  Register("n1");
  Submit("r");
  int64_t id = CurrentId("r");
  // The answer carrying the assignment got lost; the agent syncs empty-handed.
  for (int i = 0; i < 3; ++i) {
    AgentWork w = Sync("n1", {});
    ASSERT_EQ(w.assign.size(), 1u);
    EXPECT_EQ(w.assign[0].attempt, id);
  }
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kStarting);
  EXPECT_EQ(Exp("r").restarts, 0);
}

TEST_F(ControllerTest, AgentReportsAttemptLost_RequeuedWithFinalLogSize) {
  Register("n1");
  int64_t id = StartRunning("r", "n1", 0, 1);
  Report("n1", {Lost(id, 42)});
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kLost);
  EXPECT_EQ(c().FindAttempt(id)->final_log_bytes, std::optional<uint64_t>(42));
  EXPECT_EQ(Exp("r").restarts, 1);
  EXPECT_EQ(Exp("r").state, ExperimentState::kStarting);  // placed again at once
}

TEST_F(ControllerTest, AgentReportsAttemptLost_NoRestarts_FailedSayingWhy) {
  Register("n1");
  int64_t id = StartRunning("r", "n1", 0, 0);
  Report("n1", {Lost(id)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("r").reason, "the agent on n1 lost track of attempt " + std::to_string(id) +
                                 "; --max-restarts is 0");
}

TEST_F(ControllerTest, AgentReportsAttemptLostWithMessage_ReasonIsTheMessage) {
  Register("n1");
  int64_t id = StartRunning("r", "n1", 0, 0);
  Report("n1", {Lost(id, 0, "the agent shut down")});
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_THAT(Exp("r").reason, HasSubstr("the agent shut down (n1)"));
}

// --- restarts and crashes --------------------------------------------------------------------

TEST_F(ControllerTest, Restart_KeepsRunsAttemptsNodesAndLogBytes) {
  Register("n1", {0, 1, 2, 3});
  clock_.Advance(1);  // runs created in the same millisecond reload in name order
  int64_t done = StartRunning("finished", "n1", 1);
  ASSERT_TRUE(c().AppendLog("n1", done, 0, "all good\n").ok());
  Report("n1", {Exited(done, 0, 9)});
  clock_.Advance(1);
  int64_t failed = StartRunning("broken", "n1", 2);
  Report("n1", {Exited(failed, 3)});
  clock_.Advance(1);
  Submit("waiting", 4);  // all four GPUs are free again: it starts
  Restart();

  ASSERT_EQ(c().Runs().size(), 3u);
  EXPECT_EQ(c().Runs()[0]->name, "finished");
  EXPECT_EQ(Exp("finished").state, ExperimentState::kSucceeded);
  EXPECT_EQ(Exp("finished").exit_code, std::optional<int>(0));
  EXPECT_EQ(Exp("broken").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("broken").exit_code, std::optional<int>(3));
  EXPECT_EQ(Exp("waiting").state, ExperimentState::kStarting);
  EXPECT_THAT(Current("waiting")->gpu_indices, ElementsAre(0, 1, 2, 3));
  const Attempt* a = c().FindAttempt(done);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->log_bytes, 9u);  // from the log files
  EXPECT_EQ(a->final_log_bytes, std::optional<uint64_t>(9));
  EXPECT_TRUE(c().LogComplete(*a));
  EXPECT_EQ(*c().ReadLog(done, 0, 100), "all good\n");
  ASSERT_NE(FindNode("n1"), nullptr);
  EXPECT_EQ(FindNode("n1")->gpus.size(), 4u);
  EXPECT_EQ(c().FindRun("finished")->spec.env.at("WANDB_MODE"), "offline");
}

TEST_F(ControllerTest, CrashMidRun_AgentKeepsSyncing_AttemptCarriesOn) {
  Register("n1", {0});
  int64_t id = StartRunning("r", "n1", 1);
  ASSERT_TRUE(c().AppendLog("n1", id, 0, "step 1\n").ok());
  Restart();  // no orderly shutdown: just a new controller on the same files
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);
  EXPECT_EQ(Current("r")->id, id);
  EXPECT_EQ(Current("r")->log_bytes, 7u);

  // Nodes get a whole timeout to reconnect after the restart.
  clock_.Advance(kNodeTimeoutMs - 1);
  c().Tick();
  AgentWork w = Sync("n1", {Running(id, 14)});
  EXPECT_TRUE(w.empty());
  ASSERT_TRUE(c().AppendLog("n1", id, 0, "step 1\nstep 2\n").ok());  // spool replay
  Report("n1", {Exited(id, 0, 14)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
  EXPECT_EQ(*c().ReadLog(id, 0, 100), "step 1\nstep 2\n");
  EXPECT_THAT(Sync("n1", {Exited(id, 0, 14)}).forget, ElementsAre(id));
}

TEST_F(ControllerTest, CrashMidRun_AgentNeverReturns_LostAndRequeuedWithAFreshAttemptId) {
  Register("n1");
  int64_t id = StartRunning("r", "n1", 0, 1);
  Restart();
  clock_.Advance(kNodeTimeoutMs);
  c().Tick();
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kLost);
  EXPECT_EQ(Exp("r").state, ExperimentState::kQueued);
  Register("n2");
  EXPECT_GT(CurrentId("r"), id);  // ids are never reused across restarts
  EXPECT_EQ(Exp("r").node, "n2");
  // And that, too, survives another restart.
  int64_t second = CurrentId("r");
  Restart();
  EXPECT_EQ(CurrentId("r"), second);
  EXPECT_EQ(c().FindAttempt("r", 0, 1)->id, id);
  EXPECT_EQ(Exp("r").restarts, 1);
}

TEST_F(ControllerTest, CrashAfterCancelRequest_CancelStillPending) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  ASSERT_TRUE(c().Cancel("r", std::nullopt).ok());
  Restart();
  EXPECT_TRUE(Exp("r").cancel_requested);
  EXPECT_THAT(Sync("n1", {Running(id)}).cancel, ElementsAre(id));
}

// --- the store refuses a commit ---------------------------------------------------------------

TEST_F(ControllerTest, CommitFails_MemoryFallsBackToWhatIsStored) {
  Register("n1");
  int64_t id = StartRunning("r", "n1");
  store_->fail_commits = 1;
  Status st = c().ApplyReports("n1", {Exited(id, 0)}, false);
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("injected"));
  // Nothing that was not stored is shown...
  EXPECT_EQ(Exp("r").state, ExperimentState::kRunning);
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kRunning);
  // ...and the agent's next report (level-triggered) gets it through.
  Report("n1", {Exited(id, 0)});
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
  Restart();
  EXPECT_EQ(Exp("r").state, ExperimentState::kSucceeded);
}

TEST_F(ControllerTest, CommitFailsOnSubmit_RunDoesNotExist) {
  store_->fail_commits = 1;
  auto r = TrySubmit("r");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(c().FindRun("r"), nullptr);
  Submit("r");  // the name is still free
}

TEST_F(ControllerTest, CommitFailsOnCancel_CancelNotShown) {
  Register("n1");
  StartRunning("r", "n1");
  store_->fail_commits = 1;
  EXPECT_FALSE(c().Cancel("r", std::nullopt).ok());
  EXPECT_FALSE(Exp("r").cancel_requested);
  EXPECT_TRUE(c().Cancel("r", std::nullopt).ok());
  EXPECT_TRUE(Exp("r").cancel_requested);
}

TEST_F(ControllerTest, RegisterAgain_UpdatesTheNodesResources) {
  Register("n1", {0, 1});
  Register("n1", {0, 1, 2, 3}, 32);
  ASSERT_EQ(c().Nodes().size(), 1u);
  EXPECT_EQ(FindNode("n1")->gpus.size(), 4u);
  EXPECT_EQ(FindNode("n1")->cpus, 32);
  Restart();
  EXPECT_EQ(FindNode("n1")->gpus.size(), 4u);
}

}  // namespace
}  // namespace lattice::testing
