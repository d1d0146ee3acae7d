// A manual check of NVML on a GPU machine: prints the inventory's GPUs and
// one GpuSampler sample of each (twice, 200 ms apart, so utilisation has a
// period to cover) as one JSON document. Exits 0 when NVML was found and
// every GPU sampled, 1 when NVML is absent, 2 when sampling failed.
//
//   build/bench/nvml_probe
#include <unistd.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "agent/gpu_stats.h"
#include "agent/inventory.h"

int main() {
  using namespace lattice::agent;
  using lattice::Gpu;
  nlohmann::json out;
  std::string why;
  const std::vector<Gpu> gpus = DetectNvmlGpus(&why);
  out["inventory_source"] = why;
  out["inventory"] = nlohmann::json::array();
  std::vector<int> indices;
  for (const Gpu& g : gpus) {
    out["inventory"].push_back({{"index", g.index}, {"name", g.name}, {"memory_bytes", g.memory_bytes}});
    indices.push_back(g.index);
  }
  std::string sampler_why;
  std::unique_ptr<GpuSampler> sampler = GpuSampler::Open(&sampler_why);
  out["sampler"] = sampler_why;
  int rc = sampler ? 0 : 1;
  if (sampler) {
    out["samples"] = nlohmann::json::array();
    for (int round = 0; round < 2; ++round) {
      if (round > 0) ::usleep(200'000);
      lattice::Result<std::vector<GpuSample>> samples = sampler->Sample(indices);
      if (!samples.ok()) {
        out["error"] = samples.error().message;
        rc = 2;
        break;
      }
      nlohmann::json round_json = nlohmann::json::array();
      for (const GpuSample& s : *samples) {
        round_json.push_back({{"index", s.index},
                              {"utilization_percent", s.utilization_percent},
                              {"memory_used_bytes", s.memory_used_bytes},
                              {"memory_total_bytes", s.memory_total_bytes}});
      }
      out["samples"].push_back(round_json);
    }
    lattice::Result<std::vector<GpuSample>> bad = sampler->Sample({static_cast<int>(indices.size()) + 64});
    out["unknown_index_error"] = bad.ok() ? "none (unexpected)" : bad.error().message;
  }
  std::cout << out.dump(2) << "\n";
  return rc;
}
