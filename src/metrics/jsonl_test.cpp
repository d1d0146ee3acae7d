#include "metrics/jsonl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>

namespace lattice::metrics {
namespace {

using ::testing::HasSubstr;

constexpr double kNow = 1000.5;

struct Parsed {
  Status status = OkStatus();
  int64_t next_step = 0;
  std::vector<std::pair<std::string, Point>> points;
  std::vector<std::string> warnings;
};

Parsed Parse(std::string_view line, int64_t next_step = 0) {
  Parsed p;
  p.next_step = next_step;
  p.status = ParseMetricsLine(line, kNow, &p.next_step, &p.points, &p.warnings);
  return p;
}

std::string ErrorOf(std::string_view line) {
  const Parsed p = Parse(line);
  return p.status.ok() ? std::string("(ok)") : p.status.error().message;
}

TEST(ParseMetricsLine, ReadsStepTimeAndValues) {
  const Parsed p = Parse(R"({"step": 10, "time": 1732590000.25, "loss": 0.3, "acc": 0.9})");
  ASSERT_TRUE(p.status.ok());
  ASSERT_EQ(p.points.size(), 2u);
  EXPECT_EQ(p.points[0].first, "loss");
  EXPECT_EQ(p.points[0].second.step, 10);
  EXPECT_EQ(p.points[0].second.time, 1732590000.25);
  EXPECT_EQ(p.points[0].second.value, 0.3);
  EXPECT_EQ(p.points[1].first, "acc");
  EXPECT_EQ(p.next_step, 11);
}

TEST(ParseMetricsLine, StepAndTimeAfterTheValuesStillApply) {
  const Parsed p = Parse(R"({"loss": 1, "time": 5, "step": 3})");
  ASSERT_EQ(p.points.size(), 1u);
  EXPECT_EQ(p.points[0].second.step, 3);
  EXPECT_EQ(p.points[0].second.time, 5);
}

TEST(ParseMetricsLine, MissingStepAndTimeUseTheDefaults) {
  const Parsed p = Parse(R"({"loss": 1})", 7);
  ASSERT_EQ(p.points.size(), 1u);
  EXPECT_EQ(p.points[0].second.step, 7);
  EXPECT_EQ(p.points[0].second.time, kNow);
  EXPECT_EQ(p.next_step, 8);
}

TEST(ParseMetricsLine, FlattensNestedObjectsWithSlashes) {
  const Parsed p = Parse(R"({"train": {"loss": 0.3, "deep": {"x": 1}}, "step": 1})");
  ASSERT_EQ(p.points.size(), 2u);
  EXPECT_EQ(p.points[0].first, "train/loss");
  EXPECT_EQ(p.points[1].first, "train/deep/x");
}

TEST(ParseMetricsLine, NestedStepIsAnOrdinaryKey) {
  const Parsed p = Parse(R"({"train": {"step": 5}})");
  ASSERT_EQ(p.points.size(), 1u);
  EXPECT_EQ(p.points[0].first, "train/step");
  EXPECT_EQ(p.points[0].second.step, 0);
}

TEST(ParseMetricsLine, BooleansAreOneAndZeroAndNullIsSkipped) {
  const Parsed p = Parse(R"({"a": true, "b": false, "c": null})");
  ASSERT_EQ(p.points.size(), 2u);
  EXPECT_EQ(p.points[0].second.value, 1);
  EXPECT_EQ(p.points[1].second.value, 0);
  EXPECT_TRUE(p.warnings.empty());
}

TEST(ParseMetricsLine, ReadsPythonNonFiniteLiteralsAndStrings) {
  const Parsed p = Parse(
      R"({"a": NaN, "b": Infinity, "c": -Infinity, "d": "NaN", "e": "nan", "f": "Infinity", "g": "inf",)"
      R"( "h": "-Infinity", "i": "-inf"})");
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  ASSERT_EQ(p.points.size(), 9u);
  const double inf = std::numeric_limits<double>::infinity();
  const double expected[] = {NAN, inf, -inf, NAN, NAN, inf, inf, -inf, -inf};
  for (size_t i = 0; i < 9; ++i) {
    if (std::isnan(expected[i])) {
      EXPECT_TRUE(std::isnan(p.points[i].second.value)) << i;
    } else {
      EXPECT_EQ(p.points[i].second.value, expected[i]) << i;
    }
  }
}

TEST(ParseMetricsLine, ReadsNumbersInEveryJsonForm) {
  const Parsed p = Parse(R"({"a": -0, "b": 12, "c": -1.5e3, "d": 2E-2, "e": 1e400, "f": -1e400, "g": 1e-400})");
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  ASSERT_EQ(p.points.size(), 7u);
  EXPECT_EQ(p.points[1].second.value, 12);
  EXPECT_EQ(p.points[2].second.value, -1500);
  EXPECT_EQ(p.points[3].second.value, 0.02);
  EXPECT_EQ(p.points[4].second.value, std::numeric_limits<double>::infinity());
  EXPECT_EQ(p.points[5].second.value, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(p.points[6].second.value, 0);
}

TEST(ParseMetricsLine, DecodesEscapesAndSurrogatePairsInKeys) {
  const Parsed p = Parse(R"({"a\"b\\c\/d\u00e9\ud83d\ude00": 1})");
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  ASSERT_EQ(p.points.size(), 1u);
  EXPECT_EQ(p.points[0].first, "a\"b\\c/d\xc3\xa9\xf0\x9f\x98\x80");
}

TEST(ParseMetricsLine, ControlCharacterEscapesMakeABadKeyWarning) {
  const Parsed p = Parse(R"({"a\nb": 1, "ok": 2})");
  ASSERT_TRUE(p.status.ok());
  ASSERT_EQ(p.points.size(), 1u);
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_THAT(p.warnings[0], HasSubstr("control character"));
}

TEST(ParseMetricsLine, SkipsStringsAndArraysWithAWarning) {
  const Parsed p = Parse(R"({"name": "resnet", "hist": [1, [2, {"x": 3}], "s"], "loss": 1})");
  ASSERT_TRUE(p.status.ok()) << p.status.error().message;
  ASSERT_EQ(p.points.size(), 1u);
  EXPECT_EQ(p.points[0].first, "loss");
  ASSERT_EQ(p.warnings.size(), 2u);
  EXPECT_THAT(p.warnings[0], HasSubstr("'name': value is a string"));
  EXPECT_THAT(p.warnings[1], HasSubstr("'hist': value is an array"));
}

TEST(ParseMetricsLine, RejectsMalformedLinesWithAColumn) {
  EXPECT_THAT(ErrorOf(R"({"a": 1,})"), HasSubstr("expected a key string at column 9"));
  EXPECT_THAT(ErrorOf(R"({"a" 1})"), HasSubstr("expected ':' after the key at column 6"));
  EXPECT_THAT(ErrorOf(R"({"a": 1} x)"), HasSubstr("unexpected text after the object at column 10"));
  EXPECT_THAT(ErrorOf(R"([1, 2])"), HasSubstr("expected '{'"));
  EXPECT_THAT(ErrorOf(R"({"a": 01})"), HasSubstr("expected ',' or '}' at column 8"));
  EXPECT_THAT(ErrorOf(R"({"a": 1.})"), HasSubstr("digits must follow '.'"));
  EXPECT_THAT(ErrorOf(R"({"a": 1e})"), HasSubstr("digits must follow the exponent"));
  EXPECT_THAT(ErrorOf(R"({"a": +1})"), HasSubstr("unexpected character at column 7"));
  EXPECT_THAT(ErrorOf(R"({"a": tru})"), HasSubstr("invalid literal"));
  EXPECT_THAT(ErrorOf(R"({"a": "x)"), HasSubstr("unterminated string"));
  EXPECT_THAT(ErrorOf(R"({"a\q": 1})"), HasSubstr("invalid escape at column 4"));
  EXPECT_THAT(ErrorOf(R"({"\ud83d": 1})"), HasSubstr("high surrogate without its low half"));
  EXPECT_THAT(ErrorOf(R"({"\ude00": 1})"), HasSubstr("lone low surrogate"));
  EXPECT_THAT(ErrorOf(R"({"\u12g4": 1})"), HasSubstr("invalid \\u escape"));
  EXPECT_THAT(ErrorOf("{\"a\tb\": 1}"), HasSubstr("control character in a string"));
  EXPECT_THAT(ErrorOf(R"({"a": 1)"), HasSubstr("expected ',' or '}'"));
}

TEST(ParseMetricsLine, RejectsBadStepAndTime) {
  EXPECT_THAT(ErrorOf(R"({"step": 1.5})"), HasSubstr("\"step\" must be an integer at column 10"));
  EXPECT_THAT(ErrorOf(R"({"step": "3"})"), HasSubstr("\"step\" must be an integer"));
  EXPECT_THAT(ErrorOf(R"({"step": 99999999999999999999})"), HasSubstr("\"step\" is out of range"));
  EXPECT_THAT(ErrorOf(R"({"time": "now"})"), HasSubstr("\"time\" must be a number"));
  EXPECT_THAT(ErrorOf(R"({"time": NaN})"), HasSubstr("\"time\" must be a finite number"));
  EXPECT_EQ(Parse(R"({"step": 4.0, "x": 1})").points.at(0).second.step, 4);
  EXPECT_EQ(Parse(R"({"step": -2, "x": 1})").points.at(0).second.step, -2);
}

TEST(ParseMetricsLine, LimitsNestingDepth) {
  std::string ok = "{";
  for (int i = 0; i < kMaxJsonDepth - 1; ++i) ok += "\"a\": {";
  ok += "\"x\": 1" + std::string(static_cast<size_t>(kMaxJsonDepth), '}');
  EXPECT_TRUE(Parse(ok).status.ok());
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "{\"a\": ";
  EXPECT_THAT(ErrorOf(deep), HasSubstr("nesting deeper than 32 levels"));
  std::string arrays = "{\"a\": " + std::string(10000, '[');
  EXPECT_THAT(ErrorOf(arrays), HasSubstr("nesting deeper than 32 levels"));
}

TEST(ParseMetricsLine, BlankLineChangesNothing) {
  const Parsed p = Parse("  \t\r", 5);
  EXPECT_TRUE(p.status.ok());
  EXPECT_EQ(p.next_step, 5);
  EXPECT_TRUE(p.points.empty());
}

TEST(ParseMetricsLine, KeyLongerThanTheLimitIsAWarning) {
  const Parsed p = Parse("{\"" + std::string(300, 'k') + "\": 1}");
  EXPECT_TRUE(p.status.ok());
  EXPECT_TRUE(p.points.empty());
  ASSERT_EQ(p.warnings.size(), 1u);
  EXPECT_THAT(p.warnings[0], HasSubstr("bad key"));
}

// ---- JsonlMetricsTail -------------------------------------------------------

struct Tail {
  JsonlMetricsTail tail{"metrics.jsonl"};
  std::vector<SeriesBatch> out;
  std::vector<std::string> warnings;
  void Feed(std::string_view s) { tail.Feed(s, kNow, &out, &warnings); }
  void Finish() { tail.Finish(kNow, &out, &warnings); }
};

TEST(JsonlMetricsTail, GroupsPointsByKeyInOrderAndNumbersStepsFromZero) {
  Tail t;
  t.Feed("{\"loss\": 1, \"acc\": 0.5}\n{\"loss\": 2}\n{\"acc\": 0.7, \"loss\": 3}\n");
  EXPECT_TRUE(t.warnings.empty());
  ASSERT_EQ(t.out.size(), 2u);
  EXPECT_EQ(t.out[0].key, "loss");
  ASSERT_EQ(t.out[0].points.size(), 3u);
  EXPECT_EQ(t.out[0].points[0].step, 0);
  EXPECT_EQ(t.out[0].points[1].step, 1);
  EXPECT_EQ(t.out[0].points[2].step, 2);
  EXPECT_EQ(t.out[0].points[2].value, 3);
  EXPECT_EQ(t.out[1].key, "acc");
  ASSERT_EQ(t.out[1].points.size(), 2u);
  EXPECT_EQ(t.out[1].points[1].step, 2);
  EXPECT_EQ(t.tail.next_step(), 3);
  EXPECT_EQ(t.tail.next_line(), 4);
}

TEST(JsonlMetricsTail, MissingStepFollowsThePreviousExplicitStep) {
  Tail t;
  t.Feed("{\"step\": 100, \"x\": 1}\n{\"x\": 2}\n");
  ASSERT_EQ(t.out.size(), 1u);
  EXPECT_EQ(t.out[0].points[1].step, 101);
}

TEST(JsonlMetricsTail, SkipsAMalformedLineAndKeepsItsNeighbours) {
  Tail t;
  t.Feed("{\"x\": 1}\n{\"x\": }\n{\"x\": 3}\n");
  ASSERT_EQ(t.out.size(), 1u);
  ASSERT_EQ(t.out[0].points.size(), 2u);
  EXPECT_EQ(t.out[0].points[1].value, 3);
  EXPECT_EQ(t.out[0].points[1].step, 1);  // the skipped line takes no step
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_EQ(t.warnings[0], "metrics.jsonl line 2: unexpected character at column 7; line skipped");
}

TEST(JsonlMetricsTail, WarnsOncePerKeyAboutSkippedValues) {
  Tail t;
  t.Feed("{\"name\": \"a\", \"x\": 1}\n{\"name\": \"b\", \"x\": 2}\n");
  t.Feed("{\"name\": \"c\", \"hist\": [1]}\n{\"hist\": [2]}\n");
  ASSERT_EQ(t.warnings.size(), 2u);
  EXPECT_THAT(t.warnings[0], HasSubstr("line 1: key 'name': value is a string"));
  EXPECT_THAT(t.warnings[1], HasSubstr("line 3: key 'hist': value is an array"));
}

TEST(JsonlMetricsTail, WarnsOncePerBadKey) {
  Tail t;
  t.Feed("{\"\": 1, \"ok\": 1}\n{\"\": 2}\n");
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_THAT(t.warnings[0], HasSubstr("line 1: bad key"));
  ASSERT_EQ(t.out.size(), 1u);
  EXPECT_EQ(t.out[0].key, "ok");
}

TEST(JsonlMetricsTail, IgnoresBlankLinesButCountsThem) {
  Tail t;
  t.Feed("\n   \r\n{\"x\": 1}\n\n{bad\n");
  ASSERT_EQ(t.out.size(), 1u);
  EXPECT_EQ(t.out[0].points[0].step, 0);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_THAT(t.warnings[0], HasSubstr("line 5:"));
}

TEST(JsonlMetricsTail, HandlesCrLfLineEnds) {
  Tail t;
  t.Feed("{\"x\": 1}\r\n{\"x\": 2}\r\n");
  EXPECT_TRUE(t.warnings.empty());
  ASSERT_EQ(t.out.size(), 1u);
  EXPECT_EQ(t.out[0].points.size(), 2u);
}

TEST(JsonlMetricsTail, KeepsAnUnterminatedLineUntilItsNewlineOrFinish) {
  Tail t;
  t.Feed("{\"x\": 1}\n{\"x\"");
  EXPECT_EQ(t.tail.consumed(), 9u);
  ASSERT_EQ(t.out.size(), 1u);
  t.Feed(": 2");
  EXPECT_EQ(t.out[0].points.size(), 1u);
  t.Feed("}\n{\"x\": 3}");
  EXPECT_EQ(t.out[0].points.size(), 2u);
  EXPECT_EQ(t.out[0].points[1].value, 2);
  EXPECT_EQ(t.tail.consumed(), 18u);
  t.Finish();
  EXPECT_EQ(t.out[0].points.size(), 3u);
  EXPECT_EQ(t.tail.consumed(), 26u);
  EXPECT_TRUE(t.warnings.empty());
}

TEST(JsonlMetricsTail, GivesTheSameResultForEveryChunkSize) {
  std::string file;
  for (int i = 0; i < 50; ++i)
    file += "{\"step\": " + std::to_string(i * 2) + ", \"loss\": " + std::to_string(i) + ".5, \"t\": {\"a\": " +
            std::to_string(i % 7) + "}}\n" + (i % 9 == 0 ? "{oops}\n" : "");
  Tail whole;
  whole.Feed(file);
  for (size_t chunk : {1, 2, 3, 17, 100}) {
    Tail t;
    for (size_t i = 0; i < file.size(); i += chunk) t.Feed(std::string_view(file).substr(i, chunk));
    t.Finish();
    EXPECT_EQ(t.warnings, whole.warnings);
    // Chunks split the output into more batches; compare per key.
    std::map<std::string, std::vector<double>> a, b;
    for (const auto& batch : whole.out)
      for (const auto& p : batch.points) a[batch.key].push_back(p.value + static_cast<double>(p.step) * 1000);
    for (const auto& batch : t.out)
      for (const auto& p : batch.points) b[batch.key].push_back(p.value + static_cast<double>(p.step) * 1000);
    EXPECT_EQ(a, b) << chunk;
    EXPECT_EQ(t.tail.consumed(), file.size());
  }
}

TEST(JsonlMetricsTail, AppendsToAnExistingBatchOfTheSameKey) {
  Tail t;
  t.Feed("{\"x\": 1}\n");
  t.Feed("{\"y\": 1, \"x\": 2}\n");
  ASSERT_EQ(t.out.size(), 2u);
  EXPECT_EQ(t.out[0].points.size(), 2u);
}

TEST(JsonlMetricsTail, ResumesFromSavedState) {
  JsonlMetricsTail first("m");
  std::vector<SeriesBatch> out;
  std::vector<std::string> warnings;
  const std::string file = "{\"x\": 1}\n{\"x\": 2}\n{\"x\": 3}\n{bad\n";
  first.Feed(std::string_view(file).substr(0, 12), kNow, &out, &warnings);
  JsonlMetricsTail second("m", first.consumed(), first.next_line(), first.next_step());
  out.clear();
  second.Feed(std::string_view(file).substr(first.consumed()), kNow, &out, &warnings);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].points.size(), 2u);
  EXPECT_EQ(out[0].points[0].step, 1);
  EXPECT_EQ(out[0].points[0].value, 2);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("m line 4:"));
}

TEST(JsonlMetricsTail, DropsAnOverlongLineWithoutBufferingIt) {
  Tail t;
  t.Feed("{\"x\": 1}\n{\"s\": \"");
  const std::string chunk(1 << 20, 'a');
  for (size_t i = 0; i < kMaxJsonlLineBytes / chunk.size() + 2; ++i) t.Feed(chunk);
  t.Feed("\"}\n{\"x\": 2}\n");
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_THAT(t.warnings[0], HasSubstr("line 2: longer than"));
  ASSERT_EQ(t.out.size(), 1u);
  EXPECT_EQ(t.out[0].points.size(), 2u);
  EXPECT_EQ(t.tail.next_line(), 4);
  EXPECT_EQ(t.tail.consumed(), 9 + 7 + (kMaxJsonlLineBytes / chunk.size() + 2) * chunk.size() + 3 + 9);
}

}  // namespace
}  // namespace lattice::metrics
