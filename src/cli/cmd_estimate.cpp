// `lattice estimate`: what a training needs (GPU memory per part, per GPU
// under each sharding, checkpoint disk) and the instance types it fits on.
// Pure arithmetic over the catalog: no server, answers at once.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "common/units.h"
#include "estimate/catalog.h"
#include "estimate/estimate_args.h"
#include "estimate/fit.h"
#include "estimate/format.h"
#include "estimate/memory_estimate.h"

namespace lattice::cli {
namespace {

using estimate::DecimalBytes;
using estimate::Sharding;

// Beyond these a value is a typo, not a model.
constexpr uint64_t kMaxBatch = 1'000'000;
constexpr uint64_t kMaxSeq = 100'000'000;
constexpr uint64_t kMaxDim = 1'000'000;
constexpr uint64_t kMaxLayers = 10'000;
constexpr uint64_t kMaxGpus = 65'536;
constexpr double kMaxBytesPerGpu = 1e18;  // an exabyte per GPU is not a plan
constexpr size_t kShownInstances = 10;
// The GPU sizes people rent, for "which sharding on which GPU".
constexpr uint64_t kCommonGpuGiB[] = {16, 24, 40, 48, 80};

struct Request {
  estimate::ModelSpec spec;
  int gpus = 1;             // the per-GPU tables are over this many
  bool gpus_given = false;  // fits keep this count; else the fewest that fit
};

Result<Request> ParseRequest(const EstimateOptions& o) {
  Request r;
  if (o.params.empty())
    return Error(ErrorCode::kInvalidArgument, "estimate needs --params, the parameter count, like 7e9 or 7B",
                 "params");
  LATTICE_ASSIGN_OR_RETURN(r.spec.params, estimate::ParseParameterCount(o.params));
  LATTICE_ASSIGN_OR_RETURN(r.spec.precision, estimate::ParsePrecision(o.precision));
  LATTICE_ASSIGN_OR_RETURN(r.spec.optimizer, estimate::ParseOptimizer(o.optimizer));
  LATTICE_RETURN_IF_ERROR(estimate::BytesPerParamFor(r.spec.precision, r.spec.optimizer));  // int8 training
  const bool any_shape = !o.batch.empty() || !o.seq.empty() || !o.dim.empty() || !o.layers.empty();
  if (any_shape) {
    if (o.batch.empty() || o.seq.empty() || o.dim.empty())
      return Error(ErrorCode::kInvalidArgument,
                   "activations need all three of --batch, --seq and --dim (batch × sequence length × input "
                   "dimension × bytes per value); --layers refines them",
                   o.batch.empty() ? "batch" : o.seq.empty() ? "seq" : "dim");
    estimate::ActivationShape a;
    LATTICE_ASSIGN_OR_RETURN(a.batch, estimate::ParsePositiveCount("--batch", o.batch, kMaxBatch));
    LATTICE_ASSIGN_OR_RETURN(a.seq, estimate::ParsePositiveCount("--seq", o.seq, kMaxSeq));
    LATTICE_ASSIGN_OR_RETURN(a.dim, estimate::ParsePositiveCount("--dim", o.dim, kMaxDim));
    if (!o.layers.empty()) {
      LATTICE_ASSIGN_OR_RETURN(uint64_t layers, estimate::ParsePositiveCount("--layers", o.layers, kMaxLayers));
      a.layers = layers;
    }
    r.spec.activations = a;
  }
  if (!o.gpus.empty()) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t gpus, estimate::ParsePositiveCount("--gpus", o.gpus, kMaxGpus));
    r.gpus = static_cast<int>(gpus);
    r.gpus_given = true;
  }
  const double per_gpu = PerGpu(r.spec, 1, Sharding::kNone)->total();
  if (per_gpu > kMaxBytesPerGpu)
    return Error(ErrorCode::kInvalidArgument,
                 "that is absurd: " + DecimalBytes(per_gpu) +
                     " per GPU before sharding; check --params, --batch, --seq, --dim and --layers",
                 "params");
  return r;
}

uint64_t Bytes(double b) { return static_cast<uint64_t>(std::llround(b)); }

std::string Describe(const estimate::ModelSpec& spec) {
  using estimate::Optimizer;
  using estimate::Precision;
  const bool mixed = spec.precision == Precision::kFp16 || spec.precision == Precision::kBf16;
  std::string what = estimate::ShortCount(spec.params) + " parameters, " + estimate::PrecisionName(spec.precision);
  switch (spec.optimizer) {
    case Optimizer::kAdam:
      return what + ", Adam" + (mixed ? " (mixed precision: fp32 master weights and two fp32 moments)"
                                      : " (two fp32 moments)");
    case Optimizer::kSgd:
      return what + ", SGD with momentum" + (mixed ? " (fp32 master weights and one fp32 buffer)"
                                                    : " (one fp32 buffer)");
    case Optimizer::kNone: return what + ", inference (weights only)";
  }
  return what;
}

