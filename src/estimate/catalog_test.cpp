#include "estimate/catalog.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace lattice::estimate {
namespace {

constexpr const char* kHeader = R"(as_of: 2026-11-26
currency: USD
sources:
  - {provider: aws, url: "https://aws.amazon.com/ec2/pricing/", note: "list prices"}
  - {provider: lambda, url: "https://lambda.ai/pricing", note: "list prices"}
instances:
)";

std::string WithInstances(const std::string& instances) { return kHeader + instances; }

constexpr const char* kG5 =
    "  - {name: g5.xlarge, provider: aws, gpu: A10G, gpus: 1, gpu_memory: 24G, vcpus: 4, memory: 16G,\n"
    "     prices: [{region: us-east-1, on_demand: 1.006, spot: 0.45}, {region: eu-west-1, on_demand: 1.123}]}\n";

std::string ErrorOf(const std::string& yaml) {
  auto c = ParseCatalog(yaml, "catalog");
  return c.ok() ? "(parsed)" : c.error().message;
}

TEST(CatalogTest, ParsesEveryField) {
  auto c = ParseCatalog(WithInstances(kG5), "catalog");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->as_of, "2026-11-26");
  EXPECT_EQ(c->currency, "USD");
  ASSERT_EQ(c->sources.size(), 2u);
  EXPECT_EQ(c->sources[0].url, "https://aws.amazon.com/ec2/pricing/");
  ASSERT_EQ(c->instances.size(), 1u);
  const InstanceSpec& s = c->instances[0];
  EXPECT_EQ(s.name, "g5.xlarge");
  EXPECT_EQ(s.provider, "aws");
  EXPECT_EQ(s.gpu_model, "A10G");
  EXPECT_EQ(s.gpus, 1);
  EXPECT_EQ(s.gpu_memory_bytes, 24ull << 30);
  EXPECT_EQ(s.vcpus, 4);
  EXPECT_EQ(s.memory_bytes, 16ull << 30);
  ASSERT_EQ(s.prices.size(), 2u);
  EXPECT_DOUBLE_EQ(*s.OnDemandPerHour(), 1.006);            // the cheapest region
  EXPECT_DOUBLE_EQ(*s.OnDemandPerHour("eu-west-1"), 1.123);
  EXPECT_DOUBLE_EQ(*s.SpotPerHour(), 0.45);
  EXPECT_EQ(s.SpotPerHour("eu-west-1"), std::nullopt);       // no spot there
  EXPECT_EQ(s.OnDemandPerHour("ap-south-1"), std::nullopt);  // not sold there
}

TEST(CatalogTest, ErrorsNameTheEntryAndTheField) {
  std::string no_unit = kG5;
  no_unit.replace(no_unit.find("24G"), 3, "24");
  EXPECT_EQ(ErrorOf(WithInstances(kG5 + no_unit)).substr(0, 81),
            "catalog: instances[1] (g5.xlarge): gpu_memory '24' needs a unit like 24G (line 9)");
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = kG5;
    s.replace(s.find(from), from.size(), to);
    return ErrorOf(WithInstances(s));
  };
  EXPECT_NE(with("gpus: 1", "gpus: -1").find("instances[0] (g5.xlarge): gpus '-1' must be a whole number"),
            std::string::npos);
  EXPECT_NE(with("gpus: 1", "gpus: 1.5").find("gpus '1.5'"), std::string::npos);
  EXPECT_NE(with("vcpus: 4", "vcpus: 0").find("vcpus '0'"), std::string::npos);
  EXPECT_NE(with("memory: 16G", "memory: lots").find("memory 'lots'"), std::string::npos);
  EXPECT_NE(with("on_demand: 1.006", "on_demand: 0").find("prices[0]: on_demand '0' must be a price"),
            std::string::npos);
  EXPECT_NE(with("on_demand: 1.006", "on_demand: nan").find("on_demand 'nan'"), std::string::npos);
  EXPECT_NE(with("spot: 0.45", "spot: 2.5").find("spot 2.5 is above on_demand 1.006"), std::string::npos);
  EXPECT_NE(with("gpu: A10G, ", "").find("gpu is missing"), std::string::npos);
  EXPECT_NE(with("provider: aws", "provider: azure").find("provider azure has no entry under sources"),
            std::string::npos);
  EXPECT_NE(with("vcpus: 4", "vcpu: 4").find("unknown field 'vcpu'"), std::string::npos);
  EXPECT_NE(with("region: eu-west-1", "region: us-east-1").find("region us-east-1 is priced twice"),
            std::string::npos);
  EXPECT_NE(with("[{region: us-east-1, on_demand: 1.006, spot: 0.45}, {region: eu-west-1, on_demand: 1.123}]", "[]")
                .find("prices must be a list"),
            std::string::npos);
  EXPECT_NE(with("name: g5.xlarge, ", "").find("instances[0]: name is missing"), std::string::npos);
}

