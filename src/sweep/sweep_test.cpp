#include "sweep/sweep.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "sweep/strategy.h"

namespace lattice::sweep {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Args = std::vector<std::string>;

SweepSpec Parse(const Args& args, uint64_t seed = 1) {
  Result<SweepSpec> r = ParseSweep(args, seed);
  if (!r.ok()) {
    ADD_FAILURE() << r.error().message;
    return {};
  }
  return *r;
}

std::string ParseError(const Args& args) {
  Result<SweepSpec> r = ParseSweep(args, 1);
  if (r.ok()) {
    ADD_FAILURE() << "parsed";
    return {};
  }
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

TEST(ParseSweep, SeparateAndEqualsFlagFormsBothSweep) {
  const SweepSpec spec = Parse({"--lr", "[0.1, 0.01]", "--opt=['adam', 'sgd']", "--epochs", "3"});
  EXPECT_EQ(spec.args, (Args{"--lr", "[0.1, 0.01]", "--opt=['adam', 'sgd']", "--epochs", "3"}));
  ASSERT_EQ(spec.dims.size(), 2u);
  EXPECT_EQ(spec.dims[0].arg_index, 1u);
  EXPECT_EQ(spec.dims[0].prefix, "");
  EXPECT_EQ(spec.dims[0].name, "lr");
  EXPECT_THAT(spec.dims[0].values, ElementsAre("0.1", "0.01"));
  EXPECT_EQ(spec.dims[1].arg_index, 2u);
  EXPECT_EQ(spec.dims[1].prefix, "--opt=");
  EXPECT_EQ(spec.dims[1].name, "opt");
  EXPECT_THAT(spec.dims[1].values, ElementsAre("adam", "sgd"));
}

TEST(ParseSweep, DottedKeysShortFlagsAndPositionalNames) {
  const SweepSpec spec = Parse({"optimizer.lr=linspace(0, 1, 3)", "-b", "range(2)", "[1, 2]", "x", "[true]"});
  ASSERT_EQ(spec.dims.size(), 4u);
  EXPECT_EQ(spec.dims[0].name, "optimizer.lr");
  EXPECT_EQ(spec.dims[0].prefix, "optimizer.lr=");
  EXPECT_EQ(spec.dims[1].name, "b");
  // "[1, 2]" follows a swept argument, not a flag; "[true]" follows "x".
  EXPECT_EQ(spec.dims[2].name, "arg4");
  EXPECT_EQ(spec.dims[3].name, "arg6");
}

TEST(ParseSweep, NonExpressionsPassThroughUntouched) {
  const Args args = {"train.py", "hello world", "'quoted'", "\"[1, 2]\"", "h\xC3\xA9llo \xE2\x98\x83", "", "a[0]",
                     "--x=a[0]", "print(x)", "--url=http://h/?a=[1]", "x]", "--n", "-1", "=[1]", "a b=[1]",
                     "--lr=0.1", "range", "1e-3"};
  const SweepSpec spec = Parse(args);
  EXPECT_EQ(spec.args, args);
  EXPECT_TRUE(spec.dims.empty());
}

TEST(ParseSweep, ErrorShowsArgumentCaretAndColumn) {
  Result<SweepSpec> r = ParseSweep({"train.py", "--epochs", "--lr=[0.1, 0.01"}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, "args[2]");
  EXPECT_EQ(r.error().message,
            "argument 3: --lr=[0.1, 0.01\n"
            "                           ^ expected ',' or ']' (column 16)");
}

TEST(ParseSweep, CaretCountsCharactersNotBytes) {
  // "é" is two bytes, one column: the caret sits under the x.
  EXPECT_EQ(ParseError({"['\xC3\xA9', x]"}),
            "argument 1: ['\xC3\xA9', x]\n"
            "                  ^ expected a value (a number, a quoted string, true or false); quote strings: 'x' "
            "(column 7)");
}

TEST(ParseSweep, CaretAccountsForLeadingSpacesAndControlCharacters) {
  EXPECT_EQ(ParseError({"  [1,\x01]"}),
            "argument 1:   [1,?]\n"
            "                 ^ expected a value (a number, a quoted string, true or false); quote strings: '?' "
            "(column 6)");
  EXPECT_THAT(ParseError({"--lr=lnspace(0, 1, 5)"}), HasSubstr("\n                 ^ unknown function 'lnspace'; "
                                                               "did you mean linspace? (column 6)"));
}

TEST(ParseSweep, UnbalancedBracketIsAnErrorNotAPlainString) {
  EXPECT_THAT(ParseError({"--name", "[abc"}), HasSubstr("argument 2: [abc\n"));
  EXPECT_THAT(ParseError({"--x=[1, 2"}), HasSubstr("^ expected ',' or ']' (column 10)"));
  EXPECT_THAT(ParseError({"a", "b", "range(0, 5, 0)"}), HasSubstr("^ range() step must not be zero (column 13)"));
}

TEST(ParseSweep, RandomValuesFollowTheSeedAndDifferPerArgument) {
  const Args args = {"uniform(0, 1, 3)", "uniform(0, 1, 3)"};
  const SweepSpec a = Parse(args, 5), b = Parse(args, 5), c = Parse(args, 6);
  EXPECT_EQ(a.dims[0].values, b.dims[0].values);
  EXPECT_NE(a.dims[0].values, c.dims[0].values);
  EXPECT_NE(a.dims[0].values, a.dims[1].values);
}

TEST(GridSize, ProductOfDimensionsOneWithoutAndSaturatingOnOverflow) {
  EXPECT_EQ(GridSize(Parse({"x"})), 1u);
  EXPECT_EQ(GridSize(Parse({"[1, 2, 3]", "range(4)"})), 12u);
  SweepSpec huge;
  for (size_t i = 0; i < 5; ++i) {
    huge.args.push_back("");
    huge.dims.push_back(Dimension{i, "", std::vector<std::string>(10000, "v"), "d"});
  }
  EXPECT_EQ(GridSize(huge), UINT64_MAX);  // 10^20 > 2^64
  Result<Expansion> r = Expand(huge, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_THAT(r.error().message, HasSubstr("more than 18,446,744,073,709,551,614 experiments"));
}

TEST(ExpandGrid, RowMajorLastDimensionFastest) {
  const SweepSpec spec = Parse({"train.py", "--a=[1, 2]", "--b", "['x', 'y', 'z']", "--fixed"});
  Result<Expansion> r = Expand(spec, {});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->points.size(), 6u);
  EXPECT_EQ(r->grid_size, 6u);
  EXPECT_EQ(r->note, "");
  const std::vector<std::vector<std::string>> want = {{"1", "x"}, {"1", "y"}, {"1", "z"},
                                                      {"2", "x"}, {"2", "y"}, {"2", "z"}};
  for (size_t i = 0; i < 6; ++i) {
    const Point& p = r->points[i];
    EXPECT_EQ(p.grid_index, i);
    EXPECT_EQ(p.values, want[i]);
    EXPECT_EQ(p.args, (Args{"train.py", "--a=" + want[i][0], "--b", want[i][1], "--fixed"}));
  }
}

TEST(PointAt, MatchesExpandAndRefusesIndicesPastTheGrid) {
  const SweepSpec spec = Parse({"x", "--a=[1, 2]", "range(3)", "--b", "['p', 'q']", "y"});
  Result<Expansion> all = Expand(spec, {});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->points.size(), 12u);
  for (uint64_t i = 0; i < 12; ++i) {
    Result<Point> p = PointAt(spec, i);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->grid_index, i);
    EXPECT_EQ(p->args, all->points[i].args);
    EXPECT_EQ(p->values, all->points[i].values);
  }
  EXPECT_EQ(PointAt(spec, 12).error().code, ErrorCode::kInvalidArgument);
}

