#include "cli/run_config.h"

#include <gtest/gtest.h>

namespace lattice::cli {
namespace {

TEST(RunConfig, EveryKey_ReachesTheRunOptions) {
  auto o = ParseRunConfig(R"YAML(
name: cfg
description: a sweep
script: train.py
args: ["--epochs", "5"]
parameters:
  lr: [0.1, 0.01]
  opt: ['adam', "it's"]
  hidden: "range(32, 65, 32)"
resources: {cpus: 0.5, memory: 4G, gpus: 2}
env: {WANDB_MODE: offline}
strategy: random_search
trials: 3
seed: 7
max_experiments: 50
max_parallel: 2
priority: 5
max_restarts: 1
grace: 10s
python: /usr/bin/python3
)YAML", "/code", "c.yaml");
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->name, "cfg");
  EXPECT_EQ(o->script, "/code/train.py");
  EXPECT_EQ(o->args, (std::vector<std::string>{"--epochs", "5"}));
  EXPECT_EQ(o->parameter_args, (std::vector<std::string>{"--lr", "[0.1, 0.01]", "--opt", "['adam', 'it\\'s']",
                                                          "--hidden", "range(32, 65, 32)"}));
  EXPECT_EQ(o->cpus, 0.5);
  EXPECT_EQ(o->memory, "4G");
  EXPECT_EQ(o->gpus, 2);
  EXPECT_EQ(o->env, (std::vector<std::string>{"WANDB_MODE=offline"}));
  EXPECT_EQ(o->strategy, "random_search");
  EXPECT_EQ(o->trials, 3u);
  EXPECT_EQ(o->seed, 7u);
  EXPECT_EQ(o->max_experiments, 50u);
  EXPECT_EQ(o->max_parallel, 2);
  EXPECT_EQ(o->priority, 5);
  EXPECT_EQ(o->max_restarts, 1);
  EXPECT_EQ(o->grace, "10s");
  EXPECT_EQ(o->python, "/usr/bin/python3");
}

TEST(RunConfig, UnknownKey_NamesItAndItsLine) {
  auto o = ParseRunConfig("name: x\ncolour: red\n", "/", "c.yaml");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("c.yaml:2: 'colour' is not a known key"), std::string::npos) << o.error().message;
}

TEST(RunConfig, WrongType_SaysWhatWasExpected) {
  auto o = ParseRunConfig("resources:\n  gpus: two\n", "/", "c.yaml");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("'resources.gpus' must be a whole number, not 'two'"), std::string::npos);
  EXPECT_FALSE(ParseRunConfig("args: 5\n", "/", "c.yaml").ok());
  EXPECT_FALSE(ParseRunConfig("parameters: [1, 2]\n", "/", "c.yaml").ok());
}

TEST(RunConfig, InvalidYaml_GivesTheLine) {
  auto o = ParseRunConfig("name: [unclosed\n", "/", "c.yaml");
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("not valid YAML"), std::string::npos);
}

TEST(RunConfig, EmptyFile_IsDefaults) {
  auto o = ParseRunConfig("", "/", "c.yaml");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->strategy, "grid_search");
  EXPECT_TRUE(o->script.empty());
}

}  // namespace
}  // namespace lattice::cli
