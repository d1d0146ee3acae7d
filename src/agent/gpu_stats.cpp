#include "agent/gpu_stats.h"

namespace lattice::agent {

std::unique_ptr<GpuSampler> GpuSampler::Open(std::string* why) {
  std::unique_ptr<Nvml> nvml = Nvml::Open(why);
  if (!nvml) return nullptr;
  return std::unique_ptr<GpuSampler>(new GpuSampler(std::move(nvml)));
}

Result<std::vector<GpuSample>> GpuSampler::Sample(const std::vector<int>& indices) {
  std::vector<GpuSample> samples;
  samples.reserve(indices.size());
  for (int index : indices) {
    const std::string gpu = "GPU " + std::to_string(index);
    if (index < 0 || index > 4096) {
      return Error(ErrorCode::kInvalidArgument, gpu + ": no such GPU index");
    }
    const size_t slot = static_cast<size_t>(index);
    if (slot >= handles_.size()) handles_.resize(slot + 1, nullptr);
    if (!handles_[slot]) {
      nvmlDevice_t device = nullptr;
      const nvmlReturn_t rc = nvml_->DeviceGetHandleByIndex(static_cast<unsigned>(index), &device);
      if (rc != 0 || !device) {
        return Error(ErrorCode::kInvalidArgument, gpu + ": " + nvml_->Describe(rc));
      }
      handles_[slot] = device;
    }
    GpuSample s;
    s.index = index;
    NvmlUtilization rates{};
    nvmlReturn_t rc = nvml_->DeviceGetUtilizationRates(handles_[slot], &rates);
    if (rc != 0) {
      return Error(ErrorCode::kUnavailable, gpu + ": reading utilisation: " + nvml_->Describe(rc));
    }
    s.utilization_percent = rates.gpu;
    NvmlMemory memory{};
    rc = nvml_->DeviceGetMemoryInfo(handles_[slot], &memory);
    if (rc != 0) {
      return Error(ErrorCode::kUnavailable, gpu + ": reading memory: " + nvml_->Describe(rc));
    }
    s.memory_used_bytes = memory.used;
    s.memory_total_bytes = memory.total;
    samples.push_back(s);
  }
  return samples;
}

}  // namespace lattice::agent
