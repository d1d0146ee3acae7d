#include "estimate/fit.h"

#include <gtest/gtest.h>

namespace lattice::estimate {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

InstanceSpec Machine(const std::string& name, int gpus, uint64_t gib, double price, std::optional<double> spot = {}) {
  InstanceSpec s;
  s.name = name;
  s.provider = "test";
  s.gpu_model = "X";
  s.gpus = gpus;
  s.gpu_memory_bytes = gib * kGiB;
  s.vcpus = 8;
  s.memory_bytes = 64 * kGiB;
  s.prices = {RegionPrice{"r1", price, spot}};
  return s;
}

ModelSpec Mixed(double params) { return ModelSpec{params, Precision::kBf16, Optimizer::kAdam, std::nullopt}; }

TEST(FitTest, HeadroomKeepsATenthOfEachGpuFree) {
  EXPECT_DOUBLE_EQ(kGpuMemoryHeadroom, 0.10);
  EXPECT_DOUBLE_EQ(UsableGpuBytes(80 * kGiB), 72.0 * kGiB);
}

TEST(FitTest, NodesAreWholeMachinesOfFourOrMoreGpus) {
  EXPECT_EQ(NodesFor(1, 1), 1);
  EXPECT_EQ(NodesFor(3, 8), 1);
  EXPECT_EQ(NodesFor(16, 8), 2);
  EXPECT_EQ(NodesFor(8, 4), 2);
  EXPECT_EQ(NodesFor(12, 8), std::nullopt);  // not whole machines
  EXPECT_EQ(NodesFor(8, 1), std::nullopt);   // eight separate 1-GPU machines
  EXPECT_EQ(NodesFor(8, 2), std::nullopt);
  EXPECT_EQ(NodesFor(8 * (kMaxNodes + 1), 8), std::nullopt);
}

TEST(FitTest, ASmallModelTakesOneGpuWithoutSharding) {
  InstanceSpec a10 = Machine("a10", 1, 24, 1.0, 0.4);
  auto fit = FitOn(Mixed(1e9), a10, 0);  // 16 GB of states < 21.6 GiB usable
  ASSERT_TRUE(fit);
  EXPECT_EQ(fit->gpus, 1);
  EXPECT_EQ(fit->nodes, 1);
  EXPECT_EQ(fit->sharding, Sharding::kNone);
  EXPECT_DOUBLE_EQ(fit->on_demand_per_hour, 1.0);
  EXPECT_DOUBLE_EQ(*fit->spot_per_hour, 0.4);
  EXPECT_FALSE(FitOn(Mixed(7e9), a10, 0));  // 112 GB on one 24 GiB GPU, and no bigger machine of it
}

TEST(FitTest, ABigModelTakesWholeMachinesAndTheLeastShardingThatFits) {
  // 7B mixed-precision Adam: 112 GB of states. On 8 × 40 GiB (36 GiB = 38.65 GB usable): ZeRO-3 needs 4 GPUs,
  // rounded up to the whole machine of 8, where ZeRO-1 (38.5 GB) fits.
  InstanceSpec a100 = Machine("a100x8", 8, 40, 20.0);
  auto fit = FitOn(Mixed(7e9), a100, 0);
  ASSERT_TRUE(fit);
  EXPECT_EQ(fit->gpus, 8);
  EXPECT_EQ(fit->nodes, 1);
  EXPECT_EQ(fit->sharding, Sharding::kZero1);
  EXPECT_NEAR(fit->per_gpu.total(), 38.5e9, 1);
  // 70B: 1120 GB; 8 × 80 GiB machines (77.3 GB usable) need 15 GPUs with ZeRO-3 -> 2 machines, 16 GPUs.
  InstanceSpec h100 = Machine("h100x8", 8, 80, 50.0, 25.0);
  auto big = FitOn(Mixed(70e9), h100, 0);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->nodes, 2);
  EXPECT_EQ(big->gpus, 16);
  EXPECT_EQ(big->sharding, Sharding::kZero3);
  EXPECT_DOUBLE_EQ(big->on_demand_per_hour, 100.0);
  EXPECT_DOUBLE_EQ(*big->spot_per_hour, 50.0);
}

TEST(FitTest, ARequestedGpuCountIsKeptAndMayNotFit) {
  InstanceSpec a100 = Machine("a100x8", 8, 40, 20.0);
  auto eight = FitOn(Mixed(7e9), a100, 8);
  ASSERT_TRUE(eight);
  EXPECT_EQ(eight->sharding, Sharding::kZero1);
  auto two = FitOn(Mixed(7e9), a100, 2);  // ZeRO-3 over 2: 56 GB > 38.65 GB
  EXPECT_FALSE(two);
  auto sixteen = FitOn(Mixed(7e9), a100, 16);
  ASSERT_TRUE(sixteen);
  EXPECT_EQ(sixteen->nodes, 2);
  EXPECT_FALSE(FitOn(Mixed(7e9), a100, 12));  // not whole machines
  EXPECT_FALSE(FitOn(Mixed(1e9), Machine("one", 1, 80, 1.0), 8));  // 1-GPU machines do not gang up
}

TEST(FitTest, CatalogFitsAreCheapestFirstAndSkipWhatCannotHoldIt) {
  Catalog c;
  c.instances = {Machine("pricey", 8, 80, 30.0), Machine("small", 1, 16, 0.5), Machine("cheap", 8, 40, 20.0)};
  auto fits = FitsInCatalog(Mixed(7e9), c, 0);
  ASSERT_EQ(fits.size(), 2u);
  EXPECT_EQ(fits[0].instance->name, "cheap");
  EXPECT_EQ(fits[1].instance->name, "pricey");
  EXPECT_TRUE(FitsInCatalog(Mixed(7e9), c, 0, "nowhere").empty());  // no prices in that region
}

TEST(FitTest, TheBuiltInCatalogHoldsASevenBillionTraining) {
  auto c = ParseCatalog(BuiltinCatalogYaml(), "catalog");
  ASSERT_TRUE(c.ok());
  auto fits = FitsInCatalog(Mixed(7e9), *c, 8);
  ASSERT_FALSE(fits.empty());
  for (size_t i = 1; i < fits.size(); ++i) EXPECT_LE(fits[i - 1].on_demand_per_hour, fits[i].on_demand_per_hour);
  for (const Fit& f : fits) {
    EXPECT_EQ(f.gpus, 8);
    EXPECT_LE(f.per_gpu.total(), UsableGpuBytes(f.instance->gpu_memory_bytes)) << f.instance->name;
  }
}

}  // namespace
}  // namespace lattice::estimate