TEST(CatalogTest, DuplicateNamesAreRefusedCaseInsensitively) {
  std::string twice = kG5;
  std::string upper = kG5;
  upper.replace(upper.find("g5.xlarge"), 9, "G5.XLARGE");
  EXPECT_NE(ErrorOf(WithInstances(twice + upper)).find("instances[1] (G5.XLARGE): the name is already used by "
                                                       "instances[0]"),
            std::string::npos);
}

TEST(CatalogTest, DateSourcesAndCurrencyAreRequired) {
  std::string text = WithInstances(kG5);
  auto without = [&](const std::string& from, const std::string& to) {
    std::string s = text;
    s.replace(s.find(from), from.size(), to);
    return ErrorOf(s);
  };
  EXPECT_NE(without("as_of: 2026-11-26\n", "").find("as_of is missing"), std::string::npos);
  EXPECT_NE(without("2026-11-26", "last week").find("as_of 'last week' must be a date"), std::string::npos);
  EXPECT_NE(without("2026-11-26", "2026-13-01").find("must be a date"), std::string::npos);
  EXPECT_NE(without("currency: USD", "currency: EUR").find("currency 'EUR' must be USD"), std::string::npos);
  EXPECT_NE(without("https://lambda.ai/pricing", "lambda.ai").find("sources[1]: url 'lambda.ai'"),
            std::string::npos);
  EXPECT_NE(without("note: \"list prices\"}\n  - {provider: lambda", "}\n  - {provider: lambda")
                .find("sources[0]: note is missing"),
            std::string::npos);
  const std::string no_sources = ErrorOf("as_of: 2026-11-26\ncurrency: USD\ninstances: []\n");
  EXPECT_NE(no_sources.find("sources must be a list"), std::string::npos) << no_sources;
  EXPECT_NE(ErrorOf("[1, 2").find("catalog: not valid YAML"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("must be a mapping"), std::string::npos);
}

TEST(CatalogTest, CpuOnlyMachinesHaveNoGpuFields) {
  auto c = ParseCatalog(WithInstances("  - {name: c5.xlarge, provider: aws, gpus: 0, vcpus: 4, memory: 8G,\n"
                                      "     prices: [{region: us-east-1, on_demand: 0.17}]}\n"),
                        "catalog");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->instances[0].gpus, 0);
  EXPECT_EQ(c->instances[0].gpu_model, "");
  EXPECT_NE(ErrorOf(WithInstances("  - {name: c5.xlarge, provider: aws, gpu: T4, gpus: 0, vcpus: 4, memory: 8G,\n"
                                  "     prices: [{region: us-east-1, on_demand: 0.17}]}\n"))
                .find("gpus: 0"),
            std::string::npos);
}

TEST(CatalogTest, FindIsCaseInsensitiveAndLookupSuggestsTheClosestNames) {
  auto parsed = ParseCatalog(BuiltinCatalogYaml(), "catalog");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Catalog& c = *parsed;
  ASSERT_NE(c.Find("G5.XLARGE"), nullptr);
  EXPECT_EQ(c.Find("G5.XLARGE")->name, "g5.xlarge");
  auto typo = c.Lookup("g5.xlarg");
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("did you mean g5.xlarge?"), std::string::npos) << typo.error().message;
  auto family = c.Lookup("p4d");
  ASSERT_FALSE(family.ok());
  EXPECT_NE(family.error().message.find("did you mean one of p4d.24xlarge, p4de.24xlarge?"), std::string::npos)
      << family.error().message;
  EXPECT_EQ(c.Lookup("zzzzzzzzzzzz").error().message.find("did you mean"), std::string::npos);
}

