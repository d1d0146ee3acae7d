// The HTTP/JSON API under /api/v1 (api/openapi.yaml is its contract): routes
// requests to the Controller, renders JSON, maps errors to statuses once, and
// runs the long polls (agent sync, log follow) on the event loop.
// Loop thread only.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "net/http_server.h"
#include "server/api_util.h"
#include "server/artifact_api.h"
#include "server/blob_api.h"
#include "server/blob_store.h"
#include "server/cluster_api.h"
#include "server/cost_api.h"
#include "server/controller.h"
#include "server/metrics_api.h"
#include "server/web_ui.h"

namespace lattice {

struct ApiOptions {
  // Empty: no token is required (loopback only). Otherwise every request but
  // GET /api/v1/health must carry "Authorization: Bearer <token>".
  std::string required_token;
  size_t max_json_bytes = 1 << 20;
  int64_t max_wait_ms = 30'000;
  // Where the web UI's built files may be (WebDirCandidates); the first that
  // holds index.html serves GET/HEAD outside /api/. Empty: a page saying the
  // UI is not built.
  std::vector<std::filesystem::path> web_dirs;
};

class ApiService final {
 public:
  // cluster_status: the backend's view of a cluster, for GET /clusters/{name} (may be empty).
  ApiService(Controller& controller, Store& store, BlobStore& blobs, metrics::MetricsStore& metrics,
             net::EventLoop& loop, const Clock& clock, ApiOptions options,
             std::function<Json(const std::string&)> cluster_status = nullptr);
  ~ApiService();

  void Handle(net::HttpRequest request, std::shared_ptr<net::Exchange> exchange);

  // Controller listener hooks.
  void NodeHasWork(const std::string& node);
  void RunChanged(const std::string& run);
  void LogsArrived(const std::string& run);

 private:
  struct Waiter;
  using Params = std::vector<std::string>;

  void Route(const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex);
  net::HttpResponse GetRun(const std::string& name);
  Json Summary(const Run& run) const { return RunSummaryToJson(run, controller_.Times(run)); }
  // GET /runs with its filters and paging (run_query.h).
  net::HttpResponse ListRuns(const net::HttpRequest& req) const;
  net::HttpResponse ListAttempts(const std::string& run, const std::string& exp_id) const;
  // The checks of POST /runs (snapshot uploaded and valid), then the submit:
  // 201 and the new run's document.
  net::HttpResponse SubmitChecked(SubmitRequest request);
  // POST /runs/{run}/rerun.
  net::HttpResponse Rerun(const std::string& run, const Json& body);
  // Checks a submitted snapshot: a manifest whose chunks are all stored and
  // unpack to a valid tree (InspectSnapshot); errors name field "snapshot".
  Status ValidateSnapshot(const std::string& sha);
  void Sync(const std::string& node, const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex);
  void Logs(const std::string& run, const std::string& exp, const net::HttpRequest& req,
            const std::shared_ptr<net::Exchange>& ex);
  // Answers a log request now if it can; false means wait.
  bool TryAnswerLogs(const std::string& run, int exp, int attempt, uint64_t offset, size_t max_bytes, bool final_try,
                     net::Exchange& ex);
  // Server-sent events: run state changes, and one experiment's log.
  void OpenEventStream(const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex);
  void OpenLogStream(const std::string& run, const std::string& exp, const net::HttpRequest& req,
                     const std::shared_ptr<net::Exchange>& ex);
  struct LogStream;
  // Sends what a log stream lacks; false once it ended (or its peer left).
  bool PumpLogStream(LogStream& stream);
  void Wait(const std::string& key, int64_t wait_ms, std::shared_ptr<net::Exchange> ex,
            std::function<bool(bool final_try)> try_answer);
  void Wake(const std::string& key);
  void RemoveWaiter(const std::string& key, const std::shared_ptr<Waiter>& w);

  Controller& controller_;
  BlobStore& blobs_;
  BlobApi blob_api_;
  MetricsApi metrics_api_;
  ArtifactApi artifact_api_;
  ClusterApi cluster_api_;
  CostApi cost_api_;
  net::EventLoop& loop_;
  const Clock& clock_;
  const ApiOptions options_;
  WebUi web_ui_;
  std::mt19937_64 rng_;
  // Rendered GET /runs/{name} bodies by run, with the version they show.
  std::map<std::string, std::pair<uint64_t, std::string>> run_cache_;
  std::set<std::string> validated_snapshots_;  // manifests that passed ValidateSnapshot
  // Long polls by what they wait for: "node:<id>" or "run:<name>".
  std::multimap<std::string, std::shared_ptr<Waiter>> waiters_;
  struct EventStream {
    std::shared_ptr<net::Exchange> exchange;
    std::string run;  // "" for all runs
  };
  std::vector<EventStream> event_streams_;
  std::multimap<std::string, std::shared_ptr<LogStream>> log_streams_;  // by run
};

}  // namespace lattice
