// `lattice cluster create|list|show|delete|default|set`: the named pools of
// nodes runs go to with --cluster (model/cluster.h, docs/clusters.md).
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "estimate/catalog.h"
#include "model/cost.h"

namespace lattice::cli {
namespace {

std::string Settings(const Json& c) {
  std::string out;
  auto add = [&](const char* label, const std::string& value) {
    if (!value.empty()) out += (out.empty() ? "" : " ") + std::string(label) + "=" + value;
  };
  add("partition", c.value("partition", ""));
  add("account", c.value("account", ""));
  add("qos", c.value("qos", ""));
  add("time", c.value("time_limit", ""));
  if (c.value("max_nodes", 0) > 0) add("max-nodes", std::to_string(c.value("max_nodes", 0)));
  std::string hosts;
  for (const auto& h : c.value("hosts", Json::array())) hosts += (hosts.empty() ? "" : ",") + h.get<std::string>();
  add("hosts", hosts);
  return out.empty() ? "-" : out;
}

// The pricing fields of a create or set: a price per node-hour given, or
// one from the instance catalog (on-demand, or --spot, in --region).
Result<Json> PricingBody(const ClusterOptions& o) {
  Json body = Json::object();
  if (o.price_per_hour && !o.instance_type.empty())
    return Error(ErrorCode::kInvalidArgument,
                 "give --price-per-hour or --instance-type (whose catalog price is used), not both", "price_per_hour");
  if ((o.spot || !o.region.empty()) && o.instance_type.empty())
    return Error(ErrorCode::kInvalidArgument, "--spot and --region choose an --instance-type's price; give one",
                 "instance_type");
  if (o.price_per_hour) body["price_per_node_hour"] = *o.price_per_hour;
  if (!o.instance_type.empty()) {
    LATTICE_ASSIGN_OR_RETURN(const estimate::Catalog* catalog, estimate::ActiveCatalog());
    LATTICE_ASSIGN_OR_RETURN(const estimate::InstanceSpec* spec, catalog->Lookup(o.instance_type));
    std::optional<double> price = o.spot ? spec->SpotPerHour(o.region) : spec->OnDemandPerHour(o.region);
    if (!price) {
      std::string regions;
      for (const auto& p : spec->prices)
        if (!o.spot || p.spot) regions += (regions.empty() ? "" : ", ") + p.region;
      return Error(ErrorCode::kInvalidArgument,
                   spec->name + " has no " + (o.spot ? "spot " : "") + "price" +
                       (o.region.empty() ? "" : " in " + o.region) +
                       (regions.empty() ? "" : "; it has prices in: " + regions),
                   "instance_type");
    }
    body["price_per_node_hour"] = *price;
    body["instance_type"] = spec->name;
  }
  if (o.monthly_budget) body["monthly_budget"] = *o.monthly_budget;
  return body;
}

std::string Pricing(const Json& c) {
  const double price = c.value("price_per_node_hour", 0.0), budget = c.value("monthly_budget", 0.0);
  std::string out = price > 0 ? FormatMoney(price) + "/node-hour" : "free";
  if (!c.value("instance_type", "").empty()) out += " (" + c.value("instance_type", "") + ")";
  const Json month = c.value("month", Json::object());
  if (budget > 0 || month.value("cost", 0.0) > 0) {
    out += "; " + month.value("month", "") + ": " + FormatMoney(month.value("cost", 0.0));
    if (budget > 0) out += " of " + FormatMoney(budget) + " budget";
  }
  return out;
}

int CountReady(const Json& c) {
  int n = 0;
  for (const auto& node : c.value("nodes", Json::array())) n += node.value("state", "") == "ready" ? 1 : 0;
  return n;
}

}  // namespace

int ClusterCreateCommand(const GlobalOptions& g, const ClusterOptions& o) {
  auto pricing = PricingBody(o);
  if (!pricing.ok()) return Fail(pricing.error());
  Json body{{"name", o.name}, {"backend", o.backend}, {"default", o.make_default}};
  body.update(*pricing);
  if (!o.server_url.empty()) body["server_url"] = o.server_url;
  if (!o.partition.empty()) body["partition"] = o.partition;
  if (!o.account.empty()) body["account"] = o.account;
  if (!o.qos.empty()) body["qos"] = o.qos;
  if (!o.time_limit.empty()) body["time_limit"] = o.time_limit;
  if (o.max_nodes) body["max_nodes"] = o.max_nodes;
  if (!o.hosts.empty()) {
    Json hosts = Json::array();
    size_t start = 0;
    while (start <= o.hosts.size()) {
      size_t comma = o.hosts.find(',', start);
      std::string h = o.hosts.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!h.empty()) hosts.push_back(h);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    body["hosts"] = hosts;
  }
  if (!o.identity.empty()) body["identity"] = std::filesystem::absolute(o.identity).string();
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Post("/clusters", body);
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) std::cout << doc->dump() << "\n";
  else
    std::cout << "cluster " << o.name << " (" << o.backend << ") created"
              << (o.make_default ? "; runs without --cluster go there" : "") << "\n";
  return kExitOk;
}

