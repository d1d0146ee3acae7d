// Grid's way to ask for machines: `--instance_type 8_v100_32gb --gpus 16`
// means two nodes of eight V100s (32 GB each), and `4_cpu_16gb` a node of
// four CPUs and 16 GB. Pure parsing; cloud instance names (p4d.24xlarge)
// need a catalogue of what they hold and are refused here with advice.
#pragma once

#include <string>

#include "common/result.h"

namespace lattice::cli {

struct InstanceType {
  int gpus = 0;                   // per node; 0 for a CPU type
  std::string gpu_model;          // "v100", lowercase; empty for a CPU type
  uint64_t gpu_memory_bytes = 0;  // per GPU
  int cpus = 0;                   // CPU types
  uint64_t memory_bytes = 0;      // CPU types: the node's memory
};

Result<InstanceType> ParseInstanceType(const std::string& name);

// The per-node shape of a request for `total_gpus` (0: the instance's own
// count) on nodes of this type: how many nodes, and the GPUs on each.
struct NodeShape {
  int nodes = 1;
  int gpus_per_node = 0;
};
Result<NodeShape> ShapeFor(const InstanceType& type, const std::string& name, int total_gpus);

}  // namespace lattice::cli
