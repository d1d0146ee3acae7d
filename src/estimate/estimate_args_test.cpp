#include "estimate/estimate_args.h"

#include <gtest/gtest.h>

namespace lattice::estimate {
namespace {

TEST(EstimateArgsTest, ParameterCountsInEveryCommonSpelling) {
  EXPECT_DOUBLE_EQ(*ParseParameterCount("7e9"), 7e9);
  EXPECT_DOUBLE_EQ(*ParseParameterCount("7B"), 7e9);
  EXPECT_DOUBLE_EQ(*ParseParameterCount("1.5b"), 1.5e9);
  EXPECT_DOUBLE_EQ(*ParseParameterCount("125M"), 125e6);
  EXPECT_DOUBLE_EQ(*ParseParameterCount("350k"), 350e3);
  EXPECT_DOUBLE_EQ(*ParseParameterCount("1T"), 1e12);
  EXPECT_DOUBLE_EQ(*ParseParameterCount("70000000000"), 70e9);
}

TEST(EstimateArgsTest, ZeroNegativeNanAndAbsurdCountsAreErrors) {
  auto why = [](const char* text) { return ParseParameterCount(text).error().message; };
  EXPECT_NE(why("0").find("--params '0' is zero"), std::string::npos);
  EXPECT_NE(why("-7e9").find("is negative"), std::string::npos);
  EXPECT_NE(why("nan").find("is not a number"), std::string::npos);
  EXPECT_NE(why("inf").find("is not a number"), std::string::npos);
  EXPECT_NE(why("2e15").find("is absurd"), std::string::npos);
  EXPECT_NE(why("7X").find("like 7e9, 7B"), std::string::npos);
  EXPECT_NE(why("").find("is not a number"), std::string::npos);
  EXPECT_NE(why("0.5").find("less than one"), std::string::npos);
  EXPECT_EQ(ParseParameterCount("0").error().field, "params");
}

TEST(EstimateArgsTest, PrecisionAndOptimizerNames) {
  EXPECT_EQ(*ParsePrecision("BF16"), Precision::kBf16);
  EXPECT_EQ(*ParsePrecision("float32"), Precision::kFp32);
  EXPECT_EQ(*ParsePrecision("int8"), Precision::kInt8);
  EXPECT_NE(ParsePrecision("fp8").error().message.find("fp32, fp16, bf16, int8"), std::string::npos);
  EXPECT_EQ(*ParseOptimizer("AdamW"), Optimizer::kAdam);
  EXPECT_EQ(*ParseOptimizer("none"), Optimizer::kNone);
  EXPECT_NE(ParseOptimizer("lion").error().message.find("adam, sgd, none"), std::string::npos);
}

TEST(EstimateArgsTest, CountsMustBeWholePositiveAndSane) {
  EXPECT_EQ(*ParsePositiveCount("--batch", "8", 1000), 8u);
  EXPECT_EQ(*ParsePositiveCount("--batch", "1e3", 1000), 1000u);
  auto why = [](const char* text) { return ParsePositiveCount("--batch", text, 1000).error().message; };
  EXPECT_NE(why("0").find("--batch '0' is zero"), std::string::npos);
  EXPECT_NE(why("-4").find("is negative"), std::string::npos);
  EXPECT_NE(why("2.5").find("not a whole number"), std::string::npos);
  EXPECT_NE(why("1001").find("is absurd: give a whole number from 1 to 1000"), std::string::npos);
  EXPECT_NE(why("many").find("is not a number"), std::string::npos);
  EXPECT_EQ(ParsePositiveCount("--batch", "0", 10).error().field, "batch");
}

TEST(EstimateArgsTest, HoursAndGpuMemory) {
  EXPECT_DOUBLE_EQ(*ParseHours("8"), 8);
  EXPECT_DOUBLE_EQ(*ParseHours("0.5"), 0.5);
  EXPECT_FALSE(ParseHours("0").ok());
  EXPECT_FALSE(ParseHours("-1").ok());
  EXPECT_FALSE(ParseHours("1e9").ok());
  EXPECT_EQ(*ParseGpuMemory("--gpu-memory", "24G"), 24ull << 30);
  EXPECT_NE(ParseGpuMemory("--gpu-memory", "24").error().message.find("with its unit"), std::string::npos);
  EXPECT_FALSE(ParseGpuMemory("--gpu-memory", "-24G").ok());
  EXPECT_FALSE(ParseGpuMemory("--gpu-memory", "5T").ok());
  EXPECT_EQ(ParseGpuMemory("--min-gpu-memory", "x").error().field, "min-gpu-memory");
}

}  // namespace
}  // namespace lattice::estimate
