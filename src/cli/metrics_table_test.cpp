#include "cli/metrics_table.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace lattice::cli {
namespace {

Json Doc() {
  return Json::parse(R"({"run":"r","experiments":[
    {"experiment":0,"state":"succeeded","params":{"lr":"0.1","batch":"32"},
     "metrics":{"loss":{"count":10,"last":0.5,"last_step":9,"min":0.25,"max":2.5,"nan_count":0},
                "val_acc":{"count":10,"last":0.8,"last_step":9,"min":0.1,"max":0.85,"nan_count":0}}},
    {"experiment":1,"state":"failed","params":{"lr":"1.0","batch":"32"},
     "metrics":{"loss":{"count":3,"last":"NaN","last_step":2,"min":1.5,"max":"Infinity","nan_count":1}}},
    {"experiment":2,"state":"running","params":{"lr":"0.01","batch":"64"},
     "metrics":{"loss":{"count":10,"last":0.125,"last_step":9,"min":0.125,"max":2.0,"nan_count":0},
                "val_acc":{"count":10,"last":0.9,"last_step":9,"min":0.2,"max":0.92,"nan_count":0}}},
    {"experiment":3,"state":"queued","params":{"lr":"0.001","batch":"64"},"metrics":{}}
  ]})");
}

std::vector<int> Order(const Json& doc) {
  std::vector<int> out;
  for (const auto& e : doc["experiments"]) out.push_back(e["experiment"].get<int>());
  return out;
}

TEST(MetricsTable, FormatNumber_CompactAndNonFinite) {
  EXPECT_EQ(FormatMetricNumber(Json(0.123456789)), "0.1235");
  EXPECT_EQ(FormatMetricNumber(Json(12345678.0)), "1.235e+07");
  EXPECT_EQ(FormatMetricNumber(Json(3)), "3");
  EXPECT_EQ(FormatMetricNumber(Json(-0.0)), "0");
  EXPECT_EQ(FormatMetricNumber(Json(1e-5)), "1e-05");
  EXPECT_EQ(FormatMetricNumber(Json("NaN")), "nan");
  EXPECT_EQ(FormatMetricNumber(Json("Infinity")), "inf");
  EXPECT_EQ(FormatMetricNumber(Json("-Infinity")), "-inf");
  EXPECT_EQ(FormatMetricNumber(Json(nullptr)), "-");
  EXPECT_EQ(FormatMetricNumber(Json("oops")), "-");
  EXPECT_EQ(FormatMetricNumber(std::optional<double>()), "-");
  EXPECT_EQ(FormatMetricNumber(std::optional<double>(std::numeric_limits<double>::quiet_NaN())), "nan");
}

TEST(MetricsTable, MetricNumber_ReadsNumbersAndNonFiniteStrings) {
  EXPECT_EQ(*MetricNumber(Json(2.5)), 2.5);
  EXPECT_TRUE(std::isnan(*MetricNumber(Json("NaN"))));
  EXPECT_EQ(*MetricNumber(Json("-Infinity")), -std::numeric_limits<double>::infinity());
  EXPECT_FALSE(MetricNumber(Json(nullptr)).has_value());
  EXPECT_FALSE(MetricNumber(Json("nan")).has_value());
  EXPECT_FALSE(MetricNumber(Json::array()).has_value());
}

TEST(MetricsTable, ParseSort) {
  auto plain = ParseMetricSort("loss", false);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->key, "loss");
  EXPECT_EQ(plain->stat, MetricStat::kLast);
  EXPECT_FALSE(plain->descending);

  auto max = ParseMetricSort("val_acc:max", true);
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->key, "val_acc");
  EXPECT_EQ(max->stat, MetricStat::kMax);
  EXPECT_TRUE(max->descending);

  EXPECT_EQ(ParseMetricSort("loss:min", false)->stat, MetricStat::kMin);
  EXPECT_EQ(ParseMetricSort("loss:last", false)->stat, MetricStat::kLast);
  auto colon_key = ParseMetricSort("eval:top1", false);  // not a stat: part of the key
  EXPECT_EQ(colon_key->key, "eval:top1");
  EXPECT_EQ(colon_key->stat, MetricStat::kLast);
  EXPECT_EQ(ParseMetricSort("eval:top1:max", false)->key, "eval:top1");

  for (const char* bad : {"", ":max", ":min"}) {
    auto r = ParseMetricSort(bad, false);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(MetricsTable, Sort_AscendingByLast_MissingAndNaNLast) {
  Json doc = Doc();
  SortExperiments(doc, *ParseMetricSort("loss", false));
  // 2 (0.125) < 0 (0.5); 1 has NaN, 3 has no loss: last, in previous order.
  EXPECT_EQ(Order(doc), (std::vector<int>{2, 0, 1, 3}));
}

TEST(MetricsTable, Sort_DescendingByMax_WhichLearningRateWon) {
  Json doc = Doc();
  SortExperiments(doc, *ParseMetricSort("val_acc:max", true));
  EXPECT_EQ(Order(doc), (std::vector<int>{2, 0, 1, 3}));
  EXPECT_EQ(doc["experiments"][0]["params"]["lr"], "0.01");
}

TEST(MetricsTable, Sort_InfinityIsAValue) {
  Json doc = Doc();
  SortExperiments(doc, *ParseMetricSort("loss:max", true));
  EXPECT_EQ(Order(doc), (std::vector<int>{1, 0, 2, 3}));
  SortExperiments(doc, *ParseMetricSort("loss:max", false));
  EXPECT_EQ(Order(doc), (std::vector<int>{2, 0, 1, 3}));
}

TEST(MetricsTable, Sort_StableForTies) {
  Json doc = Json::parse(R"({"experiments":[
    {"experiment":5,"metrics":{"a":{"last":1}}},{"experiment":2,"metrics":{"a":{"last":1}}},
    {"experiment":9,"metrics":{"a":{"last":0}}}]})");
  SortExperiments(doc, *ParseMetricSort("a", false));
  EXPECT_EQ(Order(doc), (std::vector<int>{9, 5, 2}));
  SortExperiments(doc, *ParseMetricSort("a", true));
  EXPECT_EQ(Order(doc), (std::vector<int>{5, 2, 9}));
}

