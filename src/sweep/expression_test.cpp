#include "sweep/expression.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace lattice::sweep {
namespace {

using ::testing::ElementsAre;
using ::testing::Each;
using ::testing::HasSubstr;
using Values = std::vector<std::string>;

Values Eval(std::string_view text, uint64_t seed = 7) {
  Evaluation e = EvaluateExpression(text, seed);
  if (const auto* err = std::get_if<ExpressionError>(&e)) {
    ADD_FAILURE() << text << ": " << err->message << " at " << err->offset;
    return {};
  }
  return std::get<Values>(e);
}

double ToDouble(const std::string& s) { return std::stod(s); }

TEST(ListExpression, NumbersKeepTheTextTheUserWrote) {
  EXPECT_THAT(Eval("[0.1, 0.01]"), ElementsAre("0.1", "0.01"));
  EXPECT_THAT(Eval("[1e-3,1E2, -5, +3, .5, 7.]"), ElementsAre("1e-3", "1E2", "-5", "+3", ".5", "7."));
}

TEST(ListExpression, QuotedStringsLoseTheirQuotes) {
  EXPECT_THAT(Eval("['adam', \"sgd\"]"), ElementsAre("adam", "sgd"));
  EXPECT_THAT(Eval("['a b', '', \"x,y]\"]"), ElementsAre("a b", "", "x,y]"));
}

TEST(ListExpression, BackslashEscapesOnlyQuotesAndBackslashes) {
  EXPECT_THAT(Eval(R"(['it\'s', "say \"hi\"", 'a\\b', 'C:\path'])"),
              ElementsAre("it's", "say \"hi\"", "a\\b", "C:\\path"));
}

TEST(ListExpression, BooleansMixedValuesAndATrailingComma) {
  EXPECT_THAT(Eval("[true, false]"), ElementsAre("true", "false"));
  EXPECT_THAT(Eval("  [ True , 'x', 3 , ]  "), ElementsAre("True", "x", "3"));
}

TEST(RangeExpression, FollowsPythonRange) {
  EXPECT_THAT(Eval("range(4)"), ElementsAre("0", "1", "2", "3"));
  EXPECT_THAT(Eval("range(2, 10, 2)"), ElementsAre("2", "4", "6", "8"));
  EXPECT_THAT(Eval("range(2, 5)"), ElementsAre("2", "3", "4"));
  EXPECT_THAT(Eval("range(10, 0, -3)"), ElementsAre("10", "7", "4", "1"));
  EXPECT_THAT(Eval("range(-3, 3, 2)"), ElementsAre("-3", "-1", "1"));
}

TEST(RangeExpression, SixtyFourBitExtremesDoNotOverflow) {
  EXPECT_THAT(Eval("range(9223372036854775806, 9223372036854775807, 5)"), ElementsAre("9223372036854775806"));
  EXPECT_THAT(Eval("range(-9223372036854775808, -9223372036854775807)"), ElementsAre("-9223372036854775808"));
}

TEST(SpaceExpression, LinspaceIsInclusiveAndPrintsShortNumbers) {
  EXPECT_THAT(Eval("linspace(0, 1, 5)"), ElementsAre("0", "0.25", "0.5", "0.75", "1"));
  EXPECT_THAT(Eval("linspace(0, 10, 3)"), ElementsAre("0", "5", "10"));
  EXPECT_THAT(Eval("linspace(1, 0, 3)"), ElementsAre("1", "0.5", "0"));
  EXPECT_THAT(Eval("linspace(2.5, 9, 1)"), ElementsAre("2.5"));
}

TEST(SpaceExpression, LogspaceUsesBaseTenExponents) {
  EXPECT_THAT(Eval("logspace(-4, -1, 4)"), ElementsAre("0.0001", "0.001", "0.01", "0.1"));
  EXPECT_THAT(Eval("logspace(0, 2, 3)"), ElementsAre("1", "10", "100"));
  EXPECT_THAT(Eval("logspace(-6, -5, 2)"), ElementsAre("1e-06", "1e-05"));
}

