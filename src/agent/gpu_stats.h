// Per-GPU utilisation and memory through NVML (loaded at run time; see
// nvml.h), sampled for the GPUs an attempt holds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/nvml.h"
#include "common/result.h"

namespace lattice::agent {

struct GpuSample {
  int index = 0;                     // NVML index, as in the inventory
  double utilization_percent = 0;    // busy time over NVML's last sample period
  uint64_t memory_used_bytes = 0;
  uint64_t memory_total_bytes = 0;
};

class GpuSampler {
 public:
  // Null, with the reason in *why, when NVML is absent or does not start.
  // Keeps NVML initialised until destroyed.
  static std::unique_ptr<GpuSampler> Open(std::string* why);

  // One sample per index, in the order given. An index NVML does not know
  // is an invalid_argument error; a failed NVML query is kUnavailable and
  // names the GPU. Device handles are cached after the first lookup.
  Result<std::vector<GpuSample>> Sample(const std::vector<int>& indices);

 private:
  explicit GpuSampler(std::unique_ptr<Nvml> nvml) : nvml_(std::move(nvml)) {}
  std::unique_ptr<Nvml> nvml_;
  std::vector<nvmlDevice_t> handles_;  // by index; null until looked up
};

}  // namespace lattice::agent