TEST(ExpandGrid, NoDimensionsIsOneExperimentWithTheArguments) {
  Result<Expansion> r = Expand(Parse({"train.py", "--lr", "0.1"}), {});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->points.size(), 1u);
  EXPECT_EQ(r->points[0].args, (Args{"train.py", "--lr", "0.1"}));
  EXPECT_TRUE(r->points[0].values.empty());
}

TEST(ExpandGrid, TrillionPointGridRefusedBeforeMaterialising) {
  const SweepSpec spec = Parse({"--a=range(1000)", "--b=range(1000)", "--c=range(1000)", "--d=range(1000)"});
  Result<Expansion> r = Expand(spec, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(r.error().message, "the sweep has 1,000,000,000,000 experiments, over --max-experiments 10000");
}

TEST(ExpandGrid, LimitIsInclusive) {
  const SweepSpec spec = Parse({"range(4)"});
  EXPECT_TRUE(Expand(spec, {.max_experiments = 4}).ok());
  EXPECT_EQ(Expand(spec, {.max_experiments = 3}).error().code, ErrorCode::kResourceExhausted);
}

TEST(ExpandRandom, NeedsTrials) {
  const SweepSpec spec = Parse({"range(4)"});
  Result<Expansion> r = Expand(spec, {.strategy = Strategy::kRandom});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "--strategy random_search needs --trials N");
  EXPECT_FALSE(Expand(spec, {.strategy = Strategy::kRandom, .trials = 0}).ok());
}

