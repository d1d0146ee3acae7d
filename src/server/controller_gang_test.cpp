// Multi-node gangs in the controller: a head attempt plus one part per node,
// placed together, started together once rank 0's port is known, ended
// together when any part fails or is lost, and fenced afterwards.
#include "server/controller_test_util.h"

namespace lattice::testing {
namespace {

class GangTest : public ControllerTest {
 protected:
  void SubmitGang(const std::string& name, int nodes, int gpus = 0, int max_restarts = 0,
                  const std::string& launcher = "") {
    SubmitRequest req;
    req.name = name;
    req.spec.script = "train.py";
    req.spec.snapshot = kSnapshot;
    req.spec.resources.gpus = gpus;
    req.spec.max_restarts = max_restarts;
    req.spec.nodes = nodes;
    req.spec.launcher = launcher;
    auto r = c().Submit(std::move(req), rng_);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  std::vector<const Attempt*> Parts(const std::string& run) { return c().Parts(CurrentId(run)); }

  // Gang "g" (2 nodes of 1 GPU, one restart) running on two of the nodes a, b, c.
  void RunGangOnTwoOfThreeOneGpuNodes() {
    Register("a", {0});
    Register("b", {0});
    Register("c", {0});
    SubmitGang("g", 2, /*gpus=*/1, /*max_restarts=*/1);
    RunAll("g");
  }

  // Takes every part of the run's current gang to running; rank 0 reports `port`.
  void RunAll(const std::string& run, int port = 29500) {
    for (const Attempt* p : Parts(run))
      Sync(p->node, {Running(p->id, 0, port)});
  }
};

TEST_F(GangTest, AGangIsPlacedOnDistinctNodesAtOnceWithAHeadAndOnePartPerNode) {
  Register("a", {0, 1});
  Register("b", {0, 1});
  SubmitGang("g", 2, /*gpus=*/2);
  const Attempt* head = Current("g");
  ASSERT_NE(head, nullptr);
  EXPECT_TRUE(head->IsGangHead());
  EXPECT_EQ(head->nnodes, 2);
  auto parts = Parts("g");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_NE(parts[0]->node, parts[1]->node);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(parts[static_cast<size_t>(r)]->node_rank, r);
    EXPECT_EQ(parts[static_cast<size_t>(r)]->gang, head->id);
    EXPECT_EQ(parts[static_cast<size_t>(r)]->gpu_indices, (std::vector<int>{0, 1}));
  }
  EXPECT_EQ(Exp("g").state, ExperimentState::kStarting);
  EXPECT_NE(Exp("g").reason.find(parts[0]->node + ", " + parts[1]->node), std::string::npos) << Exp("g").reason;
  // Rank 0's node gets no port (it picks one); the other waits for it.
  AgentWork w0 = Sync(parts[0]->node);
  ASSERT_EQ(w0.assign.size(), 1u);
  EXPECT_EQ(w0.assign[0].node_rank, 0);
  EXPECT_EQ(w0.assign[0].nnodes, 2);
  EXPECT_EQ(w0.assign[0].ranks_per_node, 2);  // per-gpu by default on several nodes
  EXPECT_EQ(w0.assign[0].launcher, "per-gpu");
  EXPECT_EQ(w0.assign[0].master_addr, FindNode(parts[0]->node)->address);
  EXPECT_EQ(w0.assign[0].master_port, 0);
  AgentWork w1 = Sync(parts[1]->node);
  ASSERT_EQ(w1.assign.size(), 1u);
  EXPECT_EQ(w1.assign[0].node_rank, 1);
  EXPECT_EQ(w1.assign[0].master_addr, w0.assign[0].master_addr);
  EXPECT_EQ(w1.assign[0].master_port, 0);
}

TEST_F(GangTest, TheOtherNodesLearnRankZerosPortAndAreToldUntilTheyHaveIt) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  auto parts = Parts("g");
  Report(parts[1]->node, {AttemptReport{parts[1]->id, ReportedState::kRunning, std::nullopt, 0,
                                        "waiting for the rendezvous port of node rank 0", 0}});
  AgentWork before = Sync(parts[1]->node, {AttemptReport{parts[1]->id, ReportedState::kRunning, std::nullopt, 0,
                                                         "waiting for the rendezvous port of node rank 0", 0}});
  EXPECT_TRUE(before.master_ports.empty());
  woken_.clear();
  Sync(parts[0]->node, {Running(parts[0]->id, 0, 40123)});
  EXPECT_NE(std::find(woken_.begin(), woken_.end(), parts[1]->node), woken_.end()) << "rank 1's node is woken";
  AgentWork w = Sync(parts[1]->node, {AttemptReport{parts[1]->id, ReportedState::kRunning, std::nullopt, 0,
                                                    "waiting for the rendezvous port of node rank 0", 0}});
  ASSERT_EQ(w.master_ports.size(), 1u);
  EXPECT_EQ(w.master_ports[0].attempt, parts[1]->id);
  EXPECT_EQ(w.master_ports[0].port, 40123);
  // Once it reports the port it knows, the server stops sending it.
  AgentWork after = Sync(parts[1]->node, {Running(parts[1]->id, 0, 40123)});
  EXPECT_TRUE(after.master_ports.empty());
  EXPECT_TRUE(after.empty());
}

TEST_F(GangTest, RunningOnlyOnceEveryPartRuns) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  auto parts = Parts("g");
  Sync(parts[0]->node, {Running(parts[0]->id, 0, 29500)});
  EXPECT_EQ(Exp("g").state, ExperimentState::kStarting);
  Sync(parts[1]->node, {Running(parts[1]->id, 0, 29500)});
  EXPECT_EQ(Exp("g").state, ExperimentState::kRunning);
  EXPECT_EQ(Current("g")->state, AttemptState::kRunning);
  EXPECT_EQ(Exp("g").reason, "running on " + parts[0]->node + ", " + parts[1]->node);
}

