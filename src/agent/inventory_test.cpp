#include "agent/inventory.h"

#include <gtest/gtest.h>

namespace lattice::agent {
namespace {

std::vector<Gpu> Four() { return {{0, "A", 1}, {1, "A", 1}, {2, "A", 1}, {3, "A", 1}}; }

std::vector<int> Indices(const std::vector<Gpu>& gpus) {
  std::vector<int> out;
  for (const auto& g : gpus) out.push_back(g.index);
  return out;
}

TEST(VisibleGpus, UnsetOffersEveryGpu) { EXPECT_EQ(Indices(VisibleGpus(Four(), nullptr)), (std::vector{0, 1, 2, 3})); }

TEST(VisibleGpus, ASlurmJobsListKeepsOnlyThoseIndices) {
  EXPECT_EQ(Indices(VisibleGpus(Four(), "2,3")), (std::vector{2, 3}));
  EXPECT_EQ(Indices(VisibleGpus(Four(), "1")), (std::vector{1}));
}

TEST(VisibleGpus, EmptyValueMeansNoGpu) { EXPECT_TRUE(VisibleGpus(Four(), "").empty()); }

TEST(VisibleGpus, UuidsCannotBeMatchedSoEveryGpuStays) {
  EXPECT_EQ(Indices(VisibleGpus(Four(), "GPU-8e1f7a3c-1111")).size(), 4u);
}

TEST(VisibleGpus, IndicesNvmlDoesNotHaveAreIgnored) { EXPECT_EQ(Indices(VisibleGpus(Four(), "3,7")), (std::vector{3})); }

}  // namespace
}  // namespace lattice::agent
