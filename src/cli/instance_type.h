// Machine shapes for `--instance_type`: Grid's descriptive names
// (`--instance_type 8_v100_32gb --gpus 16` means two nodes of eight V100s,
// 32 GB each; `4_cpu_16gb` a node of four CPUs and 16 GB), and the names of
// the instance catalog (g5.xlarge, Standard_NC6s_v3, gpu_1x_a10; see
// `lattice instances` and docs/estimates.md), resolved to what they hold.
#pragma once

#include <string>

#include "common/result.h"

namespace lattice::cli {

struct InstanceType {
  int gpus = 0;                   // per node; 0 for a CPU type
  std::string gpu_model;          // "v100", lowercase; empty for a CPU type
  uint64_t gpu_memory_bytes = 0;  // per GPU
  int cpus = 0;                   // the node's CPUs: Grid's CPU types, and every catalog type (its vCPUs)
  uint64_t memory_bytes = 0;      // the node's memory, likewise
  std::string catalog_name;       // the catalog's spelling when it came from the catalog; empty for Grid's names
};

// Grid's descriptive names first, then the catalog (case-insensitive). An
// unknown name is an error that suggests the closest catalog names.
Result<InstanceType> ParseInstanceType(const std::string& name);

// The per-node shape of a request for `total_gpus` (0: the instance's own
// count) on nodes of this type: how many nodes, and the GPUs on each.
struct NodeShape {
  int nodes = 1;
  int gpus_per_node = 0;
};
// Impossible requests are refused with the reason: GPUs on a CPU type, a
// count that is not whole nodes (for Grid's names, fewer GPUs than one node
// holds is one partly used node; catalog machines are rented whole), and
// more GPUs than a 1-GPU catalog type holds when its family has bigger
// machines (16 separate 1-GPU machines are not a 16-GPU training; the error
// names the machine to ask for instead).
Result<NodeShape> ShapeFor(const InstanceType& type, const std::string& name, int total_gpus);

// Refuses --cpus or --memory per node beyond what a catalog type has
// ("g5.xlarge has 4 vCPUs"); Grid's names and absent values pass.
Status CheckNodeResources(const InstanceType& type, double cpus, const std::string& memory);

}  // namespace lattice::cli
