#include "agent/gpu_stats.h"

#include <dlfcn.h>

#include <gtest/gtest.h>

#include "agent/inventory.h"

namespace lattice::agent {
namespace {

bool NvmlPresent() {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib) dlclose(lib);
  return lib != nullptr;
}

TEST(GpuSampler, WithoutNvmlOpenIsNullWithAReason) {
  if (NvmlPresent()) GTEST_SKIP() << "NVML is installed here; bench/nvml_probe covers it";
  std::string why;
  EXPECT_EQ(GpuSampler::Open(&why), nullptr);
  EXPECT_NE(why.find("NVML not found"), std::string::npos) << why;
}

TEST(GpuSampler, InventoryStillReportsNoGpusWithoutNvml) {
  if (NvmlPresent()) GTEST_SKIP() << "NVML is installed here";
  std::string why;
  EXPECT_TRUE(DetectNvmlGpus(&why).empty());
  EXPECT_NE(why.find("NVML not found"), std::string::npos) << why;
  Inventory inv = DetectInventory({});
  EXPECT_TRUE(inv.gpus.empty());
  EXPECT_NE(inv.gpu_source.find("NVML not found"), std::string::npos);
}

TEST(GpuSampler, WithNvmlEveryGpuSamplesAndAnUnknownIndexIsAnError) {
  if (!NvmlPresent()) GTEST_SKIP() << "no NVML here";
  std::string why;
  std::unique_ptr<GpuSampler> sampler = GpuSampler::Open(&why);
  ASSERT_NE(sampler, nullptr) << why;
  std::vector<Gpu> gpus = DetectNvmlGpus(&why);
  std::vector<int> indices;
  for (const Gpu& g : gpus) indices.push_back(g.index);
  Result<std::vector<GpuSample>> samples = sampler->Sample(indices);
  ASSERT_TRUE(samples.ok()) << samples.error().message;
  ASSERT_EQ(samples->size(), gpus.size());
  for (size_t i = 0; i < gpus.size(); ++i) {
    EXPECT_EQ((*samples)[i].index, gpus[i].index);
    EXPECT_LE((*samples)[i].utilization_percent, 100.0);
    EXPECT_EQ((*samples)[i].memory_total_bytes, gpus[i].memory_bytes);
    EXPECT_LE((*samples)[i].memory_used_bytes, (*samples)[i].memory_total_bytes);
  }
  EXPECT_FALSE(sampler->Sample({static_cast<int>(gpus.size()) + 64}).ok());
  EXPECT_FALSE(sampler->Sample({-1}).ok());
}

}  // namespace
}  // namespace lattice::agent
