// Which instance types a model fits on, with how many GPUs and nodes, which
// sharding it then needs, and what that costs per hour. Pure.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "estimate/catalog.h"
#include "estimate/memory_estimate.h"

namespace lattice::estimate {

// The share of a GPU's memory kept free for the CUDA context (~0.5-1 GiB)
// and the caching allocator's fragmentation; a plan that uses more than the
// rest tends to die with "CUDA out of memory" part-way through.
constexpr double kGpuMemoryHeadroom = 0.10;
double UsableGpuBytes(uint64_t gpu_memory_bytes);

// Trainings larger than one machine use whole machines of at least this many
// GPUs: eight 1-GPU machines are eight network hops apart, not a DDP node.
constexpr int kMinGpusPerNodeForMultiNode = 4;
// More nodes than this is not an estimate anyone can act on.
constexpr int kMaxNodes = 512;

// The nodes `gpus` GPUs take on machines of `gpus_per_node`: 1 when they fit
// one machine, else whole machines of kMinGpusPerNodeForMultiNode or more;
// nullopt when the count is not a whole number of such machines.
std::optional<int> NodesFor(int gpus, int gpus_per_node);

struct Fit {
  const InstanceSpec* instance = nullptr;
  int gpus = 0;   // GPUs the training uses (data-parallel ranks)
  int nodes = 0;  // machines rented
  Sharding sharding = Sharding::kNone;
  MemoryParts per_gpu;
  double on_demand_per_hour = 0;  // all nodes
  std::optional<double> spot_per_hour;
};

// How the model fits on `instance`: with requested_gpus > 0 on exactly that
// many GPUs; with 0 on the fewest (one GPU without sharding if it fits, else
// the fewest whole machines with ZeRO-3/FSDP, then the least sharding that
// fits on all their GPUs). nullopt when it does not fit, the instance has no
// GPUs, or has no price in `region` (empty: the cheapest region).
std::optional<Fit> FitOn(const ModelSpec& spec, const InstanceSpec& instance, int requested_gpus,
                         std::string_view region = {});

// Every instance type of the catalog the model fits on, cheapest per hour first.
std::vector<Fit> FitsInCatalog(const ModelSpec& spec, const Catalog& catalog, int requested_gpus,
                               std::string_view region = {});

}  // namespace lattice::estimate
