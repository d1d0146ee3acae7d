#include "server/rerun.h"

#include <gtest/gtest.h>

namespace lattice {
namespace {

lattice::Run OldRun() {
  lattice::Run run;
  run.name = "old";
  run.description = "first try";
  RunSpec& s = run.spec;
  s.script = "train.py";
  s.args = {"--lr", "0.1"};
  s.snapshot = std::string(64, 'a');
  s.resources = Resources{2.5, 1 << 30, 2};
  s.env = {{"HF_TOKEN", "hf_secret"}};
  s.python = "python3.12";
  s.max_restarts = 3;
  s.grace_ms = 5000;
  s.priority = 7;
  s.max_parallel = 2;
  s.nodes = 2;
  s.launcher = "torchrun";
  s.cluster = "gpus";
  s.environment.requirements = "numpy\n";
  s.sweep.seed = 42;
  run.experiments.resize(1);
  run.experiments[0].args = s.args;
  return run;
}

TEST(BuildRerun, WithoutChangesCopiesTheSpecAndArgs) {
  auto r = BuildRerun(OldRun(), RerunRequest{});
  ASSERT_TRUE(r.ok()) << r.error().message;
  const RunSpec& s = r->spec;
  EXPECT_EQ(r->name, "");  // generated at submit
  EXPECT_EQ(r->description, "first try");
  EXPECT_EQ(s.args, (std::vector<std::string>{"--lr", "0.1"}));
  EXPECT_EQ(s.script, "train.py");
  EXPECT_EQ(s.snapshot, std::string(64, 'a'));
  EXPECT_EQ(s.resources.cpus, 2.5);
  EXPECT_EQ(s.resources.gpus, 2);
  EXPECT_EQ(s.env.at("HF_TOKEN"), "hf_secret");  // values kept: the new run needs them
  EXPECT_EQ(s.python, "python3.12");
  EXPECT_EQ(s.max_restarts, 3);
  EXPECT_EQ(s.grace_ms, 5000);
  EXPECT_EQ(s.priority, 7);
  EXPECT_EQ(s.max_parallel, 2);
  EXPECT_EQ(s.nodes, 2);
  EXPECT_EQ(s.launcher, "torchrun");
  EXPECT_EQ(s.cluster, "gpus");
  EXPECT_EQ(s.environment.requirements, "numpy\n");
  EXPECT_EQ(s.sweep.seed, 42u);
  EXPECT_TRUE(s.sweep.parameters.empty());
  EXPECT_TRUE(r->experiments.empty());  // one experiment with the args
}

TEST(BuildRerun, NewArgsExpandASweepAsLatticeRunDoes) {
  RerunRequest req;
  req.args = std::vector<std::string>{"--lr", "[0.1, 0.2]", "--layers=range(2, 4)"};
  req.name = "again";
  req.description = "";
  auto r = BuildRerun(OldRun(), req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "again");
  EXPECT_EQ(r->description, "");
  EXPECT_EQ(r->spec.args, *req.args);
  EXPECT_EQ(r->spec.sweep.parameters, (std::vector<std::string>{"lr", "layers"}));
  ASSERT_EQ(r->experiments.size(), 4u);
  EXPECT_EQ(r->experiments[0].args, (std::vector<std::string>{"--lr", "0.1", "--layers=2"}));
  EXPECT_EQ(r->experiments[3].args, (std::vector<std::string>{"--lr", "0.2", "--layers=3"}));
  EXPECT_EQ(r->experiments[1].params, (std::vector<std::string>{"0.1", "3"}));
}

TEST(BuildRerun, ASweptOldRunDropsItsParametersWhenTheNewArgsHaveNone) {
  lattice::Run old = OldRun();
  old.spec.sweep.parameters = {"lr"};
  RerunRequest req;
  req.args = std::vector<std::string>{"--lr", "0.3"};
  auto r = BuildRerun(old, req);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->spec.sweep.parameters.empty());
  EXPECT_TRUE(r->experiments.empty());
}

TEST(BuildRerun, RandomSearchKeepsItsTrialsAndSeed) {
  lattice::Run old = OldRun();
  old.spec.sweep.strategy = "random_search";
  old.spec.sweep.trials = 3;
  RerunRequest req;
  req.args = std::vector<std::string>{"--lr", "[1, 2, 3, 4, 5, 6, 7, 8]"};
  auto a = BuildRerun(old, req);
  auto b = BuildRerun(old, req);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->experiments.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(a->experiments[i].args, b->experiments[i].args);
  EXPECT_EQ(a->spec.sweep.strategy, "random_search");
  EXPECT_EQ(a->spec.sweep.trials, 3u);
}

TEST(BuildRerun, BadArgsAreRefusedWithTheParsersMessageOnArgs) {
  RerunRequest req;
  req.args = std::vector<std::string>{"--lr=[0.1, 0.01"};
  auto r = BuildRerun(OldRun(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, "args");
  EXPECT_NE(r.error().message.find("argument 1"), std::string::npos) << r.error().message;
}

TEST(BuildRerun, TooManyPointsIsABadRequestNotATooLargeBody) {
  RerunRequest req;
  req.args = std::vector<std::string>{"range(0, 200)", "range(0, 200)"};  // 40,000 points
  auto r = BuildRerun(OldRun(), req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, "args");
  EXPECT_NE(r.error().message.find("40,000"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace lattice
