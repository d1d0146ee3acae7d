// `lattice cost [RUN] [--by run|user|cluster] [--since WHEN]`: what runs
// cost (docs/cost.md). Without RUN, spend grouped, biggest first; with RUN,
// its experiments and its limits.
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "common/units.h"
#include "model/codec.h"
#include "model/cost.h"
#include "net/http_types.h"

namespace lattice::cli {
namespace {

std::string GpuHours(const Json& s) {
  char out[32];
  std::snprintf(out, sizeof out, "%.2f", s.value("gpu_hours", 0.0));
  return out;
}

std::string Rate(const Json& s) {
  const double rate = s.value("rate_per_hour", 0.0);
  return rate > 0 ? FormatMoney(rate) + "/h" : "-";
}

// --since as the API takes it: a date or UTC time as given, or a duration
// ("7d") counted back from now.
Result<std::string> SinceParameter(const std::string& since) {
  if (since.empty()) return std::string();
  if (ParseUtcTime(since, "since").ok()) return since;
  auto ms = ParseDurationMs(since);
  if (!ms.ok() || *ms <= 0)
    return Error(ErrorCode::kInvalidArgument,
                 "--since '" + since.substr(0, 40) + "' is neither a date (2026-11-01), a UTC time "
                 "(2026-11-01T12:00:00Z) nor a duration back from now (24h, 7d)",
                 "since");
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  return IsoTime(now - *ms);
}

int RunCost(ApiClient& client, const GlobalOptions& g, const std::string& run) {
  auto doc = client.Get("/runs/" + net::PercentEncode(run) + "/cost");
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  const Json& d = *doc;
  std::cout << "run:     " << d.value("run", "") << " on cluster " << d.value("cluster", "") << " ("
            << (d.value("price_per_node_hour", 0.0) > 0 ? FormatMoney(d.value("price_per_node_hour", 0.0)) +
                                                              "/node-hour"
                                                        : std::string("free"))
            << ")\n"
            << "cost:    " << RunCostSummary(d) << "\n\n";
  Table t({"EXP", "STATE", "COST", "NOW", "GPU-HOURS", "ATTEMPTS"});
  for (const auto& e : d["experiments"])
    t.Add({e.value("id", ""), e.value("state", ""), FormatMoney(e.value("cost", 0.0)), Rate(e), GpuHours(e),
           std::to_string(e.value("attempts", 0))});
  std::cout << t.Render();
  return kExitOk;
}

}  // namespace

std::string RunCostSummary(const Json& c) {
  std::string out = FormatMoney(c.value("cost", 0.0));
  if (c.value("max_cost", 0.0) > 0) out += " of --max-cost " + FormatMoney(c.value("max_cost", 0.0));
  if (c.value("rate_per_hour", 0.0) > 0) out += ", now " + Rate(c);
  return out;
}

int CostCommand(const GlobalOptions& g, const CostOptions& o) {
  auto since = SinceParameter(o.since);
  if (!since.ok()) return Fail(since.error());
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  if (!o.run.empty()) {
    if (!o.since.empty() || o.by != "run")
      return Fail(Error(ErrorCode::kInvalidArgument, "--by and --since group many runs; with RUN, leave them out"));
    return RunCost(*client, g, o.run);
  }
  std::string path = "/cost?by=" + o.by;
  if (!since->empty()) path += "&since=" + net::PercentEncode(*since);
  auto doc = client->Get(path);
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  std::string key = o.by;
  for (char& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Table t({key, "COST", "NOW", "GPU-HOURS", "ATTEMPTS"});
  for (const auto& r : (*doc)["groups"])
    t.Add({r.value("key", "").empty() ? "(unknown)" : r.value("key", ""), FormatMoney(r.value("cost", 0.0)), Rate(r),
           GpuHours(r), std::to_string(r.value("attempts", 0))});
  const Json& total = (*doc)["total"];
  t.Add({"total", FormatMoney(total.value("cost", 0.0)), Rate(total), GpuHours(total),
         std::to_string(total.value("attempts", 0))});
  std::cout << t.Render();
  if (!since->empty()) std::cout << "since " << (*doc).value("since", "") << "\n";
  return kExitOk;
}

}  // namespace lattice::cli