TEST(MetricsTable, SortValue_NullMinIsMissing) {
  Json e = Json::parse(R"({"metrics":{"x":{"last":"NaN","min":null,"max":null}}})");
  EXPECT_FALSE(SortValue(e, *ParseMetricSort("x", false)).has_value());
  EXPECT_FALSE(SortValue(e, *ParseMetricSort("x:min", false)).has_value());
  EXPECT_FALSE(SortValue(Json::object(), *ParseMetricSort("x", false)).has_value());
}

TEST(MetricsTable, Keys_UnionSortedAndCheck) {
  EXPECT_EQ(MetricKeys(Doc()), (std::vector<std::string>{"loss", "val_acc"}));
  EXPECT_TRUE(MetricKeys(Json::object()).empty());
  EXPECT_TRUE(CheckMetricKeys({"loss"}, MetricKeys(Doc()), "r").ok());
  auto missing = CheckMetricKeys({"loss", "acc"}, MetricKeys(Doc()), "r");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(missing.error().message, "no experiment of r has a metric 'acc'; its metrics are: loss, val_acc");
  auto none = CheckMetricKeys({"acc"}, {}, "r/3");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "no experiment of r/3 has a metric 'acc'; none has recorded metrics yet");
}

TEST(MetricsTable, Build_FullColumnsWithParamsInRunOrder) {
  auto t = BuildMetricsTable(Doc(), {}, {"lr", "batch"});
  EXPECT_EQ(t.header, (std::vector<std::string>{"EXP", "STATE", "LR", "BATCH", "loss:last", "loss:min", "loss:max",
                                                 "val_acc:last", "val_acc:min", "val_acc:max"}));
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"0", "succeeded", "0.1", "32", "0.5", "0.25", "2.5", "0.8", "0.1",
                                                  "0.85"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"1", "failed", "1.0", "32", "nan", "1.5", "inf", "-", "-", "-"}));
  EXPECT_EQ(t.rows[3], (std::vector<std::string>{"3", "queued", "0.001", "64", "-", "-", "-", "-", "-", "-"}));
  EXPECT_EQ(t.footer, "");
}

TEST(MetricsTable, Build_ParamsWithoutRunOrderFollowDocument) {
  auto t = BuildMetricsTable(Doc(), {"loss"}, {});
  EXPECT_EQ(t.header, (std::vector<std::string>{"EXP", "STATE", "BATCH", "LR", "loss:last", "loss:min", "loss:max"}));
  auto partial = BuildMetricsTable(Doc(), {"loss"}, {"lr", "gone"});
  EXPECT_EQ(partial.header[2], "LR");
  EXPECT_EQ(partial.header[3], "BATCH");
}

TEST(MetricsTable, Build_ManyKeysShowLastOnlyUnlessAsked) {
  Json doc = Json::parse(R"({"experiments":[{"experiment":0,"state":"running","params":{},
    "metrics":{"a":{"last":1},"b":{"last":2},"c":{"last":3},"d":{"last":4},"e":{"last":5,"min":0,"max":9}}}]})");
  auto t = BuildMetricsTable(doc, {}, {});
  EXPECT_EQ(t.header, (std::vector<std::string>{"EXP", "STATE", "a", "b", "c", "d", "e"}));
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"0", "running", "1", "2", "3", "4", "5"}));
  EXPECT_NE(t.footer.find("last values of 5 metrics"), std::string::npos);
  EXPECT_NE(t.footer.find("--key"), std::string::npos);

  auto asked = BuildMetricsTable(doc, {"e", "a"}, {});
  EXPECT_EQ(asked.header, (std::vector<std::string>{"EXP", "STATE", "e:last", "e:min", "e:max", "a:last", "a:min",
                                                     "a:max"}));
  EXPECT_EQ(asked.rows[0], (std::vector<std::string>{"0", "running", "5", "0", "9", "1", "-", "-"}));
  EXPECT_EQ(asked.footer, "");
}

TEST(MetricsTable, Build_NoMetricsAndOddShapes) {
  auto empty = BuildMetricsTable(Json::parse(R"({"experiments":[{"experiment":0,"state":"queued"}]})"), {}, {});
  EXPECT_EQ(empty.header, (std::vector<std::string>{"EXP", "STATE"}));
  EXPECT_EQ(empty.rows[0], (std::vector<std::string>{"0", "queued"}));
  EXPECT_EQ(empty.footer, "no metrics recorded yet\n");
  auto nothing = BuildMetricsTable(Json::parse("[1,2]"), {}, {});
  EXPECT_TRUE(nothing.rows.empty());
  // Control characters from the server never reach the terminal.
  auto odd = BuildMetricsTable(
      Json::parse(R"({"experiments":[{"experiment":0,"state":"x\u001b[31m","params":{"p":"a\nb"},"metrics":{}}]})"),
      {}, {});
  EXPECT_EQ(odd.rows[0][1], "x?[31m");
  EXPECT_EQ(odd.rows[0][2], "a?b");
}

}  // namespace
}  // namespace lattice::cli
