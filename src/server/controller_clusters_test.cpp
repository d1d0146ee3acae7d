// Clusters in the controller: the registry (local always there, create,
// delete, the default), runs placed on their own cluster's nodes only, what
// a backend sees (Demand) and says back (waiting notes, nodes down), and
// nodes lost before an attempt started costing no restart.
#include <gmock/gmock.h>

#include "server/controller_test_util.h"

namespace lattice::testing {
namespace {

using ::testing::HasSubstr;

class ClustersTest : public ControllerTest {
 protected:
  void Create(const std::string& name, const std::string& backend, bool is_default = false) {
    Cluster cl;
    cl.name = name;
    cl.backend = backend;
    cl.is_default = is_default;
    if (backend == "ssh") cl.hosts = {SshHost{"root", name + "-host", 22}};
    auto r = c().CreateCluster(cl);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Registers a node of `cluster` (empty: local) started by `allocation`.
  void RegisterIn(const std::string& id, const std::string& cluster, const std::string& allocation = "",
                  int gpus = 0, double cpus = 16) {
    NodeRegistration reg;
    reg.id = id;
    reg.hostname = id + ".cluster";
    reg.address = "10.1.0.1";
    reg.cpus = cpus;
    reg.memory_bytes = 64ull << 30;
    for (int i = 0; i < gpus; ++i) reg.gpus.push_back(Gpu{i, "Sim GPU", 16ull << 30});
    reg.cluster = cluster;
    reg.allocation = allocation;
    auto r = c().RegisterNode(reg);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  Result<const lattice::Run*> TrySubmitTo(const std::string& name, const std::string& cluster, int gpus = 0,
                                          int experiments = 1, int max_parallel = 0, int max_restarts = 0,
                                          double cpus = 1) {
    SubmitRequest req;
    req.name = name;
    req.spec.script = "train.py";
    req.spec.snapshot = kSnapshot;
    req.spec.cluster = cluster;
    req.spec.resources.gpus = gpus;
    req.spec.resources.cpus = cpus;
    req.spec.max_parallel = max_parallel;
    req.spec.max_restarts = max_restarts;
    if (experiments > 1) {
      req.spec.sweep.parameters = {"seed"};
      for (int i = 0; i < experiments; ++i)
        req.experiments.push_back({{"--seed", std::to_string(i)}, {std::to_string(i)}});
    }
    return c().Submit(std::move(req), rng_);
  }

  void SubmitTo(const std::string& name, const std::string& cluster, int gpus = 0, int experiments = 1,
                int max_parallel = 0, int max_restarts = 0, double cpus = 1) {
    auto r = TrySubmitTo(name, cluster, gpus, experiments, max_parallel, max_restarts, cpus);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  static std::string Key(int gpus = 0, double cpus = 1, int nodes = 1) {
    return ShapeKey(Resources{cpus, 0, gpus}, nodes);
  }
};

// --- the registry ---------------------------------------------------------------------

TEST_F(ClustersTest, LocalAlwaysExistsAndIsTheDefault) {
  ASSERT_EQ(c().Clusters().size(), 1u);
  const Cluster* local = c().FindCluster("local");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->backend, "local");
  EXPECT_TRUE(local->is_default);
  EXPECT_EQ(c().DefaultCluster(), "local");
  EXPECT_EQ(c().FindCluster("nope"), nullptr);
}

TEST_F(ClustersTest, SubmitWithoutACluster_GoesToLocalAndRecordsIt) {
  Submit("r");
  EXPECT_EQ(c().FindRun("r")->spec.cluster, "local");
}

TEST_F(ClustersTest, CreateCluster_AddsItWithItsCreationTimeAndADuplicateIsRefused) {
  clock_.Advance(1234);
  Create("hpc", "slurm");
  const Cluster* hpc = c().FindCluster("hpc");
  ASSERT_NE(hpc, nullptr);
  EXPECT_EQ(hpc->backend, "slurm");
  EXPECT_EQ(hpc->created_at_ms, clock_.NowMs());
  EXPECT_FALSE(hpc->is_default);
  EXPECT_EQ(c().DefaultCluster(), "local");
  Cluster again;
  again.name = "hpc";
  again.backend = "ssh";
  auto r = c().CreateCluster(again);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(r.error().field, "name");
  EXPECT_EQ(c().FindCluster("hpc")->backend, "slurm");
  Cluster local_again;
  local_again.name = "local";
  local_again.backend = "local";
  auto local = c().CreateCluster(local_again);
  ASSERT_FALSE(local.ok());
  EXPECT_EQ(local.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(ClustersTest, CreateClusterAsDefault_TakesTheDefaultOver) {
  Create("hpc", "slurm", /*is_default=*/true);
  EXPECT_EQ(c().DefaultCluster(), "hpc");
  EXPECT_TRUE(c().FindCluster("hpc")->is_default);
  EXPECT_FALSE(c().FindCluster("local")->is_default);
  Create("lab", "ssh", /*is_default=*/true);
  EXPECT_EQ(c().DefaultCluster(), "lab");
  EXPECT_FALSE(c().FindCluster("hpc")->is_default);
}

TEST_F(ClustersTest, SetDefaultCluster_MakesSubmitWithoutAClusterGoThere) {
  Create("hpc", "slurm");
  ASSERT_TRUE(c().SetDefaultCluster("hpc").ok());
  EXPECT_EQ(c().DefaultCluster(), "hpc");
  EXPECT_TRUE(c().FindCluster("hpc")->is_default);
  EXPECT_FALSE(c().FindCluster("local")->is_default);
  Submit("r");
  EXPECT_EQ(c().FindRun("r")->spec.cluster, "hpc");
  SubmitTo("explicit", "local");
  EXPECT_EQ(c().FindRun("explicit")->spec.cluster, "local");
  auto bad = c().SetDefaultCluster("nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(c().DefaultCluster(), "hpc");
}

TEST_F(ClustersTest, SubmitToAnUnknownCluster_IsNotFoundListingTheClusters) {
  Create("hpc", "slurm");
  auto r = TrySubmitTo("r", "hcp");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().field, "cluster");
  EXPECT_THAT(r.error().message, HasSubstr("cluster 'hcp' does not exist"));
  EXPECT_THAT(r.error().message, HasSubstr("clusters: hpc, local"));
  EXPECT_EQ(c().FindRun("r"), nullptr);
}

TEST_F(ClustersTest, DeleteCluster_RefusedWhileARunOnItHasUnfinishedExperimentsAndAllowedAfter) {
  Create("hpc", "slurm");
  SubmitTo("big-sweep", "hpc", 0, /*experiments=*/3);
  auto refused = c().DeleteCluster("hpc");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.error().message, HasSubstr("3 unfinished experiment(s) of run big-sweep"));
  EXPECT_THAT(refused.error().message, HasSubstr("lattice cancel big-sweep"));
  EXPECT_NE(c().FindCluster("hpc"), nullptr);
  ASSERT_TRUE(c().Cancel("big-sweep", std::nullopt).ok());
  ASSERT_TRUE(c().DeleteCluster("hpc").ok());
  EXPECT_EQ(c().FindCluster("hpc"), nullptr);
  EXPECT_NE(c().FindRun("big-sweep"), nullptr) << "its runs stay, finished";
}

TEST_F(ClustersTest, DeleteCluster_LocalAndUnknownOnesAreRefused) {
  auto local = c().DeleteCluster("local");
  ASSERT_FALSE(local.ok());
  EXPECT_EQ(local.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(local.error().message, HasSubstr("cannot be deleted"));
  EXPECT_NE(c().FindCluster("local"), nullptr);
  auto unknown = c().DeleteCluster("nope");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
}

TEST_F(ClustersTest, DeleteCluster_ItsReadyNodesBecomeLostWithTheReason) {
  Create("lab", "ssh");
  RegisterIn("gpu1", "lab", "ssh root@gpu1");
  Register("mine");
  ASSERT_TRUE(c().DeleteCluster("lab").ok());
  ASSERT_NE(FindNode("gpu1"), nullptr);
  EXPECT_EQ(FindNode("gpu1")->state, NodeState::kLost);
  EXPECT_EQ(FindNode("gpu1")->reason, "its cluster was deleted");
  EXPECT_EQ(FindNode("mine")->state, NodeState::kReady);
  Restart();
  EXPECT_EQ(FindNode("gpu1")->state, NodeState::kLost) << "stored so";
  EXPECT_EQ(FindNode("gpu1")->reason, "its cluster was deleted");
}

TEST_F(ClustersTest, DeleteTheDefaultCluster_LocalBecomesTheDefaultAgain) {
  Create("hpc", "slurm", /*is_default=*/true);
  ASSERT_TRUE(c().DeleteCluster("hpc").ok());
  EXPECT_EQ(c().DefaultCluster(), "local");
  EXPECT_TRUE(c().FindCluster("local")->is_default);
  Restart();
  EXPECT_EQ(c().DefaultCluster(), "local");
  EXPECT_EQ(c().FindCluster("hpc"), nullptr);
}

TEST_F(ClustersTest, ClustersAndTheDefault_SurviveAReload) {
  Create("hpc", "slurm");
  Cluster lab;
  lab.name = "lab";
  lab.backend = "ssh";
  lab.hosts = {SshHost{"root", "gpu1", 2222}};
  lab.identity = "/etc/lattice/key";
  ASSERT_TRUE(c().CreateCluster(lab).ok());
  ASSERT_TRUE(c().SetDefaultCluster("lab").ok());
  Restart();
  EXPECT_EQ(c().Clusters().size(), 3u);
  EXPECT_EQ(c().DefaultCluster(), "lab");
  ASSERT_NE(c().FindCluster("lab"), nullptr);
  EXPECT_TRUE(c().FindCluster("lab")->is_default);
  EXPECT_FALSE(c().FindCluster("local")->is_default);
  ASSERT_EQ(c().FindCluster("lab")->hosts.size(), 1u);
  EXPECT_EQ(c().FindCluster("lab")->hosts[0].port, 2222);
  EXPECT_EQ(c().FindCluster("lab")->identity, "/etc/lattice/key");
  EXPECT_EQ(c().FindCluster("hpc")->backend, "slurm");
  Submit("r");
  EXPECT_EQ(c().FindRun("r")->spec.cluster, "lab");
}

TEST_F(ClustersTest, DefaultBackToLocalThenANewDefaultCluster_TheNewOneIsTheDefaultAfterAReload) {
  Create("alpha", "slurm", /*is_default=*/true);
  ASSERT_TRUE(c().SetDefaultCluster("local").ok());  // local is now stored as the default
  Create("beta", "slurm", /*is_default=*/true);
  ASSERT_EQ(c().DefaultCluster(), "beta");
  Restart();
  EXPECT_EQ(c().DefaultCluster(), "beta");
  EXPECT_TRUE(c().FindCluster("beta")->is_default);
  EXPECT_FALSE(c().FindCluster("local")->is_default);
  EXPECT_FALSE(c().FindCluster("alpha")->is_default);
}

// --- nodes and placement -------------------------------------------------------------------

TEST_F(ClustersTest, RegisterNodeForAnUnknownCluster_IsRefused) {
  NodeRegistration reg;
  reg.id = "x";
  reg.hostname = "x";
  reg.cpus = 4;
  reg.cluster = "nope";
  auto r = c().RegisterNode(reg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().field, "cluster");
  EXPECT_THAT(r.error().message, HasSubstr("cluster 'nope' does not exist"));
  EXPECT_EQ(FindNode("x"), nullptr);
}

TEST_F(ClustersTest, RegisterNode_KeepsClusterAndAllocationAndAnEmptyClusterIsLocal) {
  Create("hpc", "slurm");
  RegisterIn("n1-7", "hpc", "slurm job 7");
  Register("mine");
  EXPECT_EQ(FindNode("n1-7")->cluster, "hpc");
  EXPECT_EQ(FindNode("n1-7")->allocation, "slurm job 7");
  EXPECT_EQ(FindNode("mine")->cluster, "local");
  EXPECT_EQ(FindNode("mine")->allocation, "");
  Restart();
  EXPECT_EQ(FindNode("n1-7")->cluster, "hpc");
  EXPECT_EQ(FindNode("n1-7")->allocation, "slurm job 7");
}

TEST_F(ClustersTest, ARunIsOnlyEverPlacedOnNodesOfItsCluster) {
  Create("hpc", "slurm");
  Create("lab", "ssh");
  RegisterIn("h1", "hpc", "slurm job 1", /*gpus=*/1);
  SubmitTo("on-local", "local");
  SubmitTo("on-lab", "lab");
  EXPECT_EQ(Current("on-local"), nullptr) << "local has no node; h1 is hpc's";
  EXPECT_EQ(Current("on-lab"), nullptr);
  EXPECT_EQ(Exp("on-local").state, ExperimentState::kQueued);
  EXPECT_THAT(Exp("on-local").reason, HasSubstr("no nodes are connected"));
  SubmitTo("on-hpc", "hpc", /*gpus=*/1);
  ASSERT_NE(Current("on-hpc"), nullptr);
  EXPECT_EQ(Current("on-hpc")->node, "h1");
  RegisterIn("l1", "lab", "ssh root@l1");
  ASSERT_NE(Current("on-lab"), nullptr);
  EXPECT_EQ(Current("on-lab")->node, "l1");
  EXPECT_EQ(Current("on-local"), nullptr) << "not placed on lab's node either";
  Register("mine");
  ASSERT_NE(Current("on-local"), nullptr);
  EXPECT_EQ(Current("on-local")->node, "mine");
}

TEST_F(ClustersTest, ASlurmClusterAcceptsARunNoCurrentNodeCouldHold) {
  Create("hpc", "slurm");
  RegisterIn("small", "hpc", "slurm job 1", /*gpus=*/0, /*cpus=*/2);
  auto r = TrySubmitTo("huge", "hpc", /*gpus=*/8, 1, 0, 0, /*cpus=*/64);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Exp("huge").state, ExperimentState::kQueued);
  EXPECT_EQ(Current("huge"), nullptr);
}

TEST_F(ClustersTest, LocalAndSshRefuseARunNoneOfTheirNodesCouldHold) {
  Create("lab", "ssh");
  Register("mine", {}, /*cpus=*/2);
  RegisterIn("l1", "lab", "ssh root@l1", /*gpus=*/0, /*cpus=*/2);
  // A big node in another cluster does not make the run feasible here.
  Create("hpc", "slurm");
  RegisterIn("big", "hpc", "slurm job 1", /*gpus=*/8, /*cpus=*/128);
  for (const char* cluster : {"local", "lab"}) {
    auto r = TrySubmitTo(std::string("huge-") + cluster, cluster, /*gpus=*/8);
    ASSERT_FALSE(r.ok()) << cluster;
    EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << cluster;
    EXPECT_EQ(r.error().field, "resources") << cluster;
    EXPECT_THAT(r.error().message, HasSubstr("can never start")) << cluster;
  }
}

// --- what a backend sees: Demand ---------------------------------------------------------

TEST_F(ClustersTest, Demand_CountsQueuedExperimentsPerShapeInOrderOfFirstQueued) {
  Create("hpc", "slurm");
  SubmitTo("a", "hpc", /*gpus=*/1, /*experiments=*/3);
  SubmitTo("b", "hpc", /*gpus=*/0, /*experiments=*/2);
  SubmitTo("c", "hpc", /*gpus=*/1, /*experiments=*/1);
  SubmitTo("elsewhere", "local", /*gpus=*/1, /*experiments=*/4);
  ClusterDemand d = c().Demand("hpc");
  ASSERT_EQ(d.shapes.size(), 2u);
  EXPECT_EQ(d.shapes[0].key, Key(1));
  EXPECT_EQ(d.shapes[0].queued, 4);
  EXPECT_EQ(d.shapes[0].ask.gpus, 1);
  EXPECT_EQ(d.shapes[0].nodes, 1);
  EXPECT_EQ(d.shapes[1].key, Key(0));
  EXPECT_EQ(d.shapes[1].queued, 2);
  EXPECT_EQ(d.active_experiments, 0);
  EXPECT_TRUE(d.nodes.empty());
  EXPECT_TRUE(c().Demand("nope").shapes.empty());
}

TEST_F(ClustersTest, Demand_RespectsMaxParallel) {
  Create("hpc", "slurm");
  SubmitTo("limited", "hpc", 0, /*experiments=*/5, /*max_parallel=*/2);
  ClusterDemand d = c().Demand("hpc");
  ASSERT_EQ(d.shapes.size(), 1u);
  EXPECT_EQ(d.shapes[0].queued, 2) << "only 2 may be active at once";
  RegisterIn("n1-7", "hpc", "slurm job 7", 0, /*cpus=*/1);
  d = c().Demand("hpc");
  EXPECT_EQ(d.active_experiments, 1);
  ASSERT_EQ(d.shapes.size(), 1u);
  EXPECT_EQ(d.shapes[0].queued, 1) << "one active, one more may start";
  RegisterIn("n2-8", "hpc", "slurm job 8", 0, /*cpus=*/1);
  d = c().Demand("hpc");
  EXPECT_EQ(d.active_experiments, 2);
  EXPECT_TRUE(d.shapes.empty()) << "max_parallel reached: no node could be used now";
}

TEST_F(ClustersTest, Demand_LeavesOutCancelledExperiments) {
  Create("hpc", "slurm");
  SubmitTo("sweep", "hpc", 0, /*experiments=*/3);
  ASSERT_TRUE(c().Cancel("sweep", 1).ok());
  ClusterDemand d = c().Demand("hpc");
  ASSERT_EQ(d.shapes.size(), 1u);
  EXPECT_EQ(d.shapes[0].queued, 2);
  ASSERT_TRUE(c().Cancel("sweep", std::nullopt).ok());
  EXPECT_TRUE(c().Demand("hpc").shapes.empty());
}

TEST_F(ClustersTest, Demand_ListsTheClustersReadyNodesBusyOrIdle) {
  Create("hpc", "slurm");
  RegisterIn("n1-7", "hpc", "slurm job 7", /*gpus=*/1);
  RegisterIn("n2-8", "hpc", "slurm job 8", /*gpus=*/1);
  RegisterIn("gone-9", "hpc", "slurm job 9", /*gpus=*/1);
  Register("mine", {0});
  ASSERT_TRUE(c().NodeDown("gone-9", "Slurm job 9 ended").ok());
  SubmitTo("r", "hpc", /*gpus=*/1);
  const std::string busy = Current("r")->node;
  ClusterDemand d = c().Demand("hpc");
  ASSERT_EQ(d.nodes.size(), 2u) << "ready nodes of hpc only";
  EXPECT_EQ(d.active_experiments, 1);
  for (const auto& n : d.nodes) {
    EXPECT_EQ(n.busy, n.id == busy) << n.id;
    EXPECT_FALSE(n.stopping);
    EXPECT_EQ(n.allocation, n.id == "n1-7" ? "slurm job 7" : "slurm job 8");
  }
  ASSERT_TRUE(c().NodeStopping(busy).ok());
  for (const auto& n : c().Demand("hpc").nodes) EXPECT_EQ(n.stopping, n.id == busy) << n.id;
}

TEST_F(ClustersTest, Demand_AGangCountsAsOneShapeOfItsNodesAndBusiesEveryPart) {
  Create("hpc", "slurm");
  SubmitRequest req;
  req.name = "gang";
  req.spec.script = "train.py";
  req.spec.snapshot = kSnapshot;
  req.spec.cluster = "hpc";
  req.spec.nodes = 2;
  ASSERT_TRUE(c().Submit(std::move(req), rng_).ok());
  ClusterDemand d = c().Demand("hpc");
  ASSERT_EQ(d.shapes.size(), 1u);
  EXPECT_EQ(d.shapes[0].nodes, 2);
  EXPECT_EQ(d.shapes[0].key, Key(0, 1, 2));
  EXPECT_EQ(d.shapes[0].queued, 1);
  RegisterIn("a-7", "hpc", "slurm job 7");
  RegisterIn("b-7", "hpc", "slurm job 7");
  ASSERT_NE(Current("gang"), nullptr);
  d = c().Demand("hpc");
  EXPECT_TRUE(d.shapes.empty());
  ASSERT_EQ(d.nodes.size(), 2u);
  for (const auto& n : d.nodes) EXPECT_TRUE(n.busy) << n.id;
}

// --- what a backend says: waiting notes ---------------------------------------------------

TEST_F(ClustersTest, SetWaitingNote_ReplacesTheReasonOfQueuedExperimentsOfThatShapeOnly) {
  Create("hpc", "slurm");
  SubmitTo("gpu-run", "hpc", /*gpus=*/1, /*experiments=*/2);
  SubmitTo("cpu-run", "hpc", /*gpus=*/0);
  SubmitTo("local-run", "local", /*gpus=*/1);
  const std::string scheduler_words = Exp("cpu-run").reason;
  ASSERT_THAT(scheduler_words, HasSubstr("waiting"));
  c().SetWaitingNote("hpc", Key(1), "waiting for Slurm job 42 (pending: Priority)");
  EXPECT_EQ(Exp("gpu-run", 0).reason, "waiting for Slurm job 42 (pending: Priority)");
  EXPECT_EQ(Exp("gpu-run", 1).reason, "waiting for Slurm job 42 (pending: Priority)");
  EXPECT_EQ(Exp("cpu-run").reason, scheduler_words) << "another shape";
  EXPECT_EQ(Exp("local-run").reason, scheduler_words) << "another cluster";
  c().SetWaitingNote("hpc", Key(1), "waiting for Slurm job 42 and 1 more (pending: Resources)");
  EXPECT_EQ(Exp("gpu-run", 1).reason, "waiting for Slurm job 42 and 1 more (pending: Resources)");
  c().SetWaitingNote("hpc", Key(1), "");
  EXPECT_EQ(Exp("gpu-run", 0).reason, scheduler_words) << "the scheduler's words again";
  EXPECT_EQ(Exp("gpu-run", 1).reason, scheduler_words);
}

TEST_F(ClustersTest, SetWaitingNote_MaxParallelStillSaysMaxParallel) {
  Create("hpc", "slurm");
  SubmitTo("limited", "hpc", 0, /*experiments=*/3, /*max_parallel=*/1);
  RegisterIn("n1-7", "hpc", "slurm job 7", 0, /*cpus=*/1);  // runs one
  c().SetWaitingNote("hpc", Key(0), "waiting for Slurm job 43 (pending: Priority)");
  EXPECT_THAT(Exp("limited", 1).reason, HasSubstr("max_parallel"));
}

TEST_F(ClustersTest, SetWaitingNote_NeverTouchesStartedExperiments) {
  Create("hpc", "slurm");
  RegisterIn("n1-7", "hpc", "slurm job 7");
  SubmitTo("r", "hpc");
  ASSERT_EQ(Exp("r").state, ExperimentState::kStarting);
  const std::string reason = Exp("r").reason;
  c().SetWaitingNote("hpc", Key(0), "waiting for Slurm job 44 (pending: Priority)");
  EXPECT_EQ(Exp("r").reason, reason);
}

// --- what a backend says: nodes down --------------------------------------------------------

TEST_F(ClustersTest, NodeDown_MarksTheNodeLostWithTheReasonAndRequeuesItsRunningAttempt) {
  Create("hpc", "slurm");
  RegisterIn("n1-7", "hpc", "slurm job 7");
  SubmitTo("r", "hpc", 0, 1, 0, /*max_restarts=*/1);
  const int64_t id = CurrentId("r");
  Sync("n1-7", {Running(id)});
  ASSERT_EQ(Exp("r").state, ExperimentState::kRunning);
  ASSERT_TRUE(c().NodeDown("n1-7", "Slurm job 7 ended (TIMEOUT)").ok());
  EXPECT_EQ(FindNode("n1-7")->state, NodeState::kLost);
  EXPECT_EQ(FindNode("n1-7")->reason, "Slurm job 7 ended (TIMEOUT)");
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kLost);
  EXPECT_EQ(Exp("r").state, ExperimentState::kQueued);
  EXPECT_EQ(Exp("r").restarts, 1);
  EXPECT_THAT(Exp("r").reason, HasSubstr("restart 1 of 1"));
  Restart();
  EXPECT_EQ(FindNode("n1-7")->reason, "Slurm job 7 ended (TIMEOUT)") << "stored";
}

TEST_F(ClustersTest, NodeDown_ARunningAttemptWithoutRestartsLeftFails) {
  Register("a");
  const int64_t id = StartRunning("r", "a");
  ASSERT_TRUE(c().NodeDown("a", "ssh: connection refused").ok());
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kLost);
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_THAT(Exp("r").reason, HasSubstr("--max-restarts is 0"));
}

TEST_F(ClustersTest, NodeDown_AnAttemptLostBeforeItStartedIsRequeuedWithoutUsingARestart) {
  Register("a");
  Submit("r");  // max_restarts 0
  ASSERT_NE(Current("r"), nullptr);
  ASSERT_EQ(Current("r")->state, AttemptState::kStarting);
  const int64_t id = CurrentId("r");
  ASSERT_TRUE(c().NodeDown("a", "Slurm job 7 ended").ok());
  EXPECT_EQ(c().FindAttempt(id)->state, AttemptState::kLost);
  EXPECT_EQ(Exp("r").state, ExperimentState::kQueued);
  EXPECT_EQ(Exp("r").restarts, 0);
  EXPECT_THAT(Exp("r").reason, HasSubstr("no restart used"));
}

TEST_F(ClustersTest, NodeDown_FreeRequeuesBeforeStartAreLimitedToThree) {
  Register("a");
  Submit("r");  // max_restarts 0
  for (int i = 1; i <= 3; ++i) {
    ASSERT_NE(Current("r"), nullptr) << i;
    ASSERT_EQ(Current("r")->state, AttemptState::kStarting) << i;
    ASSERT_TRUE(c().NodeDown("a", "allocation ended").ok());
    ASSERT_EQ(Exp("r").state, ExperimentState::kQueued) << "free requeue " << i;
    EXPECT_EQ(Exp("r").restarts, 0);
    Register("a");  // a new agent there; the experiment is placed again
  }
  ASSERT_NE(Current("r"), nullptr);
  EXPECT_EQ(Exp("r").attempts, 4);
  ASSERT_TRUE(c().NodeDown("a", "allocation ended").ok());
  EXPECT_EQ(Exp("r").state, ExperimentState::kFailed);
  EXPECT_THAT(Exp("r").reason, HasSubstr("--max-restarts is 0"));
}

TEST_F(ClustersTest, NodeDown_AfterFreeRequeuesMaxRestartsStillApplies) {
  Register("a");
  Submit("r", 0, /*max_restarts=*/1);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c().NodeDown("a", "allocation ended").ok());
    Register("a");
  }
  ASSERT_TRUE(c().NodeDown("a", "allocation ended").ok());
  EXPECT_EQ(Exp("r").state, ExperimentState::kQueued);
  EXPECT_EQ(Exp("r").restarts, 1);
  EXPECT_THAT(Exp("r").reason, HasSubstr("restart 1 of 1"));
}

TEST_F(ClustersTest, NodeDown_OnALostNodeOnlyUpdatesTheReasonAndAnUnknownNodeIsNotFound) {
  Register("a");
  clock_.Advance(kNodeTimeoutMs + 1);
  c().Tick();
  ASSERT_EQ(FindNode("a")->state, NodeState::kLost);
  EXPECT_THAT(FindNode("a")->reason, HasSubstr("no word from its agent"));
  ASSERT_TRUE(c().NodeDown("a", "Slurm job 7 was cancelled").ok());
  EXPECT_EQ(FindNode("a")->reason, "Slurm job 7 was cancelled");
  auto r = c().NodeDown("nope", "x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST_F(ClustersTest, ReRegisteringALostNode_ClearsItsReason) {
  Register("a");
  ASSERT_TRUE(c().NodeDown("a", "allocation ended").ok());
  Register("a");
  EXPECT_EQ(FindNode("a")->state, NodeState::kReady);
  EXPECT_EQ(FindNode("a")->reason, "");
}

}  // namespace
}  // namespace lattice::testing
