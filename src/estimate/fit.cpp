#include "estimate/fit.h"

#include <algorithm>

namespace lattice::estimate {

double UsableGpuBytes(uint64_t gpu_memory_bytes) {
  return static_cast<double>(gpu_memory_bytes) * (1.0 - kGpuMemoryHeadroom);
}

std::optional<int> NodesFor(int gpus, int gpus_per_node) {
  if (gpus < 1 || gpus_per_node < 1) return std::nullopt;
  if (gpus <= gpus_per_node) return 1;
  if (gpus_per_node < kMinGpusPerNodeForMultiNode || gpus % gpus_per_node != 0) return std::nullopt;
  const int nodes = gpus / gpus_per_node;
  if (nodes > kMaxNodes) return std::nullopt;
  return nodes;
}

std::optional<Fit> FitOn(const ModelSpec& spec, const InstanceSpec& instance, int requested_gpus,
                         std::string_view region) {
  if (instance.gpus < 1) return std::nullopt;
  const auto price = instance.OnDemandPerHour(region);
  if (!price) return std::nullopt;
  const double usable = UsableGpuBytes(instance.gpu_memory_bytes);
  Fit fit;
  fit.instance = &instance;
  if (requested_gpus > 0) {
    auto nodes = NodesFor(requested_gpus, instance.gpus);
    if (!nodes) return std::nullopt;
    fit.gpus = requested_gpus;
    fit.nodes = *nodes;
  } else {
    const int max_gpus = instance.gpus >= kMinGpusPerNodeForMultiNode ? instance.gpus * kMaxNodes : instance.gpus;
    auto fewest = FewestGpus(spec, usable, max_gpus);
    if (!fewest) return std::nullopt;
    if (*fewest == 1) {
      fit.gpus = 1;
      fit.nodes = 1;
    } else {  // whole machines, and every GPU of them: they are paid for either way
      fit.nodes = (*fewest + instance.gpus - 1) / instance.gpus;
      fit.gpus = fit.nodes * instance.gpus;
    }
  }
  auto sharding = SmallestShardingThatFits(spec, fit.gpus, usable);
  if (!sharding) return std::nullopt;
  fit.sharding = *sharding;
  auto per_gpu = PerGpu(spec, fit.gpus, fit.sharding);
  if (!per_gpu.ok()) return std::nullopt;
  fit.per_gpu = *per_gpu;
  fit.on_demand_per_hour = *price * fit.nodes;
  if (auto spot = instance.SpotPerHour(region)) fit.spot_per_hour = *spot * fit.nodes;
  return fit;
}

std::vector<Fit> FitsInCatalog(const ModelSpec& spec, const Catalog& catalog, int requested_gpus,
                               std::string_view region) {
  std::vector<Fit> fits;
  for (const InstanceSpec& instance : catalog.instances)
    if (auto fit = FitOn(spec, instance, requested_gpus, region)) fits.push_back(*fit);
  std::stable_sort(fits.begin(), fits.end(), [](const Fit& a, const Fit& b) {
    if (a.on_demand_per_hour != b.on_demand_per_hour) return a.on_demand_per_hour < b.on_demand_per_hour;
    return a.instance->name < b.instance->name;
  });
  return fits;
}

}  // namespace lattice::estimate
