#include "server/run_query.h"

#include <gtest/gtest.h>

namespace lattice {
namespace {

// Runs r0..r(n-1); run i is queued, except those listed as done (succeeded)
// or failed.
std::vector<std::unique_ptr<lattice::Run>> MakeRuns(int n) {
  std::vector<std::unique_ptr<lattice::Run>> runs;
  for (int i = 0; i < n; ++i) {
    auto r = std::make_unique<lattice::Run>();
    r->name = "r" + std::to_string(i);
    r->spec.script = i % 2 ? "train.py" : "eval.sh";
    r->description = i == 3 ? "The BIG Sweep" : "";
    r->experiments.resize(1);
    r->experiments[0].state = i % 3 == 0 ? ExperimentState::kSucceeded
                                         : (i % 3 == 1 ? ExperimentState::kFailed : ExperimentState::kQueued);
    runs.push_back(std::move(r));
  }
  return runs;
}

std::vector<std::string> Names(const RunPage& page) {
  std::vector<std::string> out;
  for (const Run* r : page.runs) out.push_back(r->name);
  return out;
}

RunQuery Parse(const std::map<std::string, std::string>& q) {
  auto r = ParseRunQuery(q);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : RunQuery{};
}

TEST(ParseRunQuery, DefaultsAreEveryRunOldestFirst) {
  RunQuery q = Parse({});
  EXPECT_FALSE(q.limit.has_value());
  EXPECT_EQ(q.offset, 0u);
  EXPECT_FALSE(q.newest_first);
  EXPECT_TRUE(q.states.empty());
  EXPECT_EQ(q.text, "");
}

TEST(ParseRunQuery, EveryParameter) {
  RunQuery q = Parse({{"limit", "25"}, {"offset", "50"}, {"order", "newest"}, {"state", "running,queued"},
                      {"q", "ResNet"}});
  EXPECT_EQ(q.limit, std::optional<size_t>(25));
  EXPECT_EQ(q.offset, 50u);
  EXPECT_TRUE(q.newest_first);
  EXPECT_EQ(q.states, (std::set<RunState>{RunState::kRunning, RunState::kQueued}));
  EXPECT_EQ(q.text, "resnet");
  EXPECT_FALSE(Parse({{"order", "oldest"}}).newest_first);
}

TEST(ParseRunQuery, BadValuesNameTheParameter) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"limit", "0"},      {"limit", "10001"}, {"limit", "-1"},   {"limit", "ten"}, {"limit", ""},
      {"offset", "-3"},    {"offset", "1.5"},  {"order", "new"},  {"state", "done"},
      {"state", "running,"}, {"state", ",running"}, {"state", ""}, {"state", "RUNNING"}};
  for (const auto& [key, value] : bad) {
    auto r = ParseRunQuery({{key, value}});
    ASSERT_FALSE(r.ok()) << key << "=" << value;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().field, key) << r.error().message;
    EXPECT_NE(r.error().message.find(key), std::string::npos) << r.error().message;
  }
  auto state = ParseRunQuery({{"state", "running,done"}});
  ASSERT_FALSE(state.ok());
  EXPECT_NE(state.error().message.find("'done'"), std::string::npos) << state.error().message;
  EXPECT_NE(state.error().message.find("succeeded"), std::string::npos);
}

TEST(SelectRuns, PagesKeepTheTotal) {
  auto runs = MakeRuns(10);
  RunPage page = SelectRuns(runs, Parse({{"limit", "3"}, {"offset", "2"}}));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"r2", "r3", "r4"}));
  EXPECT_EQ(page.total, 10u);
  page = SelectRuns(runs, Parse({{"limit", "3"}, {"offset", "8"}}));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"r8", "r9"}));
  page = SelectRuns(runs, Parse({{"offset", "10"}}));
  EXPECT_TRUE(page.runs.empty());
  EXPECT_EQ(page.total, 10u);
  EXPECT_EQ(SelectRuns(runs, Parse({})).runs.size(), 10u);
}

TEST(SelectRuns, NewestFirstPagesFromTheEnd) {
  auto runs = MakeRuns(10);
  RunPage page = SelectRuns(runs, Parse({{"limit", "2"}, {"order", "newest"}}));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"r9", "r8"}));
  page = SelectRuns(runs, Parse({{"limit", "2"}, {"offset", "2"}, {"order", "newest"}}));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"r7", "r6"}));
}

TEST(SelectRuns, StateFilterCountsOnlyMatches) {
  auto runs = MakeRuns(10);  // succeeded: 0 3 6 9; failed: 1 4 7; queued: 2 5 8
  RunPage page = SelectRuns(runs, Parse({{"state", "failed"}}));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"r1", "r4", "r7"}));
  EXPECT_EQ(page.total, 3u);
  page = SelectRuns(runs, Parse({{"state", "queued,failed"}, {"limit", "2"}, {"offset", "1"}}));
  EXPECT_EQ(Names(page), (std::vector<std::string>{"r2", "r4"}));
  EXPECT_EQ(page.total, 6u);
  EXPECT_EQ(SelectRuns(runs, Parse({{"state", "running"}})).total, 0u);
}

TEST(SelectRuns, TextMatchesNameDescriptionOrScriptIgnoringCase) {
  auto runs = MakeRuns(10);
  EXPECT_EQ(Names(SelectRuns(runs, Parse({{"q", "big sweep"}}))), (std::vector<std::string>{"r3"}));
  EXPECT_EQ(SelectRuns(runs, Parse({{"q", "TRAIN"}})).total, 5u);
  EXPECT_EQ(Names(SelectRuns(runs, Parse({{"q", "r7"}}))), (std::vector<std::string>{"r7"}));
  EXPECT_EQ(SelectRuns(runs, Parse({{"q", "eval"}, {"state", "succeeded"}})).total, 2u);  // r0, r6
  EXPECT_EQ(SelectRuns(runs, Parse({{"q", "nothing-like-it"}})).total, 0u);
}

}  // namespace
}  // namespace lattice
