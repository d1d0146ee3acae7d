#include "model/types.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace lattice {
namespace {

using ES = ExperimentState;

Run RunOf(std::initializer_list<ES> states) {
  lattice::Run run;
  int i = 0;
  for (ES s : states) {
    Experiment e;
    e.index = i++;
    e.state = s;
    run.experiments.push_back(e);
  }
  return run;
}

struct SummaryCase {
  std::vector<ES> states;
  RunState want;
  const char* why;
};

class RunStateOfCases : public ::testing::TestWithParam<SummaryCase> {};

TEST_P(RunStateOfCases, Summarises) {
  lattice::Run run;
  for (size_t i = 0; i < GetParam().states.size(); ++i) {
    Experiment e;
    e.index = static_cast<int>(i);
    e.state = GetParam().states[i];
    run.experiments.push_back(e);
  }
  EXPECT_EQ(ToString(RunStateOf(run)), std::string(ToString(GetParam().want))) << GetParam().why;
}

INSTANTIATE_TEST_SUITE_P(
    States, RunStateOfCases,
    ::testing::Values(
        SummaryCase{{ES::kQueued}, RunState::kQueued, "nothing started yet"},
        SummaryCase{{ES::kQueued, ES::kQueued}, RunState::kQueued, "all waiting"},
        SummaryCase{{ES::kStarting}, RunState::kRunning, "starting counts as running"},
        SummaryCase{{ES::kRunning, ES::kQueued}, RunState::kRunning, "one running"},
        SummaryCase{{ES::kSucceeded, ES::kQueued}, RunState::kRunning, "some done, some waiting: under way"},
        SummaryCase{{ES::kFailed, ES::kQueued}, RunState::kRunning, "a failure does not end a run still waiting"},
        SummaryCase{{ES::kRunning, ES::kFailed}, RunState::kRunning, "active outranks failed"},
        SummaryCase{{ES::kSucceeded}, RunState::kSucceeded, "single success"},
        SummaryCase{{ES::kSucceeded, ES::kSucceeded}, RunState::kSucceeded, "all succeeded"},
        SummaryCase{{ES::kSucceeded, ES::kFailed}, RunState::kFailed, "failure outranks success"},
        SummaryCase{{ES::kCancelled, ES::kFailed}, RunState::kFailed, "failure outranks cancellation"},
        SummaryCase{{ES::kSucceeded, ES::kCancelled}, RunState::kCancelled, "cancellation outranks success"},
        SummaryCase{{ES::kCancelled}, RunState::kCancelled, "single cancel"}));

TEST(RunStateOf, NoExperiments_CountsAsSucceeded) {
  // Documents current behaviour: an empty run has nothing left to do.
  EXPECT_EQ(RunStateOf(lattice::Run{}), RunState::kSucceeded);
}

TEST(RunStateOf, HelperBuiltRun_Agrees) {
  EXPECT_EQ(RunStateOf(RunOf({ES::kQueued, ES::kCancelled})), RunState::kRunning);
}

TEST(ExperimentState, ToStringAndParse_RoundTripEveryValue) {
  for (ES s : {ES::kQueued, ES::kStarting, ES::kRunning, ES::kSucceeded, ES::kFailed, ES::kCancelled}) {
    ES back = ES::kQueued;
    ASSERT_TRUE(ParseExperimentState(ToString(s), &back)) << ToString(s);
    EXPECT_EQ(back, s);
  }
  ES out = ES::kRunning;
  EXPECT_FALSE(ParseExperimentState("Running", &out));
  EXPECT_FALSE(ParseExperimentState("", &out));
  EXPECT_FALSE(ParseExperimentState("lost", &out));  // attempts only
  EXPECT_EQ(out, ES::kRunning);
}

TEST(AttemptState, ToStringAndParse_RoundTripEveryValue) {
  using AS = AttemptState;
  for (AS s : {AS::kStarting, AS::kRunning, AS::kSucceeded, AS::kFailed, AS::kCancelled, AS::kLost}) {
    AS back = AS::kStarting;
    ASSERT_TRUE(ParseAttemptState(ToString(s), &back)) << ToString(s);
    EXPECT_EQ(back, s);
  }
  AS out = AS::kRunning;
  EXPECT_FALSE(ParseAttemptState("queued", &out));
}

TEST(NodeState, ToStringAndParse_RoundTrip) {
  NodeState out = NodeState::kLost;
  ASSERT_TRUE(ParseNodeState("ready", &out));
  EXPECT_EQ(out, NodeState::kReady);
  ASSERT_TRUE(ParseNodeState(ToString(NodeState::kLost), &out));
  EXPECT_EQ(out, NodeState::kLost);
  EXPECT_FALSE(ParseNodeState("gone", &out));
}

TEST(RunState, Names_MatchTheDesign) {
  EXPECT_STREQ(ToString(RunState::kQueued), "queued");
  EXPECT_STREQ(ToString(RunState::kRunning), "running");
  EXPECT_STREQ(ToString(RunState::kSucceeded), "succeeded");
  EXPECT_STREQ(ToString(RunState::kFailed), "failed");
  EXPECT_STREQ(ToString(RunState::kCancelled), "cancelled");
}

TEST(IsTerminal, ExperimentStates) {
  EXPECT_FALSE(IsTerminal(ES::kQueued));
  EXPECT_FALSE(IsTerminal(ES::kStarting));
  EXPECT_FALSE(IsTerminal(ES::kRunning));
  EXPECT_TRUE(IsTerminal(ES::kSucceeded));
  EXPECT_TRUE(IsTerminal(ES::kFailed));
  EXPECT_TRUE(IsTerminal(ES::kCancelled));
}

TEST(IsTerminal, AttemptStates_LostIsTerminal) {
  using AS = AttemptState;
  EXPECT_FALSE(IsTerminal(AS::kStarting));
  EXPECT_FALSE(IsTerminal(AS::kRunning));
  EXPECT_TRUE(IsTerminal(AS::kSucceeded));
  EXPECT_TRUE(IsTerminal(AS::kFailed));
  EXPECT_TRUE(IsTerminal(AS::kCancelled));
  EXPECT_TRUE(IsTerminal(AS::kLost));
}

}  // namespace
}  // namespace lattice
