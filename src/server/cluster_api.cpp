#include "server/cluster_api.h"

#include <unistd.h>

#include "common/log.h"
#include "model/codec.h"
#include "server/api_util.h"

namespace lattice {

Json ClusterApi::Show(const Cluster& c) const {
  Json j = ToJson(c);
  j["created_at"] = IsoTime(c.created_at_ms);
  Json nodes = Json::array();
  for (const auto& n : controller_.Nodes())
    if (n.cluster == c.name) nodes.push_back(ToJson(n, controller_.RunningOn(n.id)));
  j["nodes"] = nodes;
  j["status"] = status_of_ ? status_of_(c.name) : Json::object();
  const Controller::Spend month = controller_.ClusterMonthSpend(c.name);
  j["month"] =
      Json{{"month", controller_.CurrentMonth()}, {"cost", month.cost}, {"rate_per_hour", month.rate_per_hour}};
  return j;
}

void ClusterApi::Handle(const std::vector<std::string>& p, const net::HttpRequest& req, net::Exchange& ex,
                        size_t max_json_bytes) {
  const std::string& m = req.method;
  auto fail = [&](const Error& e) { ex.Respond(ErrorResponse(e)); };
  auto json_body = [&]() -> Result<Json> {  // POST and PATCH
    if (req.body.size() > max_json_bytes) return Error(ErrorCode::kResourceExhausted, "JSON body too large");
    return ParseJson(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  };
  auto not_allowed = [&] {
    fail(Error(ErrorCode::kInvalidArgument, "method " + m + " is not allowed on " + req.path));
  };
  if (p.size() == 1) {
    if (m == "GET") {
      Json list = Json::array();
      for (const auto& [name, c] : controller_.Clusters()) list.push_back(Show(c));
      return ex.Respond(JsonResponse(200, Json{{"clusters", list}, {"default", controller_.DefaultCluster()}}));
    }
    if (m != "POST") return not_allowed();
    auto body = json_body();
    if (!body.ok()) return fail(body.error());
    auto cluster = ParseCluster(*body);
    if (!cluster.ok()) return fail(cluster.error());
    // The server reads the key, so it must be there for the server's user.
    if (!cluster->identity.empty() && ::access(cluster->identity.c_str(), R_OK) != 0)
      return fail(Error(ErrorCode::kInvalidArgument,
                        "field 'identity': the server cannot read " + cluster->identity +
                            " (it must be a private key file on the server's machine)",
                        "identity"));
    auto created = controller_.CreateCluster(std::move(cluster).value());
    if (!created.ok()) return fail(created.error());
    return ex.Respond(JsonResponse(201, Show(**created)));
  }
  if (p.size() == 3 && p[2] != "default")
    return fail(Error(ErrorCode::kNotFound, "no such endpoint: " + m + " " + req.path));
  if (p.size() == 2 ? (m != "GET" && m != "DELETE" && m != "PATCH") : m != "POST") return not_allowed();
  const Cluster* c = controller_.FindCluster(p[1]);
  if (!c) return fail(Error(ErrorCode::kNotFound, "no cluster named '" + p[1] + "'"));
  if (p.size() == 2) {
    if (m == "GET") return ex.Respond(JsonResponse(200, Show(*c)));
    if (m == "PATCH") {
      auto body = json_body();
      if (!body.ok()) return fail(body.error());
      auto updated = ParseClusterUpdate(*body, *c);
      if (!updated.ok()) return fail(updated.error());
      auto stored = controller_.UpdateCluster(std::move(updated).value());
      if (!stored.ok()) return fail(stored.error());
      return ex.Respond(JsonResponse(200, Show(**stored)));
    }
    Status st = controller_.DeleteCluster(p[1]);
    if (!st.ok()) return fail(st.error());
    return ex.Respond(JsonResponse(200, Json{{"deleted", p[1]}}));
  }
  Status st = controller_.SetDefaultCluster(p[1]);
  if (!st.ok()) return fail(st.error());
  ex.Respond(JsonResponse(200, Show(*c)));
}

}  // namespace lattice
