// The artifact and checkpoint routes of the API:
//   POST /agents/{node}/attempts/{id}/artifacts  {"kind", "files":[{path, sha256, size, mode}]}
//        records files whose blobs were uploaded; checkpoint files sent in
//        one request form one complete checkpoint
//   GET  /runs/{run}/artifacts[?experiment=N][&kind=artifact|checkpoint]
// and what a new attempt restores: the newest complete checkpoint.
// Loop thread only.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "model/agent_protocol.h"
#include "net/http_server.h"
#include "server/blob_store.h"
#include "server/controller.h"
#include "store/store.h"

namespace lattice {

class ArtifactApi final {
 public:
  ArtifactApi(Controller& controller, Store& store, BlobStore& blobs, const Clock& clock)
      : controller_(controller), store_(store), blobs_(blobs), clock_(clock) {}

  void Register(const std::string& node, int64_t attempt, const net::HttpRequest& req, net::Exchange& ex);
  // GET /runs/{run}/artifacts
  void List(const std::string& run, const net::HttpRequest& req, net::Exchange& ex);
  // Fills each assignment's restore list (the work sent to an agent).
  void AddRestores(AgentWork* work);

 private:
  Controller& controller_;
  Store& store_;
  BlobStore& blobs_;
  const Clock& clock_;
};

Json ToJson(const ArtifactRecord& r);

}  // namespace lattice
