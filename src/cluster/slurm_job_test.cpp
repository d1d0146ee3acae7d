// Slurm's pure part: the pilot batch script (also run for real with bash and
// a fake lattice binary), sbatch's argv, and the parsing of sbatch's and
// squeue's output.
#include "cluster/slurm_job.h"

#include <sys/stat.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/subprocess.h"
#include "common/test_util.h"

namespace lattice {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

Cluster SlurmCluster() {
  Cluster c;
  c.name = "hpc";
  c.backend = "slurm";
  return c;
}

DemandShape Shape(double cpus, uint64_t memory, int gpus, int nodes = 1) {
  Resources r{cpus, memory, gpus};
  return DemandShape{ShapeKey(r, nodes), r, nodes, 1};
}

PilotPaths Paths(const std::string& state_dir = "/shared/lattice/hpc") {
  PilotPaths p;
  p.lattice_binary = "/opt/lattice/bin/lattice";
  p.server_url = "http://head:8080";
  p.token_file = "/shared/lattice/token";
  p.state_dir = state_dir;
  p.job_name = "lattice-abc123";
  p.idle_exit_ms = 90'000;
  return p;
}

bool Has(const std::vector<std::string>& argv, const std::string& arg) {
  return std::find(argv.begin(), argv.end(), arg) != argv.end();
}

bool HasPrefix(const std::vector<std::string>& argv, const std::string& prefix) {
  return std::any_of(argv.begin(), argv.end(), [&](const std::string& a) { return a.rfind(prefix, 0) == 0; });
}

// --- PilotScript ------------------------------------------------------------------

TEST(PilotScript, StartsTheAgentWithTheTokenFileAndTheClusterNeverATokenItself) {
  const std::string s = PilotScript(SlurmCluster(), Shape(4, 0, 1), Paths());
  EXPECT_EQ(s.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_THAT(s, HasSubstr("exec /opt/lattice/bin/lattice agent --server http://head:8080 "
                           "--token-file /shared/lattice/token --cluster hpc --cpus 4 --idle-exit 90000ms"));
  EXPECT_THAT(s, Not(HasSubstr("--token ")));
  EXPECT_THAT(s, Not(HasSubstr("LATTICE_TOKEN")));
  EXPECT_THAT(s, HasSubstr("--allocation \"slurm job ${SLURM_JOB_ID}\""));
  EXPECT_THAT(s, HasSubstr("--node-id \"${SLURMD_NODENAME}-${SLURM_JOB_ID}\""));
  EXPECT_THAT(s, HasSubstr("node=/shared/lattice/hpc/agents/\"${SLURMD_NODENAME}\""));
  EXPECT_THAT(s, HasSubstr("--agent-home \"${home}\""));
}

TEST(PilotScript, FractionalCpus_RoundUpAndZeroBecomesOne) {
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(2.5, 0, 0), Paths()), HasSubstr("--cpus 3 "));
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(0.1, 0, 0), Paths()), HasSubstr("--cpus 1 "));
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(0, 0, 0), Paths()), HasSubstr("--cpus 1 "));
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(8, 0, 0), Paths()), HasSubstr("--cpus 8 "));
}

TEST(PilotScript, MemoryOnlyWhenTheShapeAsksForIt) {
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(1, 0, 0), Paths()), Not(HasSubstr("--memory")));
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(1, 17179869184ull, 0), Paths()),
              HasSubstr("--memory 17179869184"));
}

TEST(PilotScript, SeveralNodes_StartOneAgentPerNodeThroughSrun) {
  const std::string s = PilotScript(SlurmCluster(), Shape(1, 0, 0, 2), Paths());
  EXPECT_THAT(s, HasSubstr("if [ \"${SLURM_JOB_NUM_NODES:-1}\" -gt 1 ]; then"));
  EXPECT_THAT(s, HasSubstr("exec srun --ntasks-per-node=1 --kill-on-bad-exit=0 bash -c "
                           "\"$(declare -f lattice_agent); lattice_agent\""));
  EXPECT_THAT(s, HasSubstr("shape 2x{cpus=1,memory=0,gpus=0}"));
}

