// The cost routes of the API (docs/cost.md):
//   GET /cost?by=run|user|cluster&since=DATE   spend grouped, biggest first
//   GET /runs/{run}/cost                       one run's spend per experiment, and its limits
//   GET /durations?script=NAME                 how long earlier runs of a script ran
// Loop thread only.
#pragma once

#include <string>

#include "common/json.h"
#include "common/result.h"
#include "net/http_server.h"
#include "server/controller.h"

namespace lattice {

class CostApi final {
 public:
  explicit CostApi(const Controller& controller) : controller_(controller) {}

  Result<Json> Report(const net::HttpRequest& req) const;
  Result<Json> RunCost(const std::string& run) const;
  Result<Json> Durations(const net::HttpRequest& req) const;

 private:
  const Controller& controller_;
};

}  // namespace lattice