TEST(ExpandRandom, DistinctGridPointsReproducibleForASeed) {
  const SweepSpec spec = Parse({"--a=range(100)", "--b=range(100)"});
  const ExpandOptions options{.strategy = Strategy::kRandom, .trials = 50, .seed = 9};
  Result<Expansion> r = Expand(spec, options);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->points.size(), 50u);
  std::set<uint64_t> seen;
  for (const Point& p : r->points) {
    seen.insert(p.grid_index);
    // Each point is the grid point its index names.
    EXPECT_THAT(p.values, ElementsAre(std::to_string(p.grid_index / 100), std::to_string(p.grid_index % 100)));
    EXPECT_EQ(p.args, (Args{"--a=" + p.values[0], "--b=" + p.values[1]}));
  }
  EXPECT_EQ(seen.size(), 50u);

  Result<Expansion> again = Expand(spec, options);
  Result<Expansion> other = Expand(spec, {.strategy = Strategy::kRandom, .trials = 50, .seed = 10});
  ASSERT_TRUE(again.ok() && other.ok());
  std::vector<uint64_t> a, b, c;
  for (const Point& p : r->points) a.push_back(p.grid_index);
  for (const Point& p : again->points) b.push_back(p.grid_index);
  for (const Point& p : other->points) c.push_back(p.grid_index);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(ExpandRandom, SamplesATrillionPointGridWithoutMaterialisingIt) {
  const SweepSpec spec = Parse({"range(1000)", "range(1000)", "range(1000)", "range(1000)"});
  Result<Expansion> r = Expand(spec, {.strategy = Strategy::kRandom, .trials = 20, .seed = 3});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->grid_size, 1'000'000'000'000u);
  std::set<uint64_t> seen;
  for (const Point& p : r->points) {
    seen.insert(p.grid_index);
    EXPECT_EQ(p.values[0], std::to_string(p.grid_index / 1'000'000'000));
    EXPECT_EQ(p.values[3], std::to_string(p.grid_index % 1000));
  }
  EXPECT_EQ(seen.size(), 20u);
}

TEST(ExpandRandom, TrialsAtLeastTheGridRunsTheWholeGridWithANote) {
  const SweepSpec spec = Parse({"[1, 2, 3]", "range(4)"});
  Result<Expansion> r = Expand(spec, {.strategy = Strategy::kRandom, .trials = 50});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->points.size(), 12u);
  EXPECT_EQ(r->note, "--trials 50 is more than the grid's 12 points: running all 12");
  for (size_t i = 0; i < 12; ++i) EXPECT_EQ(r->points[i].grid_index, i);
  Result<Expansion> exact = Expand(spec, {.strategy = Strategy::kRandom, .trials = 12});
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->points.size(), 12u);
  EXPECT_EQ(exact->note, "");
}

TEST(ExpandRandom, TrialsOverTheLimitRefused) {
  const SweepSpec spec = Parse({"range(1000)", "range(1000)"});
  Result<Expansion> r = Expand(spec, {.strategy = Strategy::kRandom, .trials = 20000});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(r.error().message, "random search with --trials 20000 has 20,000 experiments, over --max-experiments 10000");
}

TEST(Expand, HandBuiltSpecsAreChecked) {
  SweepSpec empty_dim{{"a"}, {Dimension{0, "", {}, "a"}}};
  EXPECT_EQ(Expand(empty_dim, {}).error().code, ErrorCode::kInvalidArgument);
  SweepSpec past_end{{"a"}, {Dimension{3, "", {"1"}, "a"}}};
  EXPECT_EQ(Expand(past_end, {}).error().code, ErrorCode::kInvalidArgument);
  SweepSpec twice{{"a"}, {Dimension{0, "", {"1"}, "a"}, Dimension{0, "", {"2"}, "a"}}};
  EXPECT_EQ(Expand(twice, {}).error().code, ErrorCode::kInvalidArgument);
}

TEST(ParseStrategy, AcceptsTheCliSpellings) {
  EXPECT_EQ(*ParseStrategy("grid_search"), Strategy::kGrid);
  EXPECT_EQ(*ParseStrategy("random_search"), Strategy::kRandom);
  EXPECT_THAT(ParseStrategy("bayes").error().message, HasSubstr("expected grid_search or random_search"));
}

TEST(SearchStrategy, GridAndRandomHandOutTheirPointsAndNeverStopAnything) {
  const SweepSpec spec = Parse({"range(10)"});
  Result<std::unique_ptr<SearchStrategy>> grid = MakeSearchStrategy(spec, {});
  ASSERT_TRUE(grid.ok());
  EXPECT_EQ((*grid)->Initial().points.size(), 10u);
  const Decision d = (*grid)->OnMetric(0, 100, 0.5);
  EXPECT_TRUE(d.stop.empty() && d.add.empty());

  Result<std::unique_ptr<SearchStrategy>> random =
      MakeSearchStrategy(spec, {.strategy = Strategy::kRandom, .trials = 3});
  ASSERT_TRUE(random.ok());
  EXPECT_EQ((*random)->Initial().points.size(), 3u);
  EXPECT_FALSE(MakeSearchStrategy(spec, {.strategy = Strategy::kRandom}).ok());
}

}  // namespace
}  // namespace lattice::sweep

namespace lattice::sweep {
namespace {

TEST(Expand, WithoutMaterialize_GridCarriesOnlyIndicesThatPointAtRebuilds) {
  auto spec = ParseSweep({"--a", "[1, 2]", "--b=range(3)"}, 7);
  ASSERT_TRUE(spec.ok());
  ExpandOptions options;
  options.materialize = false;
  auto lazy = Expand(*spec, options);
  auto full = Expand(*spec, ExpandOptions{});
  ASSERT_TRUE(lazy.ok() && full.ok());
  ASSERT_EQ(lazy->points.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(lazy->points[i].args.empty());
    auto p = PointAt(*spec, lazy->points[i].grid_index);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->args, full->points[i].args);
  }
  options.max_experiments = 5;
  EXPECT_EQ(Expand(*spec, options).error().code, ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace lattice::sweep