TEST(PilotScript, PathsWithSpacesOrQuotes_AreShellQuoted) {
  PilotPaths p = Paths("/shared/my state's dir");
  p.token_file = "/shared/my token";
  const std::string s = PilotScript(SlurmCluster(), Shape(1, 0, 0), p);
  EXPECT_THAT(s, HasSubstr("--token-file '/shared/my token'"));
  EXPECT_THAT(s, HasSubstr("node='/shared/my state'\\''s dir/agents'/\"${SLURMD_NODENAME}\""));
}

// Runs the pilot script with bash as Slurm would (a fake lattice binary
// that writes its arguments to a file, one per line) and returns them.
class PilotScriptRun : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteExecutable(dir_ / "lattice", "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >>\"$ARGS_FILE\"\n");
    // A stand-in for srun: drops its options and runs the command twice, as
    // on two nodes (SLURMD_NODENAME differs per node on a real cluster).
    std::filesystem::create_directories(dir_ / "bin");
    WriteExecutable(dir_ / "bin" / "srun",
                    "#!/bin/sh\nwhile [ \"${1#--}\" != \"$1\" ]; do shift; done\n"
                    "SLURMD_NODENAME=n1 \"$@\" && SLURMD_NODENAME=n2 \"$@\"\n");
  }

  static void WriteExecutable(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), 0755);
  }

  std::vector<std::string> RunPilot(const DemandShape& shape, const std::string& nodes) {
    PilotPaths p = Paths((dir_ / "state dir").string());
    p.lattice_binary = (dir_ / "lattice").string();
    const auto script = dir_ / "pilot.sh";
    std::ofstream(script) << PilotScript(SlurmCluster(), shape, p);
    CommandSpec spec;
    spec.argv = {"bash", script.string()};
    spec.env = {{"SLURM_JOB_ID", "7"},
                {"SLURMD_NODENAME", "n1"},
                {"SLURM_JOB_NUM_NODES", nodes},
                {"ARGS_FILE", (dir_ / "args").string()},
                {"PATH", (dir_ / "bin").string() + ":/usr/bin:/bin"}};
    spec.timeout_ms = 20'000;
    auto r = RunCommand(spec);
    EXPECT_TRUE(r.ok()) << r.error().message;
    if (r.ok()) {
      EXPECT_TRUE(r->ok()) << r->Why() << "\n" << r->out;
    }
    std::vector<std::string> args;
    std::ifstream in(dir_ / "args");
    for (std::string line; std::getline(in, line);) args.push_back(line);
    return args;
  }

  // Each pilot's own home; the node's caches are shared through symlinks in it.
  std::string Home(const std::string& node) { return (dir_ / "state dir" / "agents" / (node + "-7")).string(); }
  std::string SharedCache(const std::string& node) { return (dir_ / "state dir" / "agents" / node / "cache").string(); }

  TempDir dir_;
};

TEST_F(PilotScriptRun, OneNode_TheBatchShellBecomesTheAgentWithNodeIdAllocationAndHome) {
  auto args = RunPilot(Shape(1.5, 3ull << 30, 1), "1");
  EXPECT_THAT(args, ElementsAre("agent", "--server", "http://head:8080", "--token-file", "/shared/lattice/token",
                                "--cluster", "hpc", "--cpus", "2", "--idle-exit", "90000ms", "--memory",
                                std::to_string(3ull << 30), "--allocation", "slurm job 7", "--node-id", "n1-7",
                                "--agent-home", Home("n1")));
  std::error_code ec;
  EXPECT_EQ(std::filesystem::read_symlink(Home("n1") + "/cache", ec).string(), SharedCache("n1"));
}

