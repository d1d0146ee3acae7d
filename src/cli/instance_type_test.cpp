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
  for (const char* bad : {"p4d.24xlarg", "g5-xlarge", "8_v100", "v100_8_32gb", "0_v100_32gb", "8__32gb",
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

TEST(InstanceTypeTest, CatalogNamesResolveToWhatTheMachineHolds) {
  auto t = ParseInstanceType("g5.12xlarge");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->catalog_name, "g5.12xlarge");
  EXPECT_EQ(t->gpus, 4);
  EXPECT_EQ(t->gpu_model, "a10g");
  EXPECT_EQ(t->gpu_memory_bytes, 24ull << 30);
  EXPECT_EQ(t->cpus, 48);
  EXPECT_EQ(t->memory_bytes, 192ull << 30);
  auto azure = ParseInstanceType("standard_nc6s_v3");  // case-insensitive
  ASSERT_TRUE(azure.ok());
  EXPECT_EQ(azure->catalog_name, "Standard_NC6s_v3");
  auto lambda = ParseInstanceType("gpu_8x_v100");  // underscores, but not Grid's form
  ASSERT_TRUE(lambda.ok());
  EXPECT_EQ(lambda->gpus, 8);
  EXPECT_EQ(ParseInstanceType("8_v100_32gb")->catalog_name, "");
}

TEST(InstanceTypeTest, UnknownNamesGetTheClosestCatalogNames) {
  auto typo = ParseInstanceType("g5.xlarg");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("did you mean g5.xlarge?"), std::string::npos) << typo.error().message;
  EXPECT_EQ(typo.error().field, "instance_type");
  EXPECT_EQ(typo.error().code, ErrorCode::kInvalidArgument);
  auto family = ParseInstanceType("p4d");
  ASSERT_FALSE(family.ok());
  EXPECT_NE(family.error().message.find("p4d.24xlarge, p4de.24xlarge"), std::string::npos) << family.error().message;
}

TEST(InstanceTypeTest, CatalogShapesAreWholeNodesAndOneGpuSlicesPointAtTheBigMachine) {
  auto g5 = *ParseInstanceType("g5.12xlarge");
  auto two = ShapeFor(g5, "g5.12xlarge", 8);
  ASSERT_TRUE(two.ok()) << two.error().message;
  EXPECT_EQ(two->nodes, 2);
  EXPECT_EQ(two->gpus_per_node, 4);
  EXPECT_EQ(ShapeFor(g5, "g5.12xlarge", 4)->nodes, 1);
  EXPECT_EQ(ShapeFor(g5, "g5.12xlarge", 0)->gpus_per_node, 4);  // no --gpus: the whole machine
  for (int gpus : {3, 6, 1}) {  // catalog machines are rented whole
    auto odd = ShapeFor(g5, "g5.12xlarge", gpus);
    ASSERT_FALSE(odd.ok()) << gpus;
    EXPECT_EQ(odd.error().message,
              "--gpus " + std::to_string(gpus) +
                  " is not a whole number of g5.12xlarge nodes (4 GPUs each): ask for 4, 8, 12, ...");
  }

  auto slice = *ParseInstanceType("g4dn.xlarge");
  auto sixteen = ShapeFor(slice, "g4dn.xlarge", 16);
  ASSERT_FALSE(sixteen.ok());
  EXPECT_EQ(sixteen.error().message,
            "--gpus 16 on g4dn.xlarge (1 T4 each) would be 16 separate 1-GPU machines, not one training; ask for "
            "--instance_type g4dn.metal --gpus 16 (2 nodes of 8 T4)");
  EXPECT_EQ(ShapeFor(slice, "g4dn.xlarge", 1)->nodes, 1);
  // Grid's 1-GPU names keep their behaviour: N nodes of one GPU.
  auto grid = *ParseInstanceType("1_v100_16gb");
  EXPECT_EQ(ShapeFor(grid, "1_v100_16gb", 4)->nodes, 4);
}

TEST(InstanceTypeTest, CatalogTypesRefuseMoreCpusOrMemoryThanTheyHave) {
  auto g5 = *ParseInstanceType("g5.xlarge");
  EXPECT_TRUE(CheckNodeResources(g5, 4, "16G").ok());
  EXPECT_TRUE(CheckNodeResources(g5, 1, "").ok());
  auto cpus = CheckNodeResources(g5, 8, "");
  ASSERT_FALSE(cpus.ok());
  EXPECT_EQ(cpus.error().message, "--cpus 8 per node is more than g5.xlarge has (4 vCPUs)");
  auto memory = CheckNodeResources(g5, 1, "64G");
  ASSERT_FALSE(memory.ok());
  EXPECT_EQ(memory.error().message, "--memory 64G per node is more than g5.xlarge has (16 GiB)");
  EXPECT_TRUE(CheckNodeResources(*ParseInstanceType("4_cpu_16gb"), 64, "1T").ok());  // Grid's: as before
}

}  // namespace
}  // namespace lattice::cli