TEST_F(GangTest, AGangWaitsForEnoughFreeNodesAndAnImpossibleOneIsRefused) {
  Register("a", {0});
  Register("b", {0});
  const int64_t single = StartRunning("single", "a", /*gpus=*/1);
  SubmitGang("g", 2, /*gpus=*/1);
  EXPECT_EQ(Current("g"), nullptr);
  EXPECT_EQ(Exp("g").state, ExperimentState::kQueued);
  EXPECT_NE(Exp("g").reason.find("2 nodes"), std::string::npos) << Exp("g").reason;
  Report("a", {Exited(single, 0)});  // a frees its GPU: placed on both
  ASSERT_NE(Current("g"), nullptr);
  EXPECT_EQ(Parts("g").size(), 2u);
  SubmitRequest req;
  req.spec.script = "train.py";
  req.spec.snapshot = kSnapshot;
  req.spec.nodes = 3;
  req.spec.resources.gpus = 1;
  auto r = c().Submit(std::move(req), rng_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("3 nodes"), std::string::npos) << r.error().message;
}

TEST_F(GangTest, APartsGpusAreHeldOnItsNodeUntilItEnds) {
  Register("a", {0});
  Register("b", {0});
  SubmitGang("g", 2, /*gpus=*/1);
  RunAll("g");
  Submit("single", /*gpus=*/1);
  EXPECT_EQ(Current("single"), nullptr) << "every GPU is held by the gang";
}

TEST_F(GangTest, ARankFailingEndsTheGangAtOnceAndAbortsTheOtherParts) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  RunAll("g");
  auto parts = Parts("g");
  const int64_t p0 = parts[0]->id, p1 = parts[1]->id;
  const std::string n0 = parts[0]->node, n1 = parts[1]->node;
  Report(n1, {Exited(p1, 3)});
  EXPECT_EQ(Exp("g").state, ExperimentState::kFailed);
  EXPECT_EQ(Exp("g").exit_code, 3);
  EXPECT_EQ(Exp("g").reason, "rank 1 on " + n1 + " exited with code 3; --max-restarts is 0");
  EXPECT_EQ(Current("g")->state, AttemptState::kFailed);
  AgentWork w = Sync(n0, {Running(p0, 0, 29500)});
  EXPECT_EQ(w.abort, (std::vector<int64_t>{p0}));
  // The aborted part ends as stopped by Lattice, not as a second failure.
  Sync(n0, {Exited(p0, 137)});
  EXPECT_EQ(c().FindAttempt(p0)->state, AttemptState::kCancelled);
  EXPECT_EQ(Exp("g").reason, "rank 1 on " + n1 + " exited with code 3; --max-restarts is 0");
}

