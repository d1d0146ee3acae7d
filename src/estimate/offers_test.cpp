#include "estimate/offers.h"

#include <gtest/gtest.h>

#include <set>

namespace lattice::estimate {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

const Catalog& Builtin() {
  static const Catalog catalog = *ParseCatalog(BuiltinCatalogYaml(), "catalog");
  return catalog;
}

TEST(OffersTest, ListingIsCheapestFirstAndFilters) {
  auto all = ListInstances(Builtin(), {});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), Builtin().instances.size());
  for (size_t i = 1; i < all->size(); ++i) EXPECT_LE((*all)[i - 1].on_demand_per_hour, (*all)[i].on_demand_per_hour);

  InstanceFilter v100;
  v100.gpu_model = "v100";
  auto v = ListInstances(Builtin(), v100);
  ASSERT_TRUE(v.ok());
  ASSERT_FALSE(v->empty());
  for (const Listed& l : *v) EXPECT_EQ(l.instance->gpu_model, "V100");

  InstanceFilter big;
  big.min_gpu_memory = 40 * kGiB;
  big.min_gpus = 8;
  big.provider = "aws";
  auto listed = ListInstances(Builtin(), big);
  ASSERT_TRUE(listed.ok());
  ASSERT_FALSE(listed->empty());
  for (const Listed& l : *listed) {
    EXPECT_GE(l.instance->gpu_memory_bytes, 40 * kGiB);
    EXPECT_GE(l.instance->gpus, 8);
    EXPECT_EQ(l.instance->provider, "aws");
  }
}

TEST(OffersTest, SpotListsOnlySpotPricedInstancesBySpotPrice) {
  InstanceFilter f;
  f.spot = true;
  auto spot = ListInstances(Builtin(), f);
  ASSERT_TRUE(spot.ok());
  ASSERT_FALSE(spot->empty());
  for (size_t i = 0; i < spot->size(); ++i) {
    ASSERT_TRUE((*spot)[i].spot_per_hour);
    EXPECT_NE((*spot)[i].instance->provider, "lambda");
    if (i) {
      EXPECT_LE(*(*spot)[i - 1].spot_per_hour, *(*spot)[i].spot_per_hour);
    }
  }
}

TEST(OffersTest, UnknownModelProviderOrRegionListsTheKnownOnes) {
  InstanceFilter f;
  f.gpu_model = "V10";
  auto bad = ListInstances(Builtin(), f);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("--gpu 'V10' is not a GPU model of the catalog"), std::string::npos);
  EXPECT_NE(bad.error().message.find("did you mean"), std::string::npos);
  EXPECT_NE(bad.error().message.find("known: "), std::string::npos);
  EXPECT_NE(bad.error().message.find("A100, "), std::string::npos);
  InstanceFilter p;
  p.provider = "oracle";
  EXPECT_NE(ListInstances(Builtin(), p).error().message.find("known: aws, azure"), std::string::npos);
}

TEST(OffersTest, CompareGivesOneRowPerProviderCheapestFirst) {
  CompareRequest r;
  r.gpus = 1;
  r.gpu_memory = 24 * kGiB;
  r.hours = 8;
  auto offers = CompareProviders(Builtin(), r);
  ASSERT_TRUE(offers.ok());
  std::set<std::string> providers;
  for (size_t i = 0; i < offers->size(); ++i) {
    const Offer& o = (*offers)[i];
    EXPECT_TRUE(providers.insert(o.instance->provider).second) << o.instance->provider;
    EXPECT_GE(o.instance->gpu_memory_bytes, 24 * kGiB);
    EXPECT_DOUBLE_EQ(o.cost, o.per_hour * 8);
    if (i) {
      EXPECT_LE((*offers)[i - 1].cost, o.cost);
    }
    EXPECT_DOUBLE_EQ(o.ratio, o.cost / offers->front().cost);
  }
  EXPECT_EQ(providers.size(), 8u);  // every provider has a 24 GiB GPU
  // AWS's cheapest 24 GiB single GPU is the L4 g6.xlarge, not the A10G g5.xlarge.
  for (const Offer& o : *offers)
    if (o.instance->provider == "aws") {
      EXPECT_EQ(o.instance->name, "g6.xlarge");
    }
}

TEST(OffersTest, CompareWithSpotLeavesOutProvidersWithoutSpotAndMultiNodeUsesWholeMachines) {
  CompareRequest r;
  r.gpus = 16;
  r.gpu_memory = 80 * kGiB;
  r.hours = 1;
  r.spot = true;
  auto offers = CompareProviders(Builtin(), r);
  ASSERT_TRUE(offers.ok());
  ASSERT_FALSE(offers->empty());
  for (const Offer& o : *offers) {
    EXPECT_NE(o.instance->provider, "lambda");
    EXPECT_NE(o.instance->provider, "modal");
    EXPECT_EQ(o.instance->gpus * o.nodes, 16) << o.instance->name;
    EXPECT_DOUBLE_EQ(o.per_hour, *o.instance->SpotPerHour() * o.nodes);
  }
  CompareRequest zero = r;
  zero.hours = 0;
  EXPECT_FALSE(CompareProviders(Builtin(), zero).ok());
}

}  // namespace
}  // namespace lattice::estimate