TEST(RandomExpression, UniformDrawsCountValuesInsideTheBounds) {
  const Values v = Eval("uniform(0, 0.5, 4)");
  ASSERT_EQ(v.size(), 4u);
  for (const std::string& s : v) {
    EXPECT_GE(ToDouble(s), 0.0);
    EXPECT_LT(ToDouble(s), 0.5);
  }
  EXPECT_EQ(std::set<std::string>(v.begin(), v.end()).size(), 4u);
}

TEST(RandomExpression, LoguniformStaysInsideTheBounds) {
  const Values v = Eval("loguniform(1e-5, 1e-1, 200)");
  ASSERT_EQ(v.size(), 200u);
  for (const std::string& s : v) {
    EXPECT_GE(ToDouble(s), 1e-5);
    EXPECT_LT(ToDouble(s), 1e-1);
  }
}

TEST(RandomExpression, NormalAndRandintGiveTheRequestedCounts) {
  EXPECT_EQ(Eval("normal(0, 1, 3)").size(), 3u);
  EXPECT_THAT(Eval("normal(5, 0, 2)"), ElementsAre("5", "5"));
  const Values r = Eval("randint(1, 9, 300)");
  ASSERT_EQ(r.size(), 300u);
  std::set<std::string> seen(r.begin(), r.end());
  // High is exclusive, as in numpy: 1..8, and 300 draws hit all eight.
  EXPECT_EQ(seen, (std::set<std::string>{"1", "2", "3", "4", "5", "6", "7", "8"}));
  EXPECT_THAT(Eval("randint(1, 2, 3)"), ElementsAre("1", "1", "1"));
}

TEST(RandomExpression, SameSeedSameValuesOtherSeedOtherValues) {
  for (const char* text : {"uniform(0, 1, 5)", "loguniform(1e-5, 1, 5)", "normal(0, 1, 5)", "randint(0, 1000000, 5)"}) {
    EXPECT_EQ(Eval(text, 42), Eval(text, 42)) << text;
    EXPECT_NE(Eval(text, 42), Eval(text, 43)) << text;
  }
}

