// NVML, the NVIDIA management library, loaded with dlopen at run time so the
// agent builds and runs where the driver is absent. One place holds the
// handful of entry points Lattice uses, with their C signatures (from nvml.h,
// which is not needed to build).
#pragma once

#include <memory>
#include <string>

namespace lattice::agent {

using nvmlReturn_t = int;  // 0 is NVML_SUCCESS
using nvmlDevice_t = void*;
struct NvmlMemory {  // nvmlMemory_t
  unsigned long long total, free, used;
};
struct NvmlUtilization {  // nvmlUtilization_t, percent over the last sample period
  unsigned int gpu, memory;
};

// An initialised NVML: dlopen'ed and nvmlInit_v2 called; the destructor calls
// nvmlShutdown and dlclose. NVML counts init/shutdown pairs, so several may
// be open at once.
class Nvml {
 public:
  // Null, with the reason in *why, when the library or a function is absent
  // or nvmlInit_v2 fails.
  static std::unique_ptr<Nvml> Open(std::string* why);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  nvmlReturn_t (*DeviceGetCount)(unsigned* count) = nullptr;
  nvmlReturn_t (*DeviceGetHandleByIndex)(unsigned index, nvmlDevice_t* device) = nullptr;
  nvmlReturn_t (*DeviceGetName)(nvmlDevice_t device, char* name, unsigned length) = nullptr;
  nvmlReturn_t (*DeviceGetMemoryInfo)(nvmlDevice_t device, NvmlMemory* memory) = nullptr;
  nvmlReturn_t (*DeviceGetUtilizationRates)(nvmlDevice_t device, NvmlUtilization* rates) = nullptr;
  // nvmlErrorString; may be null with old drivers. Describe() copes.
  const char* (*ErrorString)(nvmlReturn_t result) = nullptr;

  // "NVML error N (text)" for a failed call's return code.
  std::string Describe(nvmlReturn_t result) const;

 private:
  Nvml() = default;
  void* lib_ = nullptr;
  nvmlReturn_t (*shutdown_)() = nullptr;
};

}  // namespace lattice::agent
