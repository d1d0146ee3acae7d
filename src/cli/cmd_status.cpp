// `lattice status`, `lattice nodes`, `lattice cancel`, `lattice server start|stop`.
#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/local_daemon.h"
#include "cli/table.h"
#include "common/units.h"
#include "model/cost.h"

namespace lattice::cli {
namespace {

std::string Str(const Json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  if (j[key].is_string()) return j[key].get<std::string>().empty() ? "-" : j[key].get<std::string>();
  return j[key].dump();
}

std::string JoinArgs(const Json& args) {
  std::string out;
  for (const auto& a : args) {
    std::string s = a.get<std::string>();
    bool quote = s.empty() || s.find_first_of(" \t'\"\\$`") != std::string::npos;
    if (!out.empty()) out += " ";
    if (quote) {
      std::string q = "'";
      for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
      out += q + "'";
    } else {
      out += s;
    }
  }
  return out;
}

}  // namespace

int Fail(const Error& e) {
  // A multi-line message (a caret under a sweep expression) keeps its
  // columns: it starts on a line of its own.
  if (e.message.find('\n') != std::string::npos) std::fprintf(stderr, "lattice: error:\n%s\n", e.message.c_str());
  else std::fprintf(stderr, "lattice: %s\n", e.message.c_str());
  return ExitCodeFor(e);
}

Result<ApiClient> Client(const GlobalOptions& g) {
  LATTICE_ASSIGN_OR_RETURN(Connection c, Connect(ConnectOptions{g.server, g.home, true}));
  return ApiClient(std::move(c));
}

Result<std::pair<std::string, std::optional<int>>> ParseTarget(const std::string& target) {
  auto slash = target.find('/');
  std::string run = target.substr(0, slash);
  if (run.empty())
    return Error(ErrorCode::kInvalidArgument, "expected RUN or RUN/EXPERIMENT, got '" + target + "'");
  if (slash == std::string::npos) return std::make_pair(run, std::optional<int>());
  std::string exp = target.substr(slash + 1);
  if (exp.empty() || exp.size() > 9 || exp.find_first_not_of("0123456789") != std::string::npos)
    return Error(ErrorCode::kInvalidArgument,
                 "experiment in '" + target + "' must be a number, like " + run + "/0");
  return std::make_pair(run, std::optional<int>(std::stoi(exp)));
}

int StatusCommand(const GlobalOptions& g, const std::string& run) {
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  if (run.empty()) {
    auto doc = client->Get("/runs");
    if (!doc.ok()) return Fail(doc.error());
    if (g.json) {
      std::cout << doc->dump() << "\n";
      return kExitOk;
    }
    // What each run cost, as a column once anything costs money.
    std::map<std::string, double> cost;
    if (auto report = client->Get("/cost?by=run"); report.ok())
      for (const auto& g : (*report)["groups"])
        if (g.value("cost", 0.0) > 0) cost[g.value("key", "")] = g.value("cost", 0.0);
    std::vector<std::string> header{"NAME", "STATE", "EXPERIMENTS", "CREATED", "SCRIPT"};
    if (!cost.empty()) header.insert(header.begin() + 3, "COST");
    Table t(header);
    for (const auto& r : (*doc)["runs"]) {
      std::vector<std::string> row{Str(r, "name"), Str(r, "state"), Str(r, "experiments"), Str(r, "created_at"),
                                   Str(r, "script")};
      if (!cost.empty()) {
        auto it = cost.find(Str(r, "name"));
        row.insert(row.begin() + 3, FormatMoney(it == cost.end() ? 0 : it->second));
      }
      t.Add(std::move(row));
    }
    std::cout << t.Render();
    // The clusters' monthly budgets: what everyone's runs there may still spend.
    if (auto clusters = client->Get("/clusters"); clusters.ok())
      for (const auto& c : (*clusters)["clusters"]) {
        const double budget = c.value("monthly_budget", 0.0);
        if (budget <= 0) continue;
        const Json month = c.value("month", Json::object());
        std::cout << "budget: cluster " << Str(c, "name") << " spent " << FormatMoney(month.value("cost", 0.0))
                  << " of " << FormatMoney(budget) << " for " << month.value("month", "")
                  << (month.value("cost", 0.0) >= budget ? " (reached: nothing more starts there)" : "") << "\n";
      }
    return kExitOk;
  }
  if (run.find('/') != std::string::npos)
    return Fail(Error(ErrorCode::kInvalidArgument, "status takes a run name, not an experiment: " + run));
  auto doc = client->Get("/runs/" + run);
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  const Json& d = *doc;
  std::cout << "run:      " << Str(d, "name") << "\n"
            << "state:    " << Str(d, "state") << "\n"
            << "created:  " << Str(d, "created_at") << "\n"
            << "script:   " << Str(d, "script") << " " << JoinArgs(d["args"]) << "\n";
  if (!d["description"].get<std::string>().empty()) std::cout << "about:    " << Str(d, "description") << "\n";
  const Json& res = d["resources"];
  std::cout << "asks:     " << res["cpus"].get<double>() << " CPUs, " << res["gpus"].get<int>() << " GPUs"
            << (res["memory_bytes"].get<uint64_t>() ? ", " + HumanBytes(res["memory_bytes"].get<uint64_t>()) : "");
  const int nodes = d.value("nodes", 1);
  if (nodes > 1) std::cout << " on each of " << nodes << " nodes (launcher " << Str(d, "launcher") << ")";
  std::cout << " per experiment\n";
  if (auto cost = client->Get("/runs/" + run + "/cost"); cost.ok()) {
    std::cout << "cost:     " << RunCostSummary(*cost);
    if (cost->value("price_per_node_hour", 0.0) <= 0) std::cout << " (cluster " << Str(*cost, "cluster") << " is free)";
    std::cout << "\n";
  }
  if (d.value("max_duration_ms", int64_t{0}) > 0)
    std::cout << "limit:    each attempt stops after " << HumanDuration(d.value("max_duration_ms", int64_t{0})) << "\n";
  std::cout << "\n";
  // A sweep shows its parameters as columns; a single experiment its args.
  std::vector<std::string> params;
  if (d.contains("sweep") && d["sweep"].contains("parameters"))
    for (const auto& p : d["sweep"]["parameters"]) params.push_back(p.get<std::string>());
  std::vector<std::string> header{"EXP", "STATE"};
  for (const auto& p : params) {
    std::string upper;
    for (char c : p) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
    header.push_back(upper);
  }
  for (const char* h : {"EXIT", "ATTEMPTS", "NODE"}) header.push_back(h);
  if (params.empty()) header.push_back("ARGS");
  header.push_back("REASON");
  Table t(header);
  for (const auto& e : d["experiments"]) {
    std::vector<std::string> row{Str(e, "id"), Str(e, "state")};
    for (const auto& p : params) row.push_back(e["params"].contains(p) ? e["params"][p].get<std::string>() : "-");
    for (const char* k : {"exit_code", "attempts", "node"}) row.push_back(Str(e, k));
    if (params.empty()) row.push_back(JoinArgs(e["args"]));
    row.push_back(Str(e, "reason"));
    t.Add(std::move(row));
  }
  std::cout << t.Render();
  return kExitOk;
}

int NodesCommand(const GlobalOptions& g) {
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Get("/nodes");
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  Table t({"ID", "HOSTNAME", "STATE", "CPUS", "MEMORY", "GPUS", "LAST SEEN"});
  for (const auto& n : (*doc)["nodes"]) {
    std::string gpus = std::to_string(n["gpus"].size());
    if (!n["gpus"].empty()) gpus += " x " + n["gpus"][0].value("name", "?");
    char cpus[32];
    std::snprintf(cpus, sizeof cpus, "%g", n["cpus"].get<double>());
    t.Add({Str(n, "id"), Str(n, "hostname"), Str(n, "state"), cpus, HumanBytes(n["memory_bytes"].get<uint64_t>()),
           gpus, Str(n, "last_seen")});
  }
  std::cout << t.Render();
  return kExitOk;
}

int CancelCommand(const GlobalOptions& g, const std::string& target_text) {
  auto target = ParseTarget(target_text);
  if (!target.ok()) return Fail(target.error());
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto [run, exp] = *target;
  std::string path = exp ? "/runs/" + run + "/experiments/" + std::to_string(*exp) + "/cancel" : "/runs/" + run + "/cancel";
  auto doc = client->Post(path, Json::object());
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) std::cout << doc->dump() << "\n";
  else std::cout << "cancelling " << target_text << "\n";
  return kExitOk;
}

int ServerStartCommand(const GlobalOptions& g) {
  auto url = EnsureLocalServer(g.home, true);
  if (!url.ok()) return Fail(url.error());
  if (g.json) std::cout << Json{{"url", *url}}.dump() << "\n";
  else std::cout << "local server running at " << *url << " (state in " << g.home.string() << ")\n";
  return kExitOk;
}

int ServerStopCommand(const GlobalOptions& g) {
  auto report = StopLocal(g.home, 40'000);
  if (!report.ok()) return Fail(report.error());
  if (g.json) {
    std::cout << Json{{"server_was_running", report->server_was_running},
                      {"agent_was_running", report->agent_was_running}}.dump()
              << "\n";
  } else if (!report->server_was_running && !report->agent_was_running) {
    std::cout << "no local server or agent was running\n";
  } else {
    std::cout << "stopped the local" << (report->server_was_running ? " server" : "")
              << (report->server_was_running && report->agent_was_running ? " and" : "")
              << (report->agent_was_running ? " agent" : "") << "\n";
  }
  return kExitOk;
}

}  // namespace lattice::cli
