// `lattice metrics RUN[/EXP] [--key K]... [--sort K[:last|:min|:max]] [--desc]`:
// one row per experiment with its swept parameters and metric summaries.
#include <algorithm>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/metrics_table.h"
#include "cli/table.h"
#include "net/http_types.h"

namespace lattice::cli {
namespace {

// The run's sweep parameters in their order, for the columns; empty when the
// run document is unavailable (the metrics document's order is used then).
std::vector<std::string> ParameterOrder(ApiClient& client, const std::string& run) {
  std::vector<std::string> out;
  auto doc = client.Get("/runs/" + net::PercentEncode(run));
  if (!doc.ok() || !doc->is_object()) return out;
  auto sweep = doc->find("sweep");
  if (sweep == doc->end() || !sweep->is_object()) return out;
  auto params = sweep->find("parameters");
  if (params == sweep->end() || !params->is_array()) return out;
  for (const auto& p : *params)
    if (p.is_string()) out.push_back(p.get<std::string>());
  return out;
}

}  // namespace

int MetricsCommand(const GlobalOptions& g, const MetricsOptions& o) {
  auto target = ParseTarget(o.target);
  if (!target.ok()) return Fail(target.error());
  const auto& [run, exp] = *target;
  std::optional<MetricSort> sort;
  if (!o.sort.empty()) {
    auto parsed = ParseMetricSort(o.sort, o.descending);
    if (!parsed.ok()) return Fail(parsed.error());
    sort = *parsed;
  } else if (o.descending) {
    return Fail(Error(ErrorCode::kInvalidArgument, "--desc needs --sort KEY"));
  }
  std::vector<std::string> keys;
  for (const auto& k : o.keys)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);

  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  std::string path = "/runs/" + net::PercentEncode(run) + "/metrics";
  if (exp) path += "?experiment=" + std::to_string(*exp);
  auto doc = client->Get(path);
  if (!doc.ok()) return Fail(doc.error());

  std::vector<std::string> existing = MetricKeys(*doc);
  std::string what = exp ? run + "/" + std::to_string(*exp) : run;
  if (Status ok = CheckMetricKeys(keys, existing, what); !ok.ok()) return Fail(ok.error());
  if (sort) {
    if (Status ok = CheckMetricKeys({sort->key}, existing, what); !ok.ok()) return Fail(ok.error());
    SortExperiments(*doc, *sort);
  }
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  MetricsTableLayout layout = BuildMetricsTable(*doc, keys, ParameterOrder(*client, run));
  Table table(layout.header);
  for (auto& row : layout.rows) table.Add(std::move(row));
  std::cout << table.Render() << layout.footer;
  return kExitOk;
}

}  // namespace lattice::cli
