// The instance catalog: GPU machines of cloud providers and GPU marketplaces,
// what each holds and what it costs per hour. catalog/instances.yaml is
// compiled into the binary; $LATTICE_CATALOG names a file that replaces it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace lattice::estimate {

struct RegionPrice {
  std::string region;
  double on_demand = 0;  // USD per hour for the whole instance
  std::optional<double> spot;
};

struct InstanceSpec {
  std::string name, provider, gpu_model;  // gpu_model as the catalog writes it ("A10G"); empty for CPU-only
  int gpus = 0;
  uint64_t gpu_memory_bytes = 0;  // per GPU
  int vcpus = 0;
  uint64_t memory_bytes = 0;
  std::vector<RegionPrice> prices;
  // Per hour for the whole instance; region empty: the cheapest region. nullopt: no such region / no spot.
  std::optional<double> OnDemandPerHour(std::string_view region = {}) const;
  std::optional<double> SpotPerHour(std::string_view region = {}) const;
};

struct CatalogSource {
  std::string provider, url, note;
};

struct Catalog {
  std::string as_of;     // YYYY-MM-DD: when the prices were taken
  std::string currency;  // USD
  std::string origin;    // what errors start with: "catalog", or "catalog FILE (LATTICE_CATALOG)"
  std::string file;      // the file it came from; empty: the built-in catalog
  std::vector<CatalogSource> sources;
  std::vector<InstanceSpec> instances;

  const InstanceSpec* Find(std::string_view name) const;  // exact, case-insensitive
  // An unknown name is an error that suggests the closest names.
  Result<const InstanceSpec*> Lookup(const std::string& name) const;
  // The distinct GPU models, as the catalog writes them, sorted.
  std::vector<std::string> GpuModels() const;
};

// Parses a catalog; `origin` starts every error ("catalog /x.yaml: instances[3] (g5.xlarge): ...").
Result<Catalog> ParseCatalog(std::string_view yaml, const std::string& origin);

// catalog/instances.yaml as it was at build time.
std::string_view BuiltinCatalogYaml();

// The catalog in force: $LATTICE_CATALOG's file if set, else the built-in one. Parsed once.
Result<const Catalog*> ActiveCatalog();

}  // namespace lattice::estimate