TEST(FormatDouble, ShortestRoundTripWithIntegersAsIntegers) {
  EXPECT_EQ(FormatDouble(0.25), "0.25");
  EXPECT_EQ(FormatDouble(1.0), "1");
  EXPECT_EQ(FormatDouble(-0.0), "0");
  EXPECT_EQ(FormatDouble(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(FormatDouble(1e-5), "1e-05");
  EXPECT_EQ(FormatDouble(0.0001), "0.0001");
  EXPECT_EQ(FormatDouble(123456789012345.0), "123456789012345");
  EXPECT_EQ(FormatDouble(1e16), "1e+16");
  EXPECT_EQ(WithCommas(1200000), "1,200,000");
  EXPECT_EQ(WithCommas(999), "999");
}

TEST(LooksLikeExpression, BracketsAndKnownFunctionsAndTheirTypos) {
  for (const char* yes : {"[1]", "  [0.1, 0.01]  ", "[abc", "[", "range(3)", "linspace (0, 1, 2)", "lnspace(0, 1, 5)",
                          "Range(3)", "randnt(1, 2, 3"}) {
    EXPECT_TRUE(LooksLikeExpression(yes)) << yes;
  }
  for (const char* no : {"", "   ", "abc", "a[0]", "x]", "print(x)", "f(1)", "range", "0.1", "'[1, 2]'", "-[1]",
                         "hello world", "h\xC3\xA9llo \xE2\x98\x83", "rng(3)"}) {
    EXPECT_FALSE(LooksLikeExpression(no)) << no;
  }
}

struct BadCase {
  const char* text;
  size_t offset;
  const char* message;
};

class MalformedExpression : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedExpression, PointsAtTheOffendingCharacter) {
  const BadCase& c = GetParam();
  Evaluation e = EvaluateExpression(c.text, 1);
  const auto* err = std::get_if<ExpressionError>(&e);
  ASSERT_NE(err, nullptr) << c.text;
  EXPECT_EQ(err->offset, c.offset) << c.text << ": " << err->message;
  EXPECT_THAT(err->message, HasSubstr(c.message)) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, MalformedExpression,
    ::testing::Values(
        BadCase{"[0.1, 0.01", 10, "expected ',' or ']'"}, BadCase{"[0.1 0.2]", 5, "expected ',' or ']'"},
        BadCase{"[", 1, "expected a value"}, BadCase{"[]", 1, "needs at least one"},
        BadCase{"[1.2.3]", 1, "'1.2.3' is not a number"}, BadCase{"[1e]", 1, "'1e' is not a number"},
        BadCase{"[0x10]", 1, "is not a number"}, BadCase{"[adam]", 1, "quote strings: 'adam'"},
        BadCase{"['adam]", 1, "unterminated string: expected a closing '"},
        BadCase{"[\"x', 1]", 1, "expected a closing \""}, BadCase{"[1,,2]", 3, "expected a value"},
        BadCase{"[[1]]", 1, "nested lists"}, BadCase{"[1] x", 4, "unexpected text after"},
        BadCase{"[1](", 3, "unexpected text after"}, BadCase{"lnspace(0, 1, 5)", 0, "did you mean linspace?"},
        BadCase{"Range(3)", 0, "did you mean range?"},
        BadCase{"linspace(0, 1)", 0, "expected linspace(start, stop, num), got 2 arguments"},
        BadCase{"range()", 0, "got 0 arguments"}, BadCase{"range(1, 2, 3, 4)", 0, "got 4 arguments"},
        BadCase{"uniform(0, 1, 2, 3)", 0, "uniform(low, high, size)"},
        BadCase{"range(0, 10, 0)", 13, "step must not be zero"}, BadCase{"range(1.5)", 6, "must be an integer"},
        BadCase{"range(5, 1)", 0, "empty"}, BadCase{"range(0, 10, -1)", 0, "empty"},
        BadCase{"range(10000000)", 0, "10,000,000 values, over the limit of 1,000,000"},
        BadCase{"range(-9223372036854775808, 9223372036854775807)", 0, "over the limit"},
        BadCase{"range(99999999999999999999)", 6, "out of range for an integer"},
        BadCase{"linspace(0, 1, 0)", 15, "at least 1"}, BadCase{"linspace(0, 1, -3)", 15, "at least 1"},
        BadCase{"uniform(0, 1, 1000000000000)", 14, "over the limit of 1,000,000"},
        BadCase{"linspace(0, 1, 2.5)", 15, "must be an integer"}, BadCase{"linspace(0, 1, 5", 16, "expected ',' or ')'"},
        BadCase{"linspace(0, 1 2)", 14, "expected ',' or ')'"}, BadCase{"linspace(0, , 2)", 12, "expected a number"},
        BadCase{"linspace(0, x, 5)", 12, "'x' is not a number"},
        BadCase{"linspace(0, 1e999, 5)", 12, "out of range for a double"},
        BadCase{"linspace(-1e308, 1e308, 3)", 0, "beyond the range of a double"},
        BadCase{"logspace(0, 400, 2)", 0, "beyond the range of a double"},
        BadCase{"uniform(-1e308, 1e308, 3)", 0, "beyond the range of a double"},
        BadCase{"linspace(0, 1, 5) x", 18, "unexpected text after"}, BadCase{"range 3", 6, "expected '('"},
        BadCase{"randint(5, 5, 3)", 8, "below high"}, BadCase{"randint(1.5, 5, 3)", 8, "must be an integer"},
        BadCase{"uniform(1, 0, 3)", 8, "below high"}, BadCase{"loguniform(0, 1, 3)", 11, "low > 0"},
        BadCase{"normal(0, -1, 3)", 10, "must not be negative"}, BadCase{"", 0, "expected '['"}));

}  // namespace
}  // namespace lattice::sweep
