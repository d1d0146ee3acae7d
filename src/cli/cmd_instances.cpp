// `lattice instances` and `lattice instances compare`: the instance catalog,
// filtered and cheapest first, and what one job costs at each provider.
// Pure: reads the catalog, contacts nothing.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "common/units.h"
#include "estimate/catalog.h"
#include "estimate/estimate_args.h"
#include "estimate/format.h"
#include "estimate/offers.h"

namespace lattice::cli {
namespace {

constexpr uint64_t kMaxGpus = 65'536;

Json OptionalNumber(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

std::string Shape(const estimate::InstanceSpec& s) {
  if (s.gpus == 0) return "-";
  return std::to_string(s.gpus) + " × " + s.gpu_model + " " + HumanBytes(s.gpu_memory_bytes);
}

std::string PricesFooter(const estimate::Catalog& c, const std::string& region) {
  return "USD per hour for the whole machine, " +
         (region.empty() ? std::string("each in its cheapest region") : "in " + region) + "; list prices as of " +
         c.as_of + (c.file.empty() ? "" : " from " + c.file) +
         ". Prices change: docs/estimates.md says how to use your own (LATTICE_CATALOG).\n";
}

Result<estimate::InstanceFilter> ParseFilter(const InstancesOptions& o) {
  estimate::InstanceFilter f;
  f.gpu_model = o.gpu;
  f.provider = o.provider;
  f.region = o.region;
  f.spot = o.spot;
  if (!o.min_gpu_memory.empty()) {
    LATTICE_ASSIGN_OR_RETURN(f.min_gpu_memory, estimate::ParseGpuMemory("--min-gpu-memory", o.min_gpu_memory));
  }
  if (!o.min_gpus.empty()) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t n, estimate::ParsePositiveCount("--min-gpus", o.min_gpus, kMaxGpus));
    f.min_gpus = static_cast<int>(n);
  }
  return f;
}

}  // namespace

