#include "cli/instance_type.h"

#include <gtest/gtest.h>

namespace lattice::cli {
namespace {

TEST(InstanceTypeTest, GpuNamesGiveCountModelAndMemoryPerGpu) {
  auto t = ParseInstanceType("8_V100_32gb");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->gpus, 8);
  EXPECT_EQ(t->gpu_model, "v100");
  EXPECT_EQ(t->gpu_memory_bytes, 32ull << 30);
  EXPECT_EQ(t->cpus, 0);
}

TEST(InstanceTypeTest, CpuNamesGiveCpusAndMemory) {
  auto t = ParseInstanceType("2_cpu_8gb");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->gpus, 0);
  EXPECT_EQ(t->cpus, 2);
  EXPECT_EQ(t->memory_bytes, 8ull << 30);
}

TEST(InstanceTypeTest, MalformedOrCloudNamesAreRefusedWithAdvice) {
  for (const char* bad : {"p4d.24xlarge", "g5-xlarge", "8_v100", "v100_8_32gb", "0_v100_32gb", "8__32gb",
                          "8_v100_32", "8_v100_gb", "99999_v100_32gb", "8_v100_32gb_x", ""}) {
    auto t = ParseInstanceType(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.error().message.find("like 8_v100_32gb"), std::string::npos) << t.error().message;
    EXPECT_EQ(t.error().field, "instance_type");
  }
}

TEST(InstanceTypeTest, ATotalGpuCountBecomesWholeNodes) {
  auto t = *ParseInstanceType("8_a100_80gb");
  auto shape = ShapeFor(t, "8_a100_80gb", 16);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->nodes, 2);
  EXPECT_EQ(shape->gpus_per_node, 8);
  EXPECT_EQ(ShapeFor(t, "8_a100_80gb", 0)->gpus_per_node, 8);  // no --gpus: the whole machine
  EXPECT_EQ(ShapeFor(t, "8_a100_80gb", 4)->nodes, 1);
  EXPECT_EQ(ShapeFor(t, "8_a100_80gb", 4)->gpus_per_node, 4);
  auto odd = ShapeFor(t, "8_a100_80gb", 12);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.error().message.find("ask for 8, 16, 24"), std::string::npos) << odd.error().message;
}

TEST(InstanceTypeTest, GpusOnACpuTypeAreAnError) {
  auto t = *ParseInstanceType("4_cpu_16gb");
  auto shape = ShapeFor(t, "4_cpu_16gb", 2);
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(shape.error().message.find("has no GPUs"), std::string::npos);
  EXPECT_EQ(ShapeFor(t, "4_cpu_16gb", 0)->nodes, 1);
}

}  // namespace
}  // namespace lattice::cli