TEST_F(GangTest, ALostNodeRequeuesTheGangWhichRunsAgainOnTheNodesLeft) {
  RunGangOnTwoOfThreeOneGpuNodes();
  auto parts = Parts("g");
  const int64_t old_head = CurrentId("g");
  const Attempt survivor = *parts[0];
  const std::string dead = parts[1]->node;
  // Only the survivor and the spare node keep talking.
  clock_.Advance(kNodeTimeoutMs / 2);
  for (const std::string& n : {std::string("a"), std::string("b"), std::string("c")})
    if (n != dead) Sync(n, n == survivor.node ? std::vector<AttemptReport>{Running(survivor.id, 0, 29500)}
                                              : std::vector<AttemptReport>{});
  clock_.Advance(kNodeTimeoutMs / 2 + 1);
  c().Tick();
  EXPECT_EQ(FindNode(dead)->state, NodeState::kLost);
  EXPECT_EQ(c().FindAttempt(old_head)->state, AttemptState::kLost);
  EXPECT_EQ(Exp("g").restarts, 1);
  EXPECT_NE(Exp("g").reason.find("node " + dead + " stopped responding"), std::string::npos) << Exp("g").reason;
  // The survivor's old part is aborted; until it ends it holds its node, so
  // the new gang cannot use it yet.
  AgentWork w = Sync(survivor.node, {Running(survivor.id, 0, 29500)});
  EXPECT_EQ(w.abort, (std::vector<int64_t>{survivor.id}));
  EXPECT_EQ(CurrentId("g"), old_head) << "no second node free yet";
  Sync(survivor.node, {Exited(survivor.id, 143)});
  ASSERT_NE(CurrentId("g"), old_head);
  auto again = Parts("g");
  ASSERT_EQ(again.size(), 2u);
  for (const Attempt* p : again) EXPECT_NE(p->node, dead);
  EXPECT_EQ(Current("g")->number, 2);
}

TEST_F(GangTest, EveryPartSucceedingSucceedsTheExperiment) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  RunAll("g");
  auto parts = Parts("g");
  Report(parts[0]->node, {Exited(parts[0]->id, 0)});
  EXPECT_EQ(Exp("g").state, ExperimentState::kRunning);
  Report(parts[1]->node, {Exited(parts[1]->id, 0)});
  EXPECT_EQ(Exp("g").state, ExperimentState::kSucceeded);
  EXPECT_EQ(Current("g")->state, AttemptState::kSucceeded);
}

TEST_F(GangTest, CancelStopsEveryPartWithTheGraceAndEndsCancelled) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  RunAll("g");
  auto parts = Parts("g");
  woken_.clear();
  ASSERT_TRUE(c().Cancel("g", std::nullopt).ok());
  EXPECT_EQ(std::set<std::string>(woken_.begin(), woken_.end()),
            (std::set<std::string>{parts[0]->node, parts[1]->node}));
  for (const Attempt* p : parts) {
    AgentWork w = Sync(p->node, {Running(p->id, 0, 29500)});
    EXPECT_EQ(w.cancel, (std::vector<int64_t>{p->id}));
    EXPECT_TRUE(w.abort.empty()) << "a cancel keeps the grace period for checkpoints";
  }
  Report(parts[0]->node, {Exited(parts[0]->id, 143)});
  EXPECT_NE(Exp("g").state, ExperimentState::kCancelled) << "until every part stopped";
  Report(parts[1]->node, {Exited(parts[1]->id, 143)});
  EXPECT_EQ(Exp("g").state, ExperimentState::kCancelled);
}

TEST_F(GangTest, ALostAttemptIsFencedFromMetricsAndFiles) {
  Register("a");
  Register("b");
  SubmitGang("g", 2, 0, 1);
  RunAll("g");
  auto parts = Parts("g");
  const Attempt p1 = *parts[1];
  EXPECT_TRUE(c().AcceptsData(p1.node, p1.id).ok());
  Report(p1.node, {Lost(p1.id, 0, "the agent restarted")});
  Status st = c().AcceptsData(p1.node, p1.id);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("declared lost"), std::string::npos) << st.error().message;
  EXPECT_FALSE(c().AcceptsData("a-node-it-never-ran-on", parts[0]->id).ok());
}