Json PartsJson(const estimate::MemoryParts& m) {
  return Json{{"weights_bytes", Bytes(m.weights)},         {"gradients_bytes", Bytes(m.gradients)},
              {"optimizer_bytes", Bytes(m.optimizer)},     {"activations_bytes", Bytes(m.activations)},
              {"total_bytes", Bytes(m.total())}};
}

Json OptionalUsd(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

std::string ActivationFormula(const estimate::ModelSpec& spec) {
  const auto& a = *spec.activations;
  const std::string bytes = std::to_string(estimate::ActivationBytesPerValue(spec.precision));
  if (!a.layers) return "batch × seq × dim × " + bytes + " bytes";
  return "layers × 34 × batch × seq × dim × " + bytes + "/2 bytes (Korthikanti et al. 2022, §4.1)";
}

int PrintJson(const Request& r, const estimate::Catalog& catalog, const std::vector<estimate::Fit>& fits) {
  const auto& spec = r.spec;
  const auto b = *estimate::BytesPerParamFor(spec.precision, spec.optimizer);
  const auto one = *PerGpu(spec, 1, Sharding::kNone);
  Json doc{{"params", Bytes(spec.params)},
           {"precision", estimate::PrecisionName(spec.precision)},
           {"optimizer", estimate::OptimizerName(spec.optimizer)},
           {"gpus", r.gpus},
           {"bytes_per_param",
            {{"weights", b.weights}, {"gradients", b.gradients}, {"optimizer", b.optimizer}, {"total", b.total()}}},
           {"model_states",
            {{"weights_bytes", Bytes(one.weights)},
             {"gradients_bytes", Bytes(one.gradients)},
             {"optimizer_bytes", Bytes(one.optimizer)},
             {"total_bytes", Bytes(one.weights + one.gradients + one.optimizer)}}},
           {"activations", nullptr},
           {"total_bytes", Bytes(one.total())}};
  if (spec.activations) {
    const auto& a = *spec.activations;
    doc["activations"] = Json{{"bytes", Bytes(one.activations)},
                              {"formula", ActivationFormula(spec)},
                              {"batch", a.batch},
                              {"seq", a.seq},
                              {"dim", a.dim},
                              {"layers", a.layers ? Json(*a.layers) : Json(nullptr)},
                              {"bytes_per_value", estimate::ActivationBytesPerValue(spec.precision)}};
  }
  Json per_gpu = Json::array();
  for (Sharding s : estimate::kAllShardings) {
    if (r.gpus == 1 && s != Sharding::kNone) break;
    Json row = PartsJson(*PerGpu(spec, r.gpus, s));
    row["sharding"] = estimate::ShardingName(s);
    per_gpu.push_back(std::move(row));
  }
  doc["per_gpu"] = std::move(per_gpu);
  Json needed = Json::array();
  for (uint64_t gib : kCommonGpuGiB) {
    const uint64_t bytes = gib << 30;
    auto s = SmallestShardingThatFits(spec, r.gpus, estimate::UsableGpuBytes(bytes));
    needed.push_back({{"gpu_memory_bytes", bytes},
                      {"usable_bytes", Bytes(estimate::UsableGpuBytes(bytes))},
                      {"sharding", s ? Json(estimate::ShardingName(*s)) : Json(nullptr)}});
  }
  doc["sharding_needed"] = std::move(needed);
  const auto ckpt = estimate::CheckpointBytes(spec);
  doc["checkpoint"] = {{"weights_only_bytes", Bytes(ckpt.weights_only)},
                       {"with_optimizer_bytes", Bytes(ckpt.with_optimizer)}};
  doc["headroom"] = estimate::kGpuMemoryHeadroom;
  doc["catalog"] = {{"as_of", catalog.as_of},
                    {"currency", catalog.currency},
                    {"file", catalog.file.empty() ? Json(nullptr) : Json(catalog.file)}};
  Json instances = Json::array();
  for (const auto& f : fits)
    instances.push_back({{"name", f.instance->name},
                         {"provider", f.instance->provider},
                         {"gpu_model", f.instance->gpu_model},
                         {"gpus_per_node", f.instance->gpus},
                         {"gpu_memory_bytes", f.instance->gpu_memory_bytes},
                         {"gpus", f.gpus},
                         {"nodes", f.nodes},
                         {"sharding", estimate::ShardingName(f.sharding)},
                         {"per_gpu_bytes", Bytes(f.per_gpu.total())},
                         {"on_demand_per_hour", f.on_demand_per_hour},
                         {"spot_per_hour", OptionalUsd(f.spot_per_hour)}});
  doc["instances"] = std::move(instances);
  std::cout << doc.dump() << "\n";
  return kExitOk;
}

int PrintText(const Request& r, const estimate::Catalog& catalog, const std::vector<estimate::Fit>& fits,
              bool all) {
  const auto& spec = r.spec;
  const auto b = *estimate::BytesPerParamFor(spec.precision, spec.optimizer);
  const auto one = *PerGpu(spec, 1, Sharding::kNone);
  std::string out = Describe(spec) + "\n\nMemory on one GPU (decimal GB; docs/estimates.md has the formulas)\n";
  Table parts({"part", "bytes/param", "total"});
  parts.Add({"weights", std::to_string(b.weights), DecimalBytes(one.weights)});
  parts.Add({"gradients", std::to_string(b.gradients), DecimalBytes(one.gradients)});
  parts.Add({"optimizer", std::to_string(b.optimizer), DecimalBytes(one.optimizer)});
  parts.Add({"activations", "-",
             spec.activations ? DecimalBytes(one.activations) + "  (" + ActivationFormula(spec) + ")"
                              : "not counted (give --batch, --seq and --dim)"});
  parts.Add({"total", std::to_string(b.total()), DecimalBytes(one.total())});
  out += parts.Render();
  if (r.gpus > 1) {
    out += "\nPer GPU over " + std::to_string(r.gpus) + " GPUs (ZeRO shards model states, not activations)\n";
    Table per({"sharding", "weights", "gradients", "optimizer", "activations", "total"});
    for (Sharding s : estimate::kAllShardings) {
      const auto m = *PerGpu(spec, r.gpus, s);
      per.Add({s == Sharding::kNone ? "none (DDP)" : estimate::ShardingName(s), DecimalBytes(m.weights),
               DecimalBytes(m.gradients), DecimalBytes(m.optimizer), DecimalBytes(m.activations),
               DecimalBytes(m.total())});
    }
    out += per.Render();
  }
  out += "\nSharding needed over " + std::to_string(r.gpus) + " GPU" + (r.gpus == 1 ? "" : "s") + " (" +
         std::to_string(static_cast<int>(estimate::kGpuMemoryHeadroom * 100)) +
         "% of each GPU kept free for the CUDA context and fragmentation)\n";
  Table needed({"GPU memory", "usable", "sharding"});
  for (uint64_t gib : kCommonGpuGiB) {
    const double usable = estimate::UsableGpuBytes(gib << 30);
    auto s = SmallestShardingThatFits(spec, r.gpus, usable);
    needed.Add({std::to_string(gib) + " GiB", HumanBytes(Bytes(usable)),
                s ? estimate::ShardingName(*s) : (r.gpus == 1 ? "does not fit one GPU" : "does not fit")});
  }
  out += needed.Render();
  const auto ckpt = estimate::CheckpointBytes(spec);
  out += "\nCheckpoint disk\n";
  Table disk({"what", "size"});
  disk.Add({std::string("weights only (") + estimate::PrecisionName(spec.precision) + ")",
            DecimalBytes(ckpt.weights_only)});
  if (spec.optimizer != estimate::Optimizer::kNone)
    disk.Add({"with optimizer state (to resume)", DecimalBytes(ckpt.with_optimizer)});
  out += disk.Render();

  const size_t shown = all ? fits.size() : std::min(fits.size(), kShownInstances);
  out += "\nInstance types that fit" + std::string(r.gpus_given ? " " + std::to_string(r.gpus) + " GPUs" : "") +
         ", cheapest first (" +
         (shown < fits.size() ? std::to_string(shown) + " of " + std::to_string(fits.size()) + "; --all for every one"
                              : std::to_string(fits.size())) +
         "; USD list prices as of " + catalog.as_of + ", they change)\n";
  if (fits.empty()) {
    out += "  none in the catalog" + std::string(r.gpus_given ? " with that many GPUs" : "") + "\n";
  } else {
    Table t({"instance", "provider", "GPUs", "nodes", "sharding", "per GPU", "$/h on-demand", "$/h spot"});
    for (size_t i = 0; i < shown; ++i) {
      const auto& f = fits[i];
      t.Add({f.instance->name, f.instance->provider,
             std::to_string(f.gpus) + " × " + f.instance->gpu_model + " " +
                 HumanBytes(f.instance->gpu_memory_bytes),
             std::to_string(f.nodes), estimate::ShardingName(f.sharding), DecimalBytes(f.per_gpu.total()),
             estimate::Usd(f.on_demand_per_hour), f.spot_per_hour ? estimate::Usd(*f.spot_per_hour) : "-"});
    }
    out += t.Render();
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

int EstimateCommand(const GlobalOptions& g, const EstimateOptions& o) {
  auto request = ParseRequest(o);
  if (!request.ok()) return Fail(request.error());
  auto catalog = estimate::ActiveCatalog();
  if (!catalog.ok()) return Fail(catalog.error());
  if (!o.region.empty()) {
    bool known = false;
    for (const auto& s : (*catalog)->instances)
      known = known || s.OnDemandPerHour(o.region).has_value();
    if (!known)
      return Fail(Error(ErrorCode::kInvalidArgument,
                        "--region '" + o.region + "' has no prices in the catalog (lattice instances lists them)",
                        "region"));
  }
  const auto fits = estimate::FitsInCatalog(request->spec, **catalog, request->gpus_given ? request->gpus : 0,
                                            o.region);
  if (g.json) return PrintJson(*request, **catalog, fits);
  return PrintText(*request, **catalog, fits, o.all);
}

}  // namespace lattice::cli