TEST_F(PilotScriptRun, SeveralNodes_EachNodeRunsTheAgentThroughSrunWithItsOwnNodeId) {
  auto args = RunPilot(Shape(1, 0, 0, 2), "2");
  ASSERT_EQ(args.size(), 2u * 17) << ::testing::PrintToString(args);
  const std::vector<std::string> first(args.begin(), args.begin() + 17), second(args.begin() + 17, args.end());
  EXPECT_THAT(first, ElementsAre("agent", "--server", "http://head:8080", "--token-file", "/shared/lattice/token",
                                 "--cluster", "hpc", "--cpus", "1", "--idle-exit", "90000ms", "--allocation",
                                 "slurm job 7", "--node-id", "n1-7", "--agent-home", Home("n1")));
  EXPECT_EQ(second[14], "n2-7");
  EXPECT_EQ(second[16], Home("n2"));
  EXPECT_EQ(second[12], "slurm job 7");
}

// --- SbatchArgv ---------------------------------------------------------------------

TEST(SbatchArgv, OnePilot_NoArrayAndOneOutputFilePerJob) {
  auto argv = SbatchArgv(SlurmCluster(), Shape(4, 0, 0), 1, Paths(), "/shared/lattice/hpc/pilot.sh");
  ASSERT_GE(argv.size(), 3u);
  EXPECT_EQ(argv.front(), "sbatch");
  EXPECT_EQ(argv.back(), "/shared/lattice/hpc/pilot.sh");
  EXPECT_TRUE(Has(argv, "--parsable"));
  EXPECT_TRUE(Has(argv, "--job-name=lattice-abc123"));
  EXPECT_TRUE(Has(argv, "--comment=1x{cpus=4,memory=0,gpus=0}"));
  EXPECT_TRUE(Has(argv, "--nodes=1"));
  EXPECT_TRUE(Has(argv, "--ntasks-per-node=1"));
  EXPECT_TRUE(Has(argv, "--cpus-per-task=4"));
  EXPECT_TRUE(Has(argv, "--output=/shared/lattice/hpc/slurm-%j.out"));
  EXPECT_FALSE(HasPrefix(argv, "--array"));
}

TEST(SbatchArgv, SeveralPilots_AJobArrayWithPerTaskOutputFiles) {
  auto argv = SbatchArgv(SlurmCluster(), Shape(4, 0, 0, 2), 5, Paths(), "/p.sh");
  EXPECT_TRUE(Has(argv, "--array=0-4"));
  EXPECT_TRUE(Has(argv, "--nodes=2"));
  EXPECT_TRUE(Has(argv, "--output=/shared/lattice/hpc/slurm-%A_%a.out"));
  EXPECT_EQ(argv.back(), "/p.sh");
}

TEST(SbatchArgv, MemoryInMebibytesRoundedUpAndOnlyWhenAsked) {
  auto none = SbatchArgv(SlurmCluster(), Shape(1, 0, 0), 1, Paths(), "/p.sh");
  EXPECT_FALSE(HasPrefix(none, "--mem"));
  EXPECT_TRUE(Has(SbatchArgv(SlurmCluster(), Shape(1, 1ull << 30, 0), 1, Paths(), "/p.sh"), "--mem=1024M"));
  EXPECT_TRUE(Has(SbatchArgv(SlurmCluster(), Shape(1, (1ull << 30) + 1, 0), 1, Paths(), "/p.sh"), "--mem=1025M"));
  EXPECT_TRUE(Has(SbatchArgv(SlurmCluster(), Shape(1, 1, 0), 1, Paths(), "/p.sh"), "--mem=1M"));
}

TEST(SbatchArgv, GpusPerNodeOnlyWhenAsked) {
  EXPECT_FALSE(HasPrefix(SbatchArgv(SlurmCluster(), Shape(1, 0, 0), 1, Paths(), "/p.sh"), "--gpus"));
  EXPECT_TRUE(Has(SbatchArgv(SlurmCluster(), Shape(1, 0, 8, 2), 1, Paths(), "/p.sh"), "--gpus-per-node=8"));
}

