#include "estimate/offers.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/text.h"
#include "estimate/fit.h"
#include "estimate/suggest.h"

namespace lattice::estimate {
namespace {

std::string JoinNames(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Status CheckKnown(const std::vector<std::string>& known, const std::string& value, const char* flag,
                  const char* what) {
  if (value.empty()) return OkStatus();
  for (const auto& k : known)
    if (AsciiLower(k) == AsciiLower(value)) return OkStatus();
  std::string hint = DidYouMean(ClosestNames(value, known, 3));
  return Error(ErrorCode::kInvalidArgument,
               std::string(flag) + " '" + value.substr(0, 64) + "' is not a " + what + " of the catalog" +
                   (hint.empty() ? "" : " (" + hint + ")") + "; known: " + JoinNames(known),
               std::string(flag).substr(2));
}

std::vector<std::string> Providers(const Catalog& catalog) {
  std::set<std::string> out;
  for (const auto& s : catalog.instances) out.insert(s.provider);
  return {out.begin(), out.end()};
}

std::vector<std::string> Regions(const Catalog& catalog) {
  std::set<std::string> out;
  for (const auto& s : catalog.instances)
    for (const auto& p : s.prices) out.insert(p.region);
  return {out.begin(), out.end()};
}

}  // namespace

Result<std::vector<Listed>> ListInstances(const Catalog& catalog, const InstanceFilter& f) {
  LATTICE_RETURN_IF_ERROR(CheckKnown(catalog.GpuModels(), f.gpu_model, "--gpu", "GPU model"));
  LATTICE_RETURN_IF_ERROR(CheckKnown(Providers(catalog), f.provider, "--provider", "provider"));
  LATTICE_RETURN_IF_ERROR(CheckKnown(Regions(catalog), f.region, "--region", "region"));
  std::vector<Listed> out;
  for (const InstanceSpec& s : catalog.instances) {
    if (!f.gpu_model.empty() && AsciiLower(s.gpu_model) != AsciiLower(f.gpu_model)) continue;
    if (s.gpu_memory_bytes < f.min_gpu_memory || s.gpus < f.min_gpus) continue;
    if (!f.provider.empty() && AsciiLower(s.provider) != AsciiLower(f.provider)) continue;
    Listed l;
    l.instance = &s;
    auto on_demand = s.OnDemandPerHour(f.region);
    if (!on_demand) continue;  // not sold in that region
    l.on_demand_per_hour = *on_demand;
    l.spot_per_hour = s.SpotPerHour(f.region);
    if (f.spot && !l.spot_per_hour) continue;
    out.push_back(l);
  }
  std::stable_sort(out.begin(), out.end(), [&](const Listed& a, const Listed& b) {
    const double pa = f.spot ? *a.spot_per_hour : a.on_demand_per_hour;
    const double pb = f.spot ? *b.spot_per_hour : b.on_demand_per_hour;
    if (pa != pb) return pa < pb;
    return a.instance->name < b.instance->name;
  });
  return out;
}

Result<std::vector<Offer>> CompareProviders(const Catalog& catalog, const CompareRequest& r) {
  if (r.gpus < 1)
    return Error(ErrorCode::kInvalidArgument, "--gpus must be at least 1 for a comparison", "gpus");
  if (!(r.hours > 0)) return Error(ErrorCode::kInvalidArgument, "--hours must be above 0", "hours");
  LATTICE_RETURN_IF_ERROR(CheckKnown(catalog.GpuModels(), r.gpu_model, "--gpu", "GPU model"));
  LATTICE_RETURN_IF_ERROR(CheckKnown(Regions(catalog), r.region, "--region", "region"));
  std::map<std::string, Offer> best;  // provider -> its cheapest offer
  for (const InstanceSpec& s : catalog.instances) {
    if (s.gpus < 1 || s.gpu_memory_bytes < r.gpu_memory) continue;
    if (!r.gpu_model.empty() && AsciiLower(s.gpu_model) != AsciiLower(r.gpu_model)) continue;
    auto nodes = NodesFor(r.gpus, s.gpus);
    if (!nodes) continue;
    auto on_demand = s.OnDemandPerHour(r.region);
    auto spot = s.SpotPerHour(r.region);
    if (!on_demand || (r.spot && !spot)) continue;
    Offer o;
    o.instance = &s;
    o.nodes = *nodes;
    o.per_hour = (r.spot ? *spot : *on_demand) * o.nodes;
    if (spot) o.spot_per_hour = *spot * o.nodes;
    o.cost = o.per_hour * r.hours;
    auto it = best.find(s.provider);
    if (it == best.end() || o.cost < it->second.cost) best[s.provider] = o;
  }
  std::vector<Offer> out;
  for (auto& entry : best) out.push_back(entry.second);
  std::stable_sort(out.begin(), out.end(), [](const Offer& a, const Offer& b) {
    if (a.cost != b.cost) return a.cost < b.cost;
    return a.instance->provider < b.instance->provider;
  });
  for (Offer& o : out) o.ratio = o.cost / out.front().cost;
  return out;
}

}  // namespace lattice::estimate