int InstancesCommand(const GlobalOptions& g, const InstancesOptions& o) {
  auto filter = ParseFilter(o);
  if (!filter.ok()) return Fail(filter.error());
  auto catalog = estimate::ActiveCatalog();
  if (!catalog.ok()) return Fail(catalog.error());
  auto listed = estimate::ListInstances(**catalog, *filter);
  if (!listed.ok()) return Fail(listed.error());
  if (g.json) {
    Json rows = Json::array();
    for (const auto& l : *listed) {
      const auto& s = *l.instance;
      Json prices = Json::array();
      for (const auto& p : s.prices)
        prices.push_back({{"region", p.region}, {"on_demand", p.on_demand}, {"spot", OptionalNumber(p.spot)}});
      rows.push_back({{"name", s.name},
                      {"provider", s.provider},
                      {"gpu_model", s.gpu_model},
                      {"gpus", s.gpus},
                      {"gpu_memory_bytes", s.gpu_memory_bytes},
                      {"vcpus", s.vcpus},
                      {"memory_bytes", s.memory_bytes},
                      {"on_demand_per_hour", l.on_demand_per_hour},
                      {"spot_per_hour", OptionalNumber(l.spot_per_hour)},
                      {"prices", std::move(prices)}});
    }
    Json doc{{"as_of", (*catalog)->as_of},
             {"currency", (*catalog)->currency},
             {"catalog_file", (*catalog)->file.empty() ? Json(nullptr) : Json((*catalog)->file)},
             {"instances", std::move(rows)}};
    std::cout << doc.dump() << "\n";
    return kExitOk;
  }
  if (listed->empty()) {
    std::cerr << "lattice: no instance type of the catalog matches; lattice instances lists them all\n";
    return kExitOk;
  }
  Table t({"instance", "provider", "GPUs", "vCPUs", "memory", "$/h on-demand", "$/h spot"});
  for (const auto& l : *listed) {
    const auto& s = *l.instance;
    t.Add({s.name, s.provider, Shape(s), std::to_string(s.vcpus), HumanBytes(s.memory_bytes),
           estimate::Usd(l.on_demand_per_hour), l.spot_per_hour ? estimate::Usd(*l.spot_per_hour) : "-"});
  }
  std::string out = t.Render() + PricesFooter(**catalog, o.region);
  if (o.spot) out += "Spot machines can be taken back at any time; sorted by spot price.\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

int InstancesCompareCommand(const GlobalOptions& g, const CompareOptions& o) {
  estimate::CompareRequest r;
  auto gpus = estimate::ParsePositiveCount("--gpus", o.gpus, kMaxGpus);
  if (!gpus.ok()) return Fail(gpus.error());
  r.gpus = static_cast<int>(*gpus);
  auto memory = estimate::ParseGpuMemory("--gpu-memory", o.gpu_memory);
  if (!memory.ok()) return Fail(memory.error());
  r.gpu_memory = *memory;
  auto hours = estimate::ParseHours(o.hours);
  if (!hours.ok()) return Fail(hours.error());
  r.hours = *hours;
  r.spot = o.spot;
  r.gpu_model = o.gpu;
  r.region = o.region;
  auto catalog = estimate::ActiveCatalog();
  if (!catalog.ok()) return Fail(catalog.error());
  auto offers = estimate::CompareProviders(**catalog, r);
  if (!offers.ok()) return Fail(offers.error());
  if (g.json) {
    Json rows = Json::array();
    for (const auto& offer : *offers) {
      const auto& s = *offer.instance;
      rows.push_back({{"provider", s.provider},
                      {"instance", s.name},
                      {"gpu_model", s.gpu_model},
                      {"gpus_per_node", s.gpus},
                      {"gpu_memory_bytes", s.gpu_memory_bytes},
                      {"nodes", offer.nodes},
                      {"per_hour", offer.per_hour},
                      {"cost", offer.cost},
                      {"spot_per_hour", OptionalNumber(offer.spot_per_hour)},
                      {"spot_cost", offer.spot_per_hour ? Json(*offer.spot_per_hour * r.hours) : Json(nullptr)},
                      {"ratio", offer.ratio}});
    }
    Json doc{{"gpus", r.gpus},         {"gpu_memory_bytes", r.gpu_memory}, {"hours", r.hours},
             {"spot", r.spot},         {"as_of", (*catalog)->as_of},      {"currency", (*catalog)->currency},
             {"offers", std::move(rows)}};
    std::cout << doc.dump() << "\n";
    return kExitOk;
  }
  char hours_text[32];
  std::snprintf(hours_text, sizeof hours_text, "%g", r.hours);
  std::string out = std::to_string(r.gpus) + " GPU" + (r.gpus == 1 ? "" : "s") + " with at least " +
                    HumanBytes(r.gpu_memory) + " each, for " + hours_text + " h, " +
                    (r.spot ? "at spot prices" : "on-demand") + ": the cheapest way at each provider\n";
  if (offers->empty()) {
    out += "  no instance type of the catalog offers that\n";
  } else {
    const std::string cost_header = std::string("cost ") + hours_text + " h";
    std::vector<std::string> header = {"provider", "instance", "GPUs", "nodes", r.spot ? "$/h spot" : "$/h",
                                       cost_header, "× cheapest"};
    if (!r.spot) header.push_back(cost_header + " at spot");
    Table t(header);
    for (const auto& offer : *offers) {
      char ratio[32];
      std::snprintf(ratio, sizeof ratio, "%.2f", offer.ratio);
      std::vector<std::string> row = {offer.instance->provider, offer.instance->name, Shape(*offer.instance),
                                      std::to_string(offer.nodes), estimate::Usd(offer.per_hour),
                                      estimate::Usd(offer.cost), ratio};
      if (!r.spot) row.push_back(offer.spot_per_hour ? estimate::Usd(*offer.spot_per_hour * r.hours) : "-");
      t.Add(std::move(row));
    }
    out += t.Render();
  }
  out += PricesFooter(**catalog, r.region);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace lattice::cli
