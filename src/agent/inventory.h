// What this machine offers: CPUs, memory and GPUs. GPUs come from NVML,
// loaded with dlopen at run time so the agent runs (without GPUs) where the
// NVIDIA driver is absent; --simulate-gpus N advertises N fake ones instead.
#pragma once

#include <string>
#include <vector>

#include "model/types.h"

namespace lattice::agent {

struct Inventory {
  std::string hostname;
  double cpus = 0;
  uint64_t memory_bytes = 0;
  std::vector<Gpu> gpus;
  std::string gpu_source;  // "nvml", "simulated" or "none", with a reason
};

struct InventoryOptions {
  int simulate_gpus = -1;  // >= 0: advertise that many simulated GPUs
  double cpus = 0;         // > 0: override the detected count
  uint64_t memory_bytes = 0;
};

Inventory DetectInventory(const InventoryOptions& options);

// The GPUs a process may use when its environment has CUDA_VISIBLE_DEVICES
// (nullptr: unset): a Slurm allocation's agent offers only the GPUs Slurm
// gave the job. Indices that are not listed are dropped; an empty value
// leaves none. Entries that are not indices (GPU UUIDs) keep all GPUs.
std::vector<Gpu> VisibleGpus(std::vector<Gpu> all, const char* cuda_visible_devices);

// NVML discovery; empty with a reason in *why when unavailable.
std::vector<Gpu> DetectNvmlGpus(std::string* why);

}  // namespace lattice::agent
