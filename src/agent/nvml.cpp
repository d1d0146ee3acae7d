#include "agent/nvml.h"

#include <dlfcn.h>

namespace lattice::agent {

std::unique_ptr<Nvml> Nvml::Open(std::string* why) {
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    *why = "NVML not found (libnvidia-ml.so.1): no NVIDIA driver";
    return nullptr;
  }
  std::unique_ptr<Nvml> nvml(new Nvml());
  auto sym = [&](const char* name) { return dlsym(lib, name); };
  auto init = reinterpret_cast<nvmlReturn_t (*)()>(sym("nvmlInit_v2"));
  nvml->shutdown_ = reinterpret_cast<nvmlReturn_t (*)()>(sym("nvmlShutdown"));
  nvml->DeviceGetCount = reinterpret_cast<nvmlReturn_t (*)(unsigned*)>(sym("nvmlDeviceGetCount_v2"));
  nvml->DeviceGetHandleByIndex =
      reinterpret_cast<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>(sym("nvmlDeviceGetHandleByIndex_v2"));
  nvml->DeviceGetName =
      reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned)>(sym("nvmlDeviceGetName"));
  nvml->DeviceGetMemoryInfo =
      reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, NvmlMemory*)>(sym("nvmlDeviceGetMemoryInfo"));
  nvml->DeviceGetUtilizationRates = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, NvmlUtilization*)>(
      sym("nvmlDeviceGetUtilizationRates"));
  nvml->ErrorString = reinterpret_cast<const char* (*)(nvmlReturn_t)>(sym("nvmlErrorString"));
  if (!init || !nvml->shutdown_ || !nvml->DeviceGetCount || !nvml->DeviceGetHandleByIndex ||
      !nvml->DeviceGetName || !nvml->DeviceGetMemoryInfo || !nvml->DeviceGetUtilizationRates) {
    *why = "NVML lacks the expected functions";
    dlclose(lib);
    return nullptr;
  }
  const nvmlReturn_t rc = init();
  if (rc != 0) {
    *why = "nvmlInit failed: " + nvml->Describe(rc);
    dlclose(lib);
    return nullptr;
  }
  nvml->lib_ = lib;
  *why = "nvml";
  return nvml;
}

Nvml::~Nvml() {
  if (lib_) {
    shutdown_();
    dlclose(lib_);
  }
}

std::string Nvml::Describe(nvmlReturn_t result) const {
  std::string text = "NVML error " + std::to_string(result);
  if (ErrorString) {
    if (const char* s = ErrorString(result)) text += std::string(" (") + s + ")";
  }
  return text;
}

}  // namespace lattice::agent
