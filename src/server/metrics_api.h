// The metrics routes of the API:
//   PUT  /agents/{node}/attempts/{id}/points?offset=N   binary point frames
//        (metrics/points_codec) from the agent's spool, idempotent by offset
//   GET  /runs/{run}/metrics[?experiment=N]              last/min/max per key
//   GET  /runs/{run}/metrics/series?key=K[&experiments=0,2][&max_points=N]
//        [&method=minmax|lttb][&min_step=A][&max_step=B]   downsampled series
//   GET  /runs/{run}/metrics/stream[?experiment=N][&key=K]  live points (SSE)
// Points of all attempts of an experiment go into one series per key; a
// later attempt's points supersede the earlier ones' from its lowest step on
// (metrics/series_store.h, "Resumed attempts").
// Loop thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "metrics/series_store.h"
#include "net/http_server.h"
#include "server/controller.h"

namespace lattice {

class MetricsApi final {
 public:
  MetricsApi(Controller& controller, metrics::MetricsStore& store) : controller_(controller), store_(store) {}

  // PUT /agents/{node}/attempts/{attempt}/points
  void Ingest(const std::string& node, int64_t attempt, const net::HttpRequest& req, net::Exchange& ex);
  // p: path segments after /api/v1/: {"runs", run, "metrics", ...}.
  void Handle(const std::vector<std::string>& p, const net::HttpRequest& req,
              const std::shared_ptr<net::Exchange>& ex);

  // The directory name of an experiment's series inside the store.
  static std::string ExperimentKey(const std::string& run, int experiment);

 private:
  struct Stream {
    std::shared_ptr<net::Exchange> exchange;
    int experiment = -1;  // -1: all
    std::string key;      // "": all
  };
  void Summary(const Run& run, const net::HttpRequest& req, net::Exchange& ex);
  void Series(const Run& run, const net::HttpRequest& req, net::Exchange& ex);
  void OpenStream(const Run& run, const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex);
  void Publish(const std::string& run, int experiment, const std::vector<metrics::SeriesBatch>& batch);

  Controller& controller_;
  metrics::MetricsStore& store_;
  std::multimap<std::string, Stream> streams_;  // by run
};

// Columnar JSON of points: {"steps":[...],"times":[...],"values":[...]},
// non-finite values as "NaN"/"Infinity"/"-Infinity".
Json PointsToJson(const std::vector<metrics::Point>& points);

}  // namespace lattice
