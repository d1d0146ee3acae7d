#include "server/cost_api.h"

#include <algorithm>

#include "model/cost.h"
#include "model/codec.h"

namespace lattice {
namespace {

Json SpendJson(const Controller::Spend& s) {
  return Json{{"cost", s.cost}, {"rate_per_hour", s.rate_per_hour}, {"gpu_hours", s.gpu_hours},
              {"attempts", s.attempts}};
}

std::string Query(const net::HttpRequest& req, const char* key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? std::string() : it->second;
}

}  // namespace

Result<Json> CostApi::Report(const net::HttpRequest& req) const {
  std::string by = Query(req, "by");
  if (by.empty()) by = "run";
  if (by != "run" && by != "user" && by != "cluster")
    return Error(ErrorCode::kInvalidArgument,
                 "query parameter 'by' must be run, user or cluster, not '" + by.substr(0, 40) + "'", "by");
  int64_t since = 0;
  if (std::string text = Query(req, "since"); !text.empty()) {
    LATTICE_ASSIGN_OR_RETURN(since, ParseUtcTime(text, "since"));
  }
  std::vector<std::pair<std::string, Controller::Spend>> groups;
  for (auto& kv : controller_.SpendBy(by, since)) groups.emplace_back(kv);
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& a, const auto& b) { return a.second.cost > b.second.cost; });
  Controller::Spend total;
  Json list = Json::array();
  for (const auto& [key, s] : groups) {
    Json g = SpendJson(s);
    g["key"] = key;
    list.push_back(std::move(g));
    total += s;
  }
  return Json{{"by", by}, {"since", since ? IsoTime(since) : ""}, {"total", SpendJson(total)}, {"groups", list}};
}

Result<Json> CostApi::RunCost(const std::string& name) const {
  const Run* run = controller_.FindRun(name);
  if (!run) return Error(ErrorCode::kNotFound, "no run named '" + name + "'");
  Json exps = Json::array();
  Controller::Spend total;  // the run's: the sum of its experiments'
  for (const auto& [index, s] : controller_.ExperimentSpend(*run)) {
    Json e = SpendJson(s);
    e["id"] = std::to_string(index);
    e["state"] = ToString(run->experiments[static_cast<size_t>(index)].state);
    exps.push_back(std::move(e));
    total += s;
  }
  const Cluster* cluster = controller_.FindCluster(ClusterOf(run->spec));
  Json j = SpendJson(total);
  j["run"] = run->name;
  j["cluster"] = ClusterOf(run->spec);
  j["price_per_node_hour"] = cluster ? cluster->price_per_node_hour : 0.0;
  j["max_cost"] = run->spec.max_cost;
  j["max_duration_ms"] = run->spec.max_duration_ms;
  j["experiments"] = std::move(exps);
  return j;
}

Result<Json> CostApi::Durations(const net::HttpRequest& req) const {
  const std::string script = Query(req, "script");
  if (script.empty() || script.size() > 4096)
    return Error(ErrorCode::kInvalidArgument, "query parameter 'script' is required: the script's file name",
                 "script");
  const DurationSummary d = controller_.SucceededDurations(script);
  return Json{{"script", script}, {"experiments", d.count}, {"median_ms", d.median_ms}, {"p90_ms", d.p90_ms},
              {"max_ms", d.max_ms}};
}

}  // namespace lattice
