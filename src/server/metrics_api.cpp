#include "server/metrics_api.h"

#include <cmath>
#include <set>

#include "common/log.h"
#include "metrics/points_codec.h"
#include "server/api_util.h"

namespace lattice {
namespace {

Result<int> QueryExperiment(const net::HttpRequest& req, const Run& run) {
  auto it = req.query.find("experiment");
  if (it == req.query.end() || it->second.empty()) return -1;
  LATTICE_ASSIGN_OR_RETURN(int exp, ParseExperimentId(it->second));
  if (static_cast<size_t>(exp) >= run.experiments.size())
    return Error(ErrorCode::kNotFound, "run '" + run.name + "' has no experiment " + std::to_string(exp), "experiment");
  return exp;
}

// "0,2,5" (or absent: every experiment of the run).
Result<std::vector<int>> QueryExperiments(const net::HttpRequest& req, const Run& run) {
  std::vector<int> out;
  auto it = req.query.find("experiments");
  if (it == req.query.end() || it->second.empty()) {
    for (const auto& e : run.experiments) out.push_back(e.index);
    return out;
  }
  std::set<int> seen;
  for (const std::string& part : Split(it->second, ',')) {
    auto parsed = ParseExperimentId(part);
    if (!parsed.ok()) return Error(ErrorCode::kInvalidArgument, parsed.error().message, "experiments");
    const int exp = *parsed;
    if (static_cast<size_t>(exp) >= run.experiments.size())
      return Error(ErrorCode::kNotFound, "run '" + run.name + "' has no experiment " + std::to_string(exp),
                   "experiments");
    if (seen.insert(exp).second) out.push_back(exp);
  }
  return out;
}

Json SummaryToJson(const metrics::SeriesSummary& s) {
  auto finite_or_null = [](double v) { return std::isnan(v) ? Json(nullptr) : NumberToJson(v); };
  return Json{{"count", s.count},
              {"last", NumberToJson(s.last.value)},
              {"last_step", s.last.step},
              {"min", finite_or_null(s.min)},
              {"max", finite_or_null(s.max)},
              {"nan_count", s.nan_count}};
}

}  // namespace

std::string MetricsApi::ExperimentKey(const std::string& run, int experiment) {
  return run + "/" + std::to_string(experiment);
}

Json PointsToJson(const std::vector<metrics::Point>& points) {
  Json steps = Json::array(), times = Json::array(), values = Json::array();
  for (const auto& p : points) {
    steps.push_back(p.step);
    times.push_back(p.time);
    values.push_back(NumberToJson(p.value));
  }
  return Json{{"steps", std::move(steps)}, {"times", std::move(times)}, {"values", std::move(values)}};
}

void MetricsApi::Ingest(const std::string& node, int64_t attempt_id, const net::HttpRequest& req, net::Exchange& ex) {
  auto offset = QueryNumber<uint64_t>(req, "offset", 0, 0, UINT64_MAX / 2);
  if (!offset.ok()) return ex.Respond(ErrorResponse(offset.error()));
  if (Status st = controller_.AcceptsData(node, attempt_id); !st.ok()) return ex.Respond(ErrorResponse(st.error()));
  const Attempt* a = controller_.FindAttempt(attempt_id);
  auto batch = metrics::DecodeFrames(req.body);
  if (!batch.ok()) return ex.Respond(ErrorResponse(batch.error()));
  const std::string key = ExperimentKey(a->run, a->experiment);
  // A gang's parts append as one generation, their gang's (Attempt::gang; 0 for a lone attempt).
  auto length = store_.Append(key, attempt_id, *offset, *offset + req.body.size(), *batch, a->gang);
  if (!length.ok()) {
    net::HttpResponse r = ErrorResponse(length.error());
    if (length.error().code == ErrorCode::kFailedPrecondition) {
      Json j = Json::parse(r.body);
      j["length"] = store_.AcceptedLength(key, attempt_id);
      r.body = j.dump();
    } else {
      LOG_WARN("api", "storing metrics of attempt " << attempt_id << ": " << length.error().message);
    }
    return ex.Respond(std::move(r));
  }
  ex.Respond(JsonResponse(200, Json{{"length", *length}}));
  Publish(a->run, a->experiment, *batch);
}

void MetricsApi::Handle(const std::vector<std::string>& p, const net::HttpRequest& req,
                        const std::shared_ptr<net::Exchange>& ex) {
  // The path first: an unknown one is "no such endpoint", whatever the method or run.
  const bool series = p.size() == 4 && p[3] == "series";
  const bool stream = p.size() == 4 && p[3] == "stream";
  if (p.size() != 3 && !series && !stream)
    return ex->Respond(ErrorResponse(Error(ErrorCode::kNotFound, "no such endpoint: " + req.method + " " + req.path)));
  if (req.method != "GET")
    return ex->Respond(ErrorResponse(Error(ErrorCode::kInvalidArgument, "method " + req.method + " is not allowed on " + req.path)));
  const Run* run = controller_.FindRun(p[1]);
  if (!run) return ex->Respond(ErrorResponse(Error(ErrorCode::kNotFound, "no run named '" + p[1] + "'")));
  if (series) return Series(*run, req, *ex);
  if (stream) return OpenStream(*run, req, ex);
  Summary(*run, req, *ex);
}

void MetricsApi::Summary(const Run& run, const net::HttpRequest& req, net::Exchange& ex) {
  auto only = QueryExperiment(req, run);
  if (!only.ok()) return ex.Respond(ErrorResponse(only.error()));
  Json experiments = Json::array();
  for (const Experiment& e : run.experiments) {
    if (*only >= 0 && e.index != *only) continue;
    Json params = Json::object();
    for (size_t i = 0; i < run.spec.sweep.parameters.size() && i < e.params.size(); ++i)
      params[run.spec.sweep.parameters[i]] = e.params[i];
    Json keys = Json::object();
    for (const auto& s : store_.Summaries(ExperimentKey(run.name, e.index))) keys[s.key] = SummaryToJson(s);
    experiments.push_back(Json{{"experiment", e.index},
                               {"state", ToString(e.state)},
                               {"params", std::move(params)},
                               {"metrics", std::move(keys)}});
  }
  ex.Respond(JsonResponse(200, Json{{"run", run.name}, {"experiments", std::move(experiments)}}));
}

void MetricsApi::Series(const Run& run, const net::HttpRequest& req, net::Exchange& ex) {
  auto fail = [&](const Error& e) { ex.Respond(ErrorResponse(e)); };
  auto key = req.query.find("key");
  if (key == req.query.end() || key->second.empty())
    return fail(Error(ErrorCode::kInvalidArgument, "query parameter 'key' names the metric to read, e.g. key=loss", "key"));
  metrics::SeriesQuery query;
  auto max_points = QueryNumber<size_t>(req, "max_points", 1000, 2, 1'000'000);
  if (!max_points.ok()) return fail(max_points.error());
  query.max_points = *max_points;
  auto method = req.query.find("method");
  if (method != req.query.end() && !method->second.empty()) {
    if (method->second == "minmax") query.method = metrics::DownsampleMethod::kMinMax;
    else if (method->second == "lttb") query.method = metrics::DownsampleMethod::kLttb;
    else return fail(Error(ErrorCode::kInvalidArgument, "method must be minmax or lttb, got '" + method->second + "'", "method"));
  }
  for (auto [name, slot] : {std::pair{"min_step", &query.min_step}, std::pair{"max_step", &query.max_step}}) {
    if (!req.query.count(name)) continue;
    auto v = QueryNumber<int64_t>(req, name, 0, INT64_MIN, INT64_MAX);
    if (!v.ok()) return fail(v.error());
    *slot = *v;
  }
  auto experiments = QueryExperiments(req, run);
  if (!experiments.ok()) return fail(experiments.error());
  Json series = Json::array();
  for (int exp : *experiments) {
    auto read = store_.Read(ExperimentKey(run.name, exp), key->second, query);
    if (!read.ok()) {
      if (read.error().code == ErrorCode::kNotFound) continue;  // this experiment has not logged it (yet)
      return fail(read.error());
    }
    Json s = PointsToJson(read->points);
    s["experiment"] = exp;
    s["total"] = read->total;
    series.push_back(std::move(s));
  }
  ex.Respond(JsonResponse(200, Json{{"run", run.name},
                                    {"key", key->second},
                                    {"method", query.method == metrics::DownsampleMethod::kLttb ? "lttb" : "minmax"},
                                    {"series", std::move(series)}}));
}

void MetricsApi::OpenStream(const Run& run, const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex) {
  auto only = QueryExperiment(req, run);
  if (!only.ok()) return ex->Respond(ErrorResponse(only.error()));
  Stream s;
  s.exchange = ex;
  s.experiment = *only;
  if (auto k = req.query.find("key"); k != req.query.end()) s.key = k->second;
  ex->BeginStream(200, "text/event-stream");
  ex->Send("retry: 1000\n\n");
  streams_.emplace(run.name, std::move(s));
}

void MetricsApi::Publish(const std::string& run, int experiment, const std::vector<metrics::SeriesBatch>& batch) {
  auto range = streams_.equal_range(run);
  if (range.first == range.second) return;
  std::map<std::string, std::string> events;  // by key, rendered once
  for (auto it = range.first; it != range.second;) {
    Stream& s = it->second;
    if (s.exchange->Closed()) {
      it = streams_.erase(it);
      continue;
    }
    if (s.experiment < 0 || s.experiment == experiment) {
      for (const auto& series : batch) {
        if (!s.key.empty() && s.key != series.key) continue;
        auto& event = events[series.key];
        if (event.empty()) {
          Json j = PointsToJson(series.points);
          j["experiment"] = experiment;
          j["key"] = series.key;
          event = "event: points\ndata: " + j.dump() + "\n\n";
        }
        s.exchange->Send(event);
      }
    }
    ++it;
  }
}

}  // namespace lattice
