#include "agent/inventory.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "agent/nvml.h"

namespace lattice::agent {
namespace {

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
  std::unique_ptr<Nvml> nvml = Nvml::Open(why);
  if (!nvml) return gpus;
  unsigned count = 0;
  if (nvml->DeviceGetCount(&count) == 0) {
    for (unsigned i = 0; i < count; ++i) {
      nvmlDevice_t dev = nullptr;
      if (nvml->DeviceGetHandleByIndex(i, &dev) != 0) continue;
      Gpu g;
      g.index = static_cast<int>(i);
      char name[96] = {0};
      if (nvml->DeviceGetName(dev, name, sizeof name) == 0) g.name = name;
      NvmlMemory mem{};
      if (nvml->DeviceGetMemoryInfo(dev, &mem) == 0) g.memory_bytes = mem.total;
      gpus.push_back(g);
    }
  }
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
    inv.gpus = VisibleGpus(DetectNvmlGpus(&inv.gpu_source), std::getenv("CUDA_VISIBLE_DEVICES"));
  }
  return inv;
}

std::vector<Gpu> VisibleGpus(std::vector<Gpu> all, const char* cuda_visible_devices) {
  if (!cuda_visible_devices) return all;
  std::set<int> visible;
  std::string list = cuda_visible_devices;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty() && item.find_first_not_of("0123456789") == std::string::npos && item.size() < 6)
      visible.insert(std::stoi(item));
    else if (!item.empty())
      return all;  // UUIDs or MIG names: cannot be matched to NVML indices here, offer what NVML sees
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::erase_if(all, [&](const Gpu& g) { return !visible.count(g.index); });
  return all;
}

}  // namespace lattice::agent