int ClusterListCommand(const GlobalOptions& g) {
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Get("/clusters");
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  Table t({"NAME", "BACKEND", "DEFAULT", "NODES READY", "PRICE", "SETTINGS"});
  for (const auto& c : (*doc)["clusters"])
    t.Add({c.value("name", ""), c.value("backend", ""), c.value("default", false) ? "*" : "",
           std::to_string(CountReady(c)), Pricing(c), Settings(c)});
  std::cout << t.Render();
  return kExitOk;
}

int ClusterShowCommand(const GlobalOptions& g, const std::string& name) {
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Get("/clusters/" + name);
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) {
    std::cout << doc->dump() << "\n";
    return kExitOk;
  }
  const Json& c = *doc;
  std::cout << "cluster:  " << c.value("name", "") << (c.value("default", false) ? " (default)" : "") << "\n"
            << "backend:  " << c.value("backend", "") << "\n"
            << "settings: " << Settings(c) << "\n"
            << "price:    " << Pricing(c) << "\n";
  if (!c.value("server_url", "").empty()) std::cout << "agents dial: " << c.value("server_url", "") << "\n";
  const Json status = c.value("status", Json::object());
  if (status.contains("error")) std::cout << "backend error: " << status["error"].get<std::string>() << "\n";
  if (status.contains("allocations") && !status["allocations"].empty()) {
    Table t({"SLURM JOB", "STATE", "REASON", "SHAPE", "NODES"});
    for (const auto& a : status["allocations"])
      t.Add({a.value("id", ""), a.value("state", ""), a.value("reason", ""), a.value("shape", ""), a.value("nodes", "")});
    std::cout << "\n" << t.Render();
  }
  if (status.contains("hosts") && !status["hosts"].empty()) {
    Table t({"HOST", "STATE", "RESTARTS", "REASON"});
    for (const auto& h : status["hosts"])
      t.Add({h.value("host", ""), h.value("state", ""), std::to_string(h.value("restarts", 0)), h.value("reason", "")});
    std::cout << "\n" << t.Render();
  }
  Table nodes({"NODE", "STATE", "CPUS", "GPUS", "ALLOCATION", "REASON"});
  for (const auto& n : c.value("nodes", Json::array())) {
    char cpus[32];
    std::snprintf(cpus, sizeof cpus, "%g", n.value("cpus", 0.0));
    nodes.Add({n.value("id", ""), n.value("state", ""), cpus, std::to_string(n.value("gpus", Json::array()).size()),
               n.value("allocation", ""), n.value("reason", "")});
  }
  std::cout << "\n" << nodes.Render();
  return kExitOk;
}

int ClusterDeleteCommand(const GlobalOptions& g, const std::string& name) {
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Delete("/clusters/" + name);
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) std::cout << doc->dump() << "\n";
  else std::cout << "cluster " << name << " deleted\n";
  return kExitOk;
}

int ClusterDefaultCommand(const GlobalOptions& g, const std::string& name) {
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Post("/clusters/" + name + "/default", Json::object());
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) std::cout << doc->dump() << "\n";
  else std::cout << "runs without --cluster now go to " << name << "\n";
  return kExitOk;
}

int ClusterSetCommand(const GlobalOptions& g, const ClusterOptions& o) {
  auto body = PricingBody(o);
  if (!body.ok()) return Fail(body.error());
  if (body->empty())
    return Fail(Error(ErrorCode::kInvalidArgument,
                      "nothing to set: give --price-per-hour, --instance-type or --monthly-budget"));
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto doc = client->Patch("/clusters/" + o.name, *body);
  if (!doc.ok()) return Fail(doc.error());
  if (g.json) std::cout << doc->dump() << "\n";
  else std::cout << "cluster " << o.name << ": " << Pricing(*doc) << "\n";
  return kExitOk;
}

}  // namespace lattice::cli
