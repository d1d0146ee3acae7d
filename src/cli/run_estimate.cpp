#include "cli/run_estimate.h"

#include <cmath>

#include "model/cost.h"

namespace lattice::cli {
namespace {

double NodeHours(const RunEstimate& e) {
  return static_cast<double>(e.experiments) * e.nodes * static_cast<double>(e.duration->ms) / 3'600'000.0;
}

std::string Hours(int64_t ms) {
  char out[32];
  const double h = static_cast<double>(ms) / 3'600'000.0;
  if (h >= 1) std::snprintf(out, sizeof out, "%.3gh", h);
  else std::snprintf(out, sizeof out, "%.3gmin", h * 60);
  return out;
}

}  // namespace

std::string DescribeRunEstimate(const RunEstimate& e) {
  if (!e.price) return "estimate: no price known" + (e.note.empty() ? std::string() : " (" + e.note + ")") + "\n";
  const PriceQuote& p = *e.price;
  std::string rates = FormatMoney(p.on_demand) + "/node-hour on-demand";
  if (p.spot) rates += ", " + FormatMoney(*p.spot) + " spot";
  if (!e.duration) {
    return "estimate: " + rates + " (" + p.source + "); no duration known: give --max-duration, or run the "
           "script once and later runs learn from it\n";
  }
  const double node_hours = NodeHours(e);
  char head[256];
  std::snprintf(head, sizeof head, "estimate: %llu experiment%s × %d node%s × %s (%s) = %.4g node-hours\n",
                static_cast<unsigned long long>(e.experiments), e.experiments == 1 ? "" : "s", e.nodes,
                e.nodes == 1 ? "" : "s", Hours(e.duration->ms).c_str(), e.duration->source.c_str(), node_hours);
  std::string out = head;
  out += "  on-demand: " + FormatMoney(node_hours * p.on_demand) + " at " + FormatMoney(p.on_demand) +
         "/node-hour (" + p.source + ")\n";
  if (p.spot) out += "  spot:      " + FormatMoney(node_hours * *p.spot) + " at " + FormatMoney(*p.spot) + "/node-hour\n";
  else out += "  spot:      not offered\n";
  if (e.max_cost > 0 && node_hours * p.on_demand > e.max_cost) {
    const double per_experiment = node_hours * p.on_demand / static_cast<double>(e.experiments);
    out += "  --max-cost " + FormatMoney(e.max_cost) + " stops it after about " +
           std::to_string(static_cast<uint64_t>(std::floor(e.max_cost / per_experiment))) + " of " +
           std::to_string(e.experiments) + " experiments (on-demand)\n";
  }
  return out;
}

Json RunEstimateJson(const RunEstimate& e) {
  Json j{{"experiments", e.experiments}, {"nodes", e.nodes}, {"node_hours", nullptr}, {"on_demand", nullptr},
         {"spot", nullptr}, {"per_node_hour", nullptr}, {"price_source", nullptr}, {"duration_ms", nullptr},
         {"duration_source", nullptr}, {"max_cost", e.max_cost}, {"note", e.note}};
  if (e.price) {
    j["per_node_hour"] = Json{{"on_demand", e.price->on_demand},
                              {"spot", e.price->spot ? Json(*e.price->spot) : Json(nullptr)}};
    j["price_source"] = e.price->source;
  }
  if (e.duration) {
    j["duration_ms"] = e.duration->ms;
    j["duration_source"] = e.duration->source;
    j["node_hours"] = NodeHours(e);
  }
  if (e.price && e.duration) {
    j["on_demand"] = NodeHours(e) * e.price->on_demand;
    if (e.price->spot) j["spot"] = NodeHours(e) * *e.price->spot;
  }
  return j;
}

}  // namespace lattice::cli
