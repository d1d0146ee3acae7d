// The cluster routes of the API:
//   GET    /clusters                 every cluster, `local` among them
//   POST   /clusters                 create one (model/cluster.h ParseCluster)
//   GET    /clusters/{name}          one, with its nodes and its backend's status
//   PATCH  /clusters/{name}          change its pricing (price, instance type, monthly budget)
//   DELETE /clusters/{name}          refused while it has unfinished experiments
//   POST   /clusters/{name}/default  runs without --cluster go there
// Loop thread only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "server/controller.h"

namespace lattice {

class ClusterApi final {
 public:
  // status_of: the backend's view of a cluster (server/cluster_manager).
  ClusterApi(Controller& controller, std::function<Json(const std::string&)> status_of)
      : controller_(controller), status_of_(std::move(status_of)) {}

  // p: the path's segments after /api/v1, p[0] == "clusters".
  void Handle(const std::vector<std::string>& p, const net::HttpRequest& req, net::Exchange& ex,
              size_t max_json_bytes);

 private:
  Json Show(const Cluster& c) const;

  Controller& controller_;
  std::function<Json(const std::string&)> status_of_;
};

}  // namespace lattice