TEST_F(GangTest, ThePartsLogsAreCombinedLineByLineIntoTheGangsLog) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  RunAll("g");
  auto parts = Parts("g");
  const int64_t head = CurrentId("g");
  ASSERT_TRUE(c().AppendLog(parts[0]->node, parts[0]->id, 0, "[rank 0] one\n[rank 0] tw").ok());
  ASSERT_TRUE(c().AppendLog(parts[1]->node, parts[1]->id, 0, "[rank 1] hello\n").ok());
  ASSERT_TRUE(c().AppendLog(parts[0]->node, parts[0]->id, 24, "o\n[rank 0] no newline").ok());
  auto log = c().ReadLog(head, 0, 1 << 20);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, "[rank 0] one\n[rank 1] hello\n[rank 0] two\n");
  EXPECT_FALSE(c().LogComplete(*c().FindAttempt(head)));
  Report(parts[0]->node, {Exited(parts[0]->id, 0, 45)});
  Report(parts[1]->node, {Exited(parts[1]->id, 0, 15)});
  log = c().ReadLog(head, 0, 1 << 20);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(*log, "[rank 0] one\n[rank 1] hello\n[rank 0] two\n[rank 0] no newline");
  EXPECT_TRUE(c().LogComplete(*c().FindAttempt(head)));
  // A resent range (the agent retries) is not copied twice.
  ASSERT_TRUE(c().AppendLog(parts[1]->node, parts[1]->id, 0, "[rank 1] hello\n").ok());
  EXPECT_EQ(c().ReadLog(head, 0, 1 << 20)->size(), log->size());
}

TEST_F(GangTest, AServerRestartKeepsTheGangAndRelearnsThePortFromReports) {
  Register("a");
  Register("b");
  SubmitGang("g", 2);
  auto parts = Parts("g");
  const int64_t p0 = parts[0]->id, p1 = parts[1]->id;
  const std::string n0 = parts[0]->node, n1 = parts[1]->node;
  Restart();
  auto again = Parts("g");
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0]->id, p0);
  EXPECT_EQ(again[1]->id, p1);
  EXPECT_TRUE(Current("g")->IsGangHead());
  Sync(n0, {Running(p0, 0, 41000)});
  AgentWork w = Sync(n1, {AttemptReport{p1, ReportedState::kRunning, std::nullopt, 0, "waiting", 0}});
  ASSERT_EQ(w.master_ports.size(), 1u);
  EXPECT_EQ(w.master_ports[0].port, 41000);
}

TEST_F(GangTest, AStoppingNodeGetsNothingNewAndItsLostPartRequeuesElsewhere) {
  RunGangOnTwoOfThreeOneGpuNodes();
  auto parts = Parts("g");
  const Attempt p0 = *parts[0], p1 = *parts[1];
  ASSERT_TRUE(c().NodeStopping(p1.node).ok());  // its agent is going away: first word
  Report(p0.node, {Exited(p0.id, 0)});           // the ranks agreed to stop and saved
  Report(p1.node, {Lost(p1.id, 0, "the agent on this node was stopped")});  // after its last upload
  ASSERT_EQ(Exp("g").state, ExperimentState::kStarting) << Exp("g").reason;
  for (const Attempt* p : Parts("g")) EXPECT_NE(p->node, p1.node) << "placed back on the stopping node";
  Register(p1.node, {0});  // a new agent there: usable again
  EXPECT_FALSE(c().NodeStopping("no-such-node").ok());
}

TEST_F(GangTest, ASweepOfGangsPlacesAsManyGangsAsFit) {
  for (const char* n : {"a", "b", "c", "d", "e"}) Register(n, {0});
  SubmitRequest req;
  req.name = "sweep";
  req.spec.script = "train.py";
  req.spec.snapshot = kSnapshot;
  req.spec.nodes = 2;
  req.spec.resources.gpus = 1;
  req.spec.sweep.parameters = {"lr"};
  for (const char* lr : {"0.1", "0.01", "0.001"}) req.experiments.push_back({{"--lr", lr}, {lr}});
  ASSERT_TRUE(c().Submit(std::move(req), rng_).ok());
  int placed = 0;
  std::set<std::string> used;
  for (int i = 0; i < 3; ++i) {
    if (!Current("sweep", i)) continue;
    ++placed;
    for (const Attempt* p : c().Parts(CurrentId("sweep", i))) EXPECT_TRUE(used.insert(p->node).second);
  }
  EXPECT_EQ(placed, 2) << "5 one-GPU nodes hold two 2-node gangs";
}

}  // namespace
}  // namespace lattice::testing