TEST(SbatchArgv, FractionalCpus_RoundUp) {
  EXPECT_TRUE(Has(SbatchArgv(SlurmCluster(), Shape(2.25, 0, 0), 1, Paths(), "/p.sh"), "--cpus-per-task=3"));
}

TEST(SbatchArgv, ClusterSettings_OnlyThoseThatAreSet) {
  auto plain = SbatchArgv(SlurmCluster(), Shape(1, 0, 0), 1, Paths(), "/p.sh");
  for (const char* prefix : {"--partition", "--account", "--qos", "--time", "--signal"})
    EXPECT_FALSE(HasPrefix(plain, prefix)) << prefix;
  Cluster c = SlurmCluster();
  c.partition = "gpu";
  c.account = "proj";
  c.qos = "high";
  auto set = SbatchArgv(c, Shape(1, 0, 0), 1, Paths(), "/p.sh");
  EXPECT_TRUE(Has(set, "--partition=gpu"));
  EXPECT_TRUE(Has(set, "--account=proj"));
  EXPECT_TRUE(Has(set, "--qos=high"));
  EXPECT_FALSE(HasPrefix(set, "--time"));
  EXPECT_FALSE(HasPrefix(set, "--signal")) << "no time limit, no warning signal";
}

TEST(SbatchArgv, TimeLimit_ComesWithATermSignal90SecondsBefore) {
  Cluster c = SlurmCluster();
  c.time_limit = "4:00:00";
  auto argv = SbatchArgv(c, Shape(1, 0, 0), 3, Paths(), "/p.sh");
  EXPECT_TRUE(Has(argv, "--time=4:00:00"));
  EXPECT_TRUE(Has(argv, "--signal=B:TERM@90"));
  EXPECT_EQ(argv.back(), "/p.sh");
}

TEST(SbatchArgv, ShortTimeLimit_TheSignalComesAQuarterOfItBeforeNotAtTheStart) {
  Cluster c = SlurmCluster();
  c.time_limit = "2";  // minutes
  EXPECT_TRUE(Has(SbatchArgv(c, Shape(1, 0, 0), 1, Paths(), "/p.sh"), "--signal=B:TERM@30"));
  c.time_limit = "0:20";  // 20 seconds: at least 10 s of warning
  EXPECT_TRUE(Has(SbatchArgv(c, Shape(1, 0, 0), 1, Paths(), "/p.sh"), "--signal=B:TERM@10"));
  c.time_limit = "UNLIMITED";
  EXPECT_FALSE(HasPrefix(SbatchArgv(c, Shape(1, 0, 0), 1, Paths(), "/p.sh"), "--signal"));
}

// --- ParseSbatchJobId -----------------------------------------------------------------

TEST(ParseSbatchJobId, PlainAndFederatedForms_GiveTheId) {
  auto plain = ParseSbatchJobId("4711\n");
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(*plain, "4711");
  auto fed = ParseSbatchJobId("4711;cluster\n");
  ASSERT_TRUE(fed.ok()) << fed.error().message;
  EXPECT_EQ(*fed, "4711");
  auto crlf = ParseSbatchJobId("4711\r\n");
  ASSERT_TRUE(crlf.ok()) << crlf.error().message;
  EXPECT_EQ(*crlf, "4711");
}

TEST(ParseSbatchJobId, AnythingButDigits_IsAnErrorQuotingTheOutput) {
  for (const char* out : {"", "\n", "Submitted batch job 4711\n", "sbatch: error: invalid partition\n", "47a1\n",
                          ";cluster\n", "-1\n"}) {
    auto r = ParseSbatchJobId(out);
    ASSERT_FALSE(r.ok()) << out;
    EXPECT_THAT(r.error().message, HasSubstr("where a job id was expected")) << out;
    EXPECT_THAT(r.error().message, HasSubstr("'" + std::string(out) + "'"));
  }
}

