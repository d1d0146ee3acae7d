// `lattice instances`: the catalog filtered and sorted cheapest first, and
// `lattice instances compare`: what the same job costs at each provider. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "estimate/catalog.h"

namespace lattice::estimate {

struct InstanceFilter {
  std::string gpu_model;          // case-insensitive; empty: any (an unknown model is an error)
  uint64_t min_gpu_memory = 0;    // per GPU
  int min_gpus = 0;
  std::string provider;           // empty: any (an unknown provider is an error)
  std::string region;             // empty: the cheapest region of each
  bool spot = false;              // only those with a spot price, sorted by it
};

struct Listed {
  const InstanceSpec* instance = nullptr;
  double on_demand_per_hour = 0;
  std::optional<double> spot_per_hour;
};

// Matching instances, cheapest first (by spot price with filter.spot).
Result<std::vector<Listed>> ListInstances(const Catalog& catalog, const InstanceFilter& filter);

struct CompareRequest {
  int gpus = 1;
  uint64_t gpu_memory = 0;  // per GPU, at least
  double hours = 1;
  bool spot = false;        // cost at spot prices; providers without spot are left out
  std::string gpu_model;    // empty: any
  std::string region;       // empty: each instance's cheapest region
};

struct Offer {
  const InstanceSpec* instance = nullptr;
  int nodes = 0;
  double per_hour = 0;  // all nodes, on-demand (spot with request.spot)
  double cost = 0;      // per_hour × hours
  std::optional<double> spot_per_hour;  // shown beside on-demand
  double ratio = 1;     // cost / the cheapest provider's cost
};

// One offer per provider: its cheapest instance (or whole machines of one)
// with request.gpus GPUs of at least request.gpu_memory each, cheapest first.
Result<std::vector<Offer>> CompareProviders(const Catalog& catalog, const CompareRequest& request);

}  // namespace lattice::estimate