// The real catalog: every entry sane, every required family present.
TEST(CatalogTest, TheBuiltInCatalogIsSane) {
  auto parsed = ParseCatalog(BuiltinCatalogYaml(), "catalog");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Catalog& c = *parsed;
  EXPECT_GE(c.as_of, "2026-01-01");
  std::set<std::string> providers;
  for (const InstanceSpec& s : c.instances) {
    SCOPED_TRACE(s.name);
    providers.insert(s.provider);
    EXPECT_GE(s.gpus, 1);  // the built-in catalog holds GPU machines
    EXPECT_LE(s.gpus, 16);
    EXPECT_FALSE(s.gpu_model.empty());
    EXPECT_GE(s.gpu_memory_bytes, 8ull << 30);
    EXPECT_LE(s.gpu_memory_bytes, 192ull << 30);
    EXPECT_GE(s.vcpus, 1);
    EXPECT_GE(s.memory_bytes, 4ull << 30);
    ASSERT_FALSE(s.prices.empty());
    for (const RegionPrice& p : s.prices) {
      EXPECT_GT(p.on_demand, 0);
      // Per GPU between a few cents and $20 an hour: anything else is a slipped digit.
      EXPECT_GE(p.on_demand / s.gpus, 0.05) << p.region;
      EXPECT_LE(p.on_demand / s.gpus, 20.0) << p.region;
      if (p.spot) {
        EXPECT_GT(*p.spot, 0) << p.region;
        EXPECT_LT(*p.spot, p.on_demand) << p.region;
      }
    }
    if (s.provider == "lambda" || s.provider == "modal") {
      EXPECT_EQ(s.SpotPerHour(), std::nullopt);
    }
  }
  EXPECT_EQ(providers, (std::set<std::string>{"aws", "gcp", "azure", "lambda", "vast", "runpod", "modal",
                                              "jarvislabs"}));
  for (const char* name : {"g4dn.xlarge", "g4dn.2xlarge", "g4dn.12xlarge", "g4dn.metal", "g5.xlarge", "g5.2xlarge",
                           "g5.12xlarge", "g5.48xlarge", "g6.xlarge", "g6.12xlarge", "g6.48xlarge", "p3.2xlarge",
                           "p3.8xlarge", "p3.16xlarge", "p3dn.24xlarge", "p4d.24xlarge", "p4de.24xlarge",
                           "p5.48xlarge", "g2-standard-4", "g2-standard-48", "a2-highgpu-1g", "a2-highgpu-8g",
                           "a2-ultragpu-1g", "a2-ultragpu-8g", "a3-highgpu-8g", "Standard_NC4as_T4_v3",
                           "Standard_NC6s_v3", "Standard_NC24s_v3", "Standard_NC24ads_A100_v4",
                           "Standard_ND96asr_v4", "Standard_ND96amsr_A100_v4", "Standard_ND96isr_H100_v5",
                           "gpu_1x_a10", "gpu_1x_a100_sxm4", "gpu_8x_a100_80gb_sxm4", "gpu_1x_h100_pcie",
                           "gpu_8x_h100_sxm5", "gpu_8x_v100", "runpod-h100-sxm-1x", "vast-rtx4090-1x",
                           "modal-a100-80gb-8x", "jarvis-a100-80gb-1x"})
    EXPECT_NE(c.Find(name), nullptr) << name;
  // Spot-checks against the providers' published shapes and prices.
  const InstanceSpec* p4d = c.Find("p4d.24xlarge");
  ASSERT_NE(p4d, nullptr);
  EXPECT_EQ(p4d->gpus, 8);
  EXPECT_EQ(p4d->gpu_memory_bytes, 40ull << 30);
  EXPECT_DOUBLE_EQ(*c.Find("g5.xlarge")->OnDemandPerHour("us-east-1"), 1.006);
  EXPECT_EQ(c.Find("p5.48xlarge")->gpu_model, "H100");
}

TEST(CatalogTest, ActiveCatalogIsTheBuiltInOneWithoutTheVariable) {
  // The test runner does not set LATTICE_CATALOG (the e2e tests cover the override).
  if (std::getenv("LATTICE_CATALOG")) GTEST_SKIP() << "LATTICE_CATALOG is set";
  auto c = ActiveCatalog();
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ((*c)->origin, "catalog");
  EXPECT_EQ(*c, *ActiveCatalog());  // parsed once
}

}  // namespace
}  // namespace lattice::estimate