// --- SqueueArgv / ParseSqueue ------------------------------------------------------

TEST(SqueueArgv, FindsThisServersAllocationsByNameWithArraysExpanded) {
  auto argv = SqueueArgv(Paths());
  EXPECT_EQ(argv.front(), "squeue");
  EXPECT_TRUE(Has(argv, "--name=lattice-abc123"));
  EXPECT_TRUE(Has(argv, "--array"));
  EXPECT_TRUE(Has(argv, "--noheader"));
  EXPECT_TRUE(Has(argv, "--format=%i|%A|%T|%r|%k|%N"));
}

TEST(ParseSqueue, GoodLines_EveryField) {
  auto r = ParseSqueue("4711_3|4715|RUNNING|None|1x{cpus=4,memory=0,gpus=1}|gpu[01-02]\n"
                       "4712|4712|PENDING|Priority|1x{cpus=1,memory=0,gpus=0}|\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  const SlurmTask& a = (*r)[0];
  EXPECT_EQ(a.id, "4711_3");
  EXPECT_EQ(a.job_id, "4715");
  EXPECT_EQ(a.state, "RUNNING");
  EXPECT_EQ(a.reason, "None");
  EXPECT_EQ(a.shape, "1x{cpus=4,memory=0,gpus=1}");
  EXPECT_EQ(a.nodes, "gpu[01-02]");
  EXPECT_TRUE(a.Running());
  EXPECT_FALSE(a.Pending());
  const SlurmTask& b = (*r)[1];
  EXPECT_EQ(b.id, "4712");
  EXPECT_EQ(b.reason, "Priority");
  EXPECT_EQ(b.nodes, "");
  EXPECT_TRUE(b.Pending());
  EXPECT_FALSE(b.Running());
}

TEST(ParseSqueue, PendingArrayRangeLine_KeepsItsIdForScancel) {
  auto r = ParseSqueue("12_[3-5]|12|PENDING|Resources|2x{cpus=1,memory=0,gpus=0}|\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].id, "12_[3-5]");
  EXPECT_EQ((*r)[0].job_id, "12");
  EXPECT_EQ((*r)[0].reason, "Resources");
  EXPECT_TRUE((*r)[0].Pending());
}

TEST(ParseSqueue, BlankLinesAndNoFinalNewline_Skipped) {
  auto r = ParseSqueue("\n1|1|RUNNING|None|k|n1\n\n2|2|CONFIGURING|None|k|n2");
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE((*r)[1].Running());
  auto empty = ParseSqueue("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(ParseSqueue, OtherStates_NeitherPendingNorRunning) {
  auto r = ParseSqueue("1|1|COMPLETING|None|k|n1\n2|2|REQUEUED|BeginTime|k|\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE((*r)[0].Pending());
  EXPECT_FALSE((*r)[0].Running());
  EXPECT_TRUE((*r)[1].Pending());
}

TEST(ParseSqueue, MalformedLine_IsAnErrorNamingIt) {
  for (const char* line : {"squeue: error: Invalid user", "1|1|RUNNING|None|k", "1|1|RUNNING|None|k|n|extra",
                           "|1|RUNNING|None|k|n", "1||RUNNING|None|k|n", "1|1||None|k|n"}) {
    auto r = ParseSqueue(std::string("4711|4711|RUNNING|None|k|n1\n") + line + "\n");
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_THAT(r.error().message, HasSubstr("'" + std::string(line) + "'"));
  }
}

TEST(AllocationOfJob, IsWhatThePilotPassesAsAllocation) {
  EXPECT_EQ(AllocationOfJob("4711"), "slurm job 4711");
  EXPECT_THAT(PilotScript(SlurmCluster(), Shape(1, 0, 0), Paths()), HasSubstr("\"slurm job ${SLURM_JOB_ID}\""));
}

}  // namespace
}  // namespace lattice
