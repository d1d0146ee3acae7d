#include "agent/inventory.h"

#include <dlfcn.h>
#include <sched.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace lattice::agent {
namespace {

// The handful of NVML entry points we use, with their C signatures.
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};

uint64_t MemTotal() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemTotal:") return kb * 1024;
  }
  return static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGE_SIZE));
}

double CpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
}

}  // namespace

std::vector<Gpu> DetectNvmlGpus(std::string* why) {
  std::vector<Gpu> gpus;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    *why = "NVML not found (libnvidia-ml.so.1): no NVIDIA driver";
    return gpus;
  }
  auto sym = [&](const char* name) { return dlsym(lib, name); };
  auto init = reinterpret_cast<nvmlReturn_t (*)()>(sym("nvmlInit_v2"));
  auto shutdown = reinterpret_cast<nvmlReturn_t (*)()>(sym("nvmlShutdown"));
  auto count_fn = reinterpret_cast<nvmlReturn_t (*)(unsigned*)>(sym("nvmlDeviceGetCount_v2"));
  auto handle_fn = reinterpret_cast<nvmlReturn_t (*)(unsigned, nvmlDevice_t*)>(sym("nvmlDeviceGetHandleByIndex_v2"));
  auto name_fn = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned)>(sym("nvmlDeviceGetName"));
  auto mem_fn = reinterpret_cast<nvmlReturn_t (*)(nvmlDevice_t, NvmlMemory*)>(sym("nvmlDeviceGetMemoryInfo"));
  if (!init || !count_fn || !handle_fn || !name_fn || !mem_fn || !shutdown) {
    *why = "NVML lacks the expected functions";
    dlclose(lib);
    return gpus;
  }
  if (init() != 0) {
    *why = "nvmlInit failed";
    dlclose(lib);
    return gpus;
  }
  unsigned count = 0;
  if (count_fn(&count) == 0) {
    for (unsigned i = 0; i < count; ++i) {
      nvmlDevice_t dev = nullptr;
      if (handle_fn(i, &dev) != 0) continue;
      Gpu g;
      g.index = static_cast<int>(i);
      char name[96] = {0};
      if (name_fn(dev, name, sizeof name) == 0) g.name = name;
      NvmlMemory mem{};
      if (mem_fn(dev, &mem) == 0) g.memory_bytes = mem.total;
      gpus.push_back(g);
    }
  }
  shutdown();
  dlclose(lib);
  *why = "nvml";
  return gpus;
}

Inventory DetectInventory(const InventoryOptions& options) {
  Inventory inv;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  inv.hostname = host;
  inv.cpus = options.cpus > 0 ? options.cpus : CpuCount();
  inv.memory_bytes = options.memory_bytes > 0 ? options.memory_bytes : MemTotal();
  if (options.simulate_gpus >= 0) {
    for (int i = 0; i < options.simulate_gpus; ++i)
      inv.gpus.push_back(Gpu{i, "Simulated GPU", 80ULL << 30});
    inv.gpu_source = "simulated";
  } else {
    inv.gpus = DetectNvmlGpus(&inv.gpu_source);
  }
  return inv;
}

}  // namespace lattice::agent
