#include "server/api_service.h"

#include "server/api_util.h"

#include <openssl/crypto.h>

#include "common/log.h"
#include "model/codec.h"
#include "server/rerun.h"
#include "server/run_query.h"
#include "snapshot/snapshot.h"

namespace lattice {
namespace {

constexpr const char* kPrefix = "/api/v1/";

// Where a log read starts: the experiment (path), the attempt (0: the
// newest) and the byte offset (query); shared by long polls and streams.
struct LogPosition {
  int exp = 0;
  int attempt = 0;
  uint64_t offset = 0;
};

Result<LogPosition> ParseLogPosition(const std::string& exp_id, const net::HttpRequest& req) {
  LogPosition at;
  LATTICE_ASSIGN_OR_RETURN(at.exp, ParseExperimentId(exp_id));
  LATTICE_ASSIGN_OR_RETURN(at.attempt, QueryNumber<int>(req, "attempt", 0, 0, 1'000'000));
  LATTICE_ASSIGN_OR_RETURN(at.offset, QueryNumber<uint64_t>(req, "offset", 0, 0, UINT64_MAX / 2));
  return at;
}

// The run an experiment-level route names, when it has that experiment:
// "no run named ..." and "run ... has no experiment N" are both 404.
Result<const Run*> RunWithExperiment(const Controller& controller, const std::string& name, int exp) {
  const Run* run = controller.FindRun(name);
  if (!run) return Error(ErrorCode::kNotFound, "no run named '" + name + "'");
  if (static_cast<size_t>(exp) >= run->experiments.size())
    return Error(ErrorCode::kNotFound, "run '" + name + "' has no experiment " + std::to_string(exp));
  return run;
}

}  // namespace

struct ApiService::Waiter {
  std::shared_ptr<net::Exchange> exchange;
  std::unique_ptr<net::TimerHandle> timer;
  std::function<bool(bool)> try_answer;
};

ApiService::ApiService(Controller& controller, Store& store, BlobStore& blobs, metrics::MetricsStore& metrics,
                       net::EventLoop& loop, const Clock& clock, ApiOptions options,
                       std::function<Json(const std::string&)> cluster_status)
    : controller_(controller),
      blobs_(blobs),
      blob_api_(blobs),
      metrics_api_(controller, metrics),
      artifact_api_(controller, store, blobs, clock),
      cluster_api_(controller, std::move(cluster_status)),
      cost_api_(controller),
      loop_(loop),
      clock_(clock),
      options_(std::move(options)),
      web_ui_(options_.web_dirs),
      rng_(std::random_device{}()) {}

ApiService::~ApiService() = default;

void ApiService::Handle(net::HttpRequest req, std::shared_ptr<net::Exchange> ex) {
  // The web UI: static files that hold no data, so no token (web_ui.h).
  if (req.path.rfind("/api/", 0) != 0 && (req.method == "GET" || req.method == "HEAD"))
    return ex->Respond(web_ui_.Serve(req));
  if (req.path.rfind(kPrefix, 0) != 0) {
    ex->Respond(ErrorResponse(Error(ErrorCode::kNotFound, "no such endpoint: " + req.method + " " + req.path +
                                                              " (the API lives under /api/v1/)")));
    return;
  }
  bool health = req.path == "/api/v1/health";
  if (!options_.required_token.empty() && !health) {
    const std::string& auth = req.Header("authorization");
    const std::string want = "Bearer " + options_.required_token;
    bool ok = auth.size() == want.size() && CRYPTO_memcmp(auth.data(), want.data(), want.size()) == 0;
    if (!ok) {
      ex->Respond(ErrorResponse(Error(ErrorCode::kUnauthenticated,
                                      "missing or wrong token: send 'Authorization: Bearer <token>' with the token "
                                      "from the server's LATTICE_HOME/token")));
      return;
    }
  }
  Route(req, ex);
}

void ApiService::Route(const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex) {
  const auto p = SplitPath(req.path.substr(std::string(kPrefix).size()));
  const std::string& m = req.method;
  auto respond = [&](const Result<Json>& r, int status = 200) {
    ex->Respond(r.ok() ? JsonResponse(status, *r) : ErrorResponse(r.error()));
  };
  auto json_body = [&]() -> Result<Json> {
    if (req.body.size() > options_.max_json_bytes)
      return Error(ErrorCode::kResourceExhausted, "JSON body of " + std::to_string(req.body.size()) +
                                                      " bytes exceeds the limit of " +
                                                      std::to_string(options_.max_json_bytes) + " bytes");
    return ParseJson(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  };
  auto not_allowed = [&]() {
    ex->Respond(ErrorResponse(Error(ErrorCode::kInvalidArgument, "method " + m + " is not allowed on " + req.path)));
  };

  if (p.size() == 1 && p[0] == "health") {
    if (m != "GET") return not_allowed();
    return respond(Json{{"status", "ok"}});
  }
  if (p.size() >= 1 && p[0] == "runs") {
    if (p.size() == 1) {
      if (m == "GET") return ex->Respond(ListRuns(req));
      if (m == "POST") {
        auto body = json_body();
        if (!body.ok()) return respond(body.error());
        auto request = ParseSubmitRequest(*body);
        if (!request.ok()) return respond(request.error());
        return ex->Respond(SubmitChecked(std::move(request).value()));
      }
      return not_allowed();
    }
    const std::string& name = p[1];
    if (p.size() >= 3 && p[2] == "metrics") return metrics_api_.Handle(p, req, ex);
    if (p.size() == 3 && p[2] == "artifacts") {
      if (m != "GET") return not_allowed();
      return artifact_api_.List(name, req, *ex);
    }
    if (p.size() == 2) {
      if (m != "GET") return not_allowed();
      return ex->Respond(GetRun(name));
    }
    if (p.size() == 3 && p[2] == "cost") {
      if (m != "GET") return not_allowed();
      return respond(cost_api_.RunCost(name));
    }
    if (p.size() == 3 && p[2] == "rerun") {
      if (m != "POST") return not_allowed();
      auto body = json_body();
      if (!body.ok()) return respond(body.error());
      return ex->Respond(Rerun(name, *body));
    }
    if (p.size() == 3 && p[2] == "cancel") {
      if (m != "POST") return not_allowed();
      Status st = controller_.Cancel(name, std::nullopt);
      if (!st.ok()) return respond(st.error());
      return ex->Respond(GetRun(name));
    }
    if (p.size() == 5 && p[2] == "experiments") {
      auto exp = ParseExperimentId(p[3]);
      if (!exp.ok()) return respond(exp.error());
      if (p[4] == "cancel") {
        if (m != "POST") return not_allowed();
        Status st = controller_.Cancel(name, *exp);
        if (!st.ok()) return respond(st.error());
        return ex->Respond(GetRun(name));
      }
      if (p[4] == "logs") {
        if (m != "GET") return not_allowed();
        return Logs(name, p[3], req, ex);
      }
      if (p[4] == "attempts") {
        if (m != "GET") return not_allowed();
        return ex->Respond(ListAttempts(name, p[3]));
      }
    }
  }
  if (p.size() == 1 && (p[0] == "cost" || p[0] == "durations")) {
    if (m != "GET") return not_allowed();
    return respond(p[0] == "cost" ? cost_api_.Report(req) : cost_api_.Durations(req));
  }
  if (p.size() == 1 && p[0] == "events") {
    if (m != "GET") return not_allowed();
    return OpenEventStream(req, ex);
  }
  if (p.size() == 6 && p[0] == "runs" && p[2] == "experiments" && p[4] == "logs" && p[5] == "stream") {
    if (m != "GET") return not_allowed();
    return OpenLogStream(p[1], p[3], req, ex);
  }
  if (p.size() == 1 && p[0] == "nodes") {
    if (m != "GET") return not_allowed();
    Json nodes = Json::array();
    for (const auto& n : controller_.Nodes()) nodes.push_back(ToJson(n, controller_.RunningOn(n.id)));
    return respond(Json{{"nodes", nodes}});
  }
  if (p.size() >= 1 && p[0] == "blobs") return blob_api_.Handle(p, req, *ex);
  if (p.size() >= 1 && p.size() <= 3 && p[0] == "clusters") return cluster_api_.Handle(p, req, *ex, options_.max_json_bytes);
  if (p.size() >= 2 && p[0] == "agents") {
    if (p.size() == 2 && p[1] == "register") {
      if (m != "POST") return not_allowed();
      auto body = json_body();
      if (!body.ok()) return respond(body.error());
      auto reg = ParseNodeRegistration(*body);
      if (!reg.ok()) return respond(reg.error());
      auto node = controller_.RegisterNode(*reg);
      if (!node.ok()) return respond(node.error());
      Json j = ToJson(**node, controller_.RunningOn((*node)->id));
      j["node_timeout_ms"] = controller_.NodeTimeoutMs();  // the agent stops gang ranks when cut off this long
      return respond(j);
    }
    const std::string& node = p[1];
    if (p.size() == 3 && (p[2] == "sync" || p[2] == "report")) {
      if (m != "POST") return not_allowed();
      if (p[2] == "sync") return Sync(node, req, ex);
      auto body = json_body();
      if (!body.ok()) return respond(body.error());
      auto reports = ParseAttemptReports(*body);
      if (!reports.ok()) return respond(reports.error());
      Status st = controller_.ApplyReports(node, *reports, /*full=*/false);
      if (!st.ok()) return respond(st.error());
      if (auto q = req.query.find("stopping"); q != req.query.end() && q->second == "1")
        st = controller_.NodeStopping(node);
      if (auto q = req.query.find("stopped"); st.ok() && q != req.query.end() && q->second == "1")
        st = controller_.NodeDown(node, "its agent stopped");
      if (!st.ok()) return respond(st.error());
      return respond(Json::object());
    }
    if (p.size() == 5 && p[2] == "attempts" && (p[4] == "points" || p[4] == "artifacts")) {
      auto attempt = ParseAttemptId(p[3]);
      if (!attempt.ok()) return respond(attempt.error());
      if (p[4] == "points") {
        if (m != "PUT") return not_allowed();
        return metrics_api_.Ingest(node, *attempt, req, *ex);
      }
      if (m != "POST") return not_allowed();
      if (req.body.size() > options_.max_json_bytes * 16)
        return respond(Error(ErrorCode::kResourceExhausted, "artifact registration body too large"));
      return artifact_api_.Register(node, *attempt, req, *ex);
    }
    if (p.size() == 5 && p[2] == "attempts" && p[4] == "log") {
      if (m != "PUT") return not_allowed();
      auto parsed = ParseAttemptId(p[3]);
      if (!parsed.ok()) return respond(parsed.error());
      const int64_t attempt = *parsed;
      auto offset = QueryNumber<uint64_t>(req, "offset", 0, 0, UINT64_MAX / 2);
      if (!offset.ok()) return respond(offset.error());
      auto length = controller_.AppendLog(node, attempt, *offset, req.body);
      if (!length.ok()) {
        net::HttpResponse r = ErrorResponse(length.error());
        const Attempt* a = controller_.FindAttempt(attempt);
        if (a && length.error().code == ErrorCode::kFailedPrecondition) {
          Json j = Json::parse(r.body);
          j["length"] = a->log_bytes;
          r.body = j.dump();
        }
        return ex->Respond(std::move(r));
      }
      return respond(Json{{"length", *length}});
    }
  }
  ex->Respond(ErrorResponse(Error(ErrorCode::kNotFound, "no such endpoint: " + m + " " + req.path)));
}

net::HttpResponse ApiService::ListRuns(const net::HttpRequest& req) const {
  auto query = ParseRunQuery(req.query);
  if (!query.ok()) return ErrorResponse(query.error());
  RunPage page = SelectRuns(controller_.Runs(), *query);
  Json runs = Json::array();
  for (const Run* r : page.runs) runs.push_back(Summary(*r));
  return JsonResponse(200, Json{{"runs", std::move(runs)}, {"total", page.total}});
}

net::HttpResponse ApiService::ListAttempts(const std::string& name, const std::string& exp_id) const {
  auto exp = ParseExperimentId(exp_id);
  if (!exp.ok()) return ErrorResponse(exp.error());
  auto run = RunWithExperiment(controller_, name, *exp);
  if (!run.ok()) return ErrorResponse(run.error());
  Json attempts = Json::array();
  for (const Attempt* a : controller_.Attempts(name, *exp))
    attempts.push_back(AttemptToJson(*a, controller_.Parts(a->id)));
  return JsonResponse(200, Json{{"attempts", std::move(attempts)}});
}

net::HttpResponse ApiService::SubmitChecked(SubmitRequest request) {
  const std::string& sha = request.spec.snapshot;
  if (!blobs_.Has(sha))
    return ErrorResponse(Error(ErrorCode::kInvalidArgument,
                               "snapshot " + sha + " was not uploaded; PUT it to /api/v1/blobs/ first", "snapshot"));
  if (!validated_snapshots_.count(sha)) {
    // Refuse a bad snapshot once, here, rather than on every attempt.
    Status valid = ValidateSnapshot(sha);
    if (!valid.ok()) return ErrorResponse(valid.error());
    validated_snapshots_.insert(sha);
  }
  auto run = controller_.Submit(std::move(request), rng_);
  if (!run.ok()) return ErrorResponse(run.error());
  LOG_INFO("api", "run " << (*run)->name << " submitted");
  net::HttpResponse r = GetRun((*run)->name);
  r.status = 201;
  return r;
}

net::HttpResponse ApiService::Rerun(const std::string& name, const Json& body) {
  // The request is read first: a malformed body is the caller's error
  // whichever run it names.
  auto request = ParseRerunRequest(body);
  if (!request.ok()) return ErrorResponse(request.error());
  const Run* old = controller_.FindRun(name);
  if (!old) return ErrorResponse(Error(ErrorCode::kNotFound, "no run named '" + name + "'"));
  auto submission = BuildRerun(*old, *request);
  if (!submission.ok()) return ErrorResponse(submission.error());
  LOG_INFO("api", "rerun of " << name << " requested");
  return SubmitChecked(std::move(submission).value());
}

Status ApiService::ValidateSnapshot(const std::string& sha) {
  auto invalid = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "snapshot " + sha + " is not a valid code archive: " + why, "snapshot");
  };
  // A manifest of the most chunks one may list is about 8 MB; a larger blob
  // is something else, and need not be read to say so.
  LATTICE_ASSIGN_OR_RETURN(uint64_t size, blobs_.Size(sha));
  if (size > (16u << 20)) return invalid("a blob of " + HumanBytes(size) + " is not a snapshot manifest");
  LATTICE_ASSIGN_OR_RETURN(std::string text, blobs_.Get(sha));
  auto manifest = snapshot::ParseManifest(text);
  if (!manifest.ok()) return invalid(manifest.error().message);
  std::vector<std::string> missing;
  const std::vector<std::string> chunks = manifest->DistinctChunks();
  for (const std::string& chunk : chunks) {
    if (!blobs_.Has(chunk)) missing.push_back(chunk);
  }
  if (!missing.empty()) {
    std::string names;
    for (size_t i = 0; i < missing.size() && i < 3; ++i) names += (i ? ", " : "") + missing[i];
    if (missing.size() > 3) names += ", ...";
    return Error(ErrorCode::kInvalidArgument,
                 "snapshot " + sha + " lacks " + std::to_string(missing.size()) + " of its " +
                     std::to_string(chunks.size()) + " chunks (" + names +
                     "); upload them with PUT /api/v1/blobs/{sha256} (POST /api/v1/blobs/missing lists them)",
                 "snapshot");
  }
  auto info = snapshot::InspectSnapshot(
      *manifest, [this](const snapshot::ManifestChunk& c) { return blobs_.Get(c.sha256); });
  if (!info.ok()) return invalid(info.error().message);
  return OkStatus();
}

net::HttpResponse ApiService::GetRun(const std::string& name) {
  const Run* run = controller_.FindRun(name);
  if (!run) return ErrorResponse(Error(ErrorCode::kNotFound, "no run named '" + name + "'"));
  uint64_t version = controller_.RunVersion(name);
  auto& cached = run_cache_[name];
  if (cached.second.empty() || cached.first != version) {
    cached.first = version;
    cached.second = RunToJson(*run, controller_.CurrentAttempts(*run)).dump();
  }
  net::HttpResponse r;
  r.body = cached.second;
  return r;
}

void ApiService::Sync(const std::string& node, const net::HttpRequest& req,
                      const std::shared_ptr<net::Exchange>& ex) {
  auto wait_ms = QueryNumber<int64_t>(req, "wait_ms", 0, 0, options_.max_wait_ms);
  if (!wait_ms.ok()) return ex->Respond(ErrorResponse(wait_ms.error()));
  if (req.body.size() > options_.max_json_bytes * 16)
    return ex->Respond(ErrorResponse(Error(ErrorCode::kResourceExhausted, "sync body too large")));
  auto body = ParseJson(req.body.empty() ? std::string_view("{}") : std::string_view(req.body));
  if (!body.ok()) return ex->Respond(ErrorResponse(body.error()));
  auto reports = ParseAttemptReports(*body);
  if (!reports.ok()) return ex->Respond(ErrorResponse(reports.error()));
  Status st = controller_.ApplyReports(node, *reports, /*full=*/true);
  if (!st.ok()) return ex->Respond(ErrorResponse(st.error()));
  std::set<int64_t> reported;
  for (const auto& r : *reports) reported.insert(r.id);
  auto try_answer = [this, node, reported, ex](bool final_try) {
    AgentWork work = controller_.PendingWork(node, reported);
    if (work.empty() && !final_try) return false;
    if (!work.assign.empty()) artifact_api_.AddRestores(&work);
    // Not Seen(node) here: answering a parked poll proves nothing about the
    // agent (it may have died or been cut off since it asked); its requests
    // (this sync's arrival, its reports every 2 s) do.
    ex->Respond(JsonResponse(200, ToJson(work)));
    return true;
  };
  if (try_answer(*wait_ms == 0)) return;
  Wait("node:" + node, *wait_ms, ex, try_answer);
}

void ApiService::Logs(const std::string& run, const std::string& exp_id, const net::HttpRequest& req,
                      const std::shared_ptr<net::Exchange>& ex) {
  auto at = ParseLogPosition(exp_id, req);
  auto wait_ms = QueryNumber<int64_t>(req, "wait_ms", 0, 0, options_.max_wait_ms);
  auto max_bytes = QueryNumber<size_t>(req, "max_bytes", 4 << 20, 1, 64 << 20);
  for (const Error* e : {at.ok() ? nullptr : &at.error(), wait_ms.ok() ? nullptr : &wait_ms.error(),
                         max_bytes.ok() ? nullptr : &max_bytes.error()}) {
    if (e) return ex->Respond(ErrorResponse(*e));
  }
  auto try_answer = [this, run, at = *at, max_bytes = *max_bytes, ex](bool final_try) {
    return TryAnswerLogs(run, at.exp, at.attempt, at.offset, max_bytes, final_try, *ex);
  };
  if (try_answer(*wait_ms == 0)) return;
  Wait("run:" + run, *wait_ms, ex, try_answer);
}

bool ApiService::TryAnswerLogs(const std::string& run_name, int exp, int number, uint64_t offset, size_t max_bytes,
                               bool final_try, net::Exchange& ex) {
  auto run = RunWithExperiment(controller_, run_name, exp);
  if (!run.ok()) {
    ex.Respond(ErrorResponse(run.error()));
    return true;
  }
  const Experiment& e = (*run)->experiments[static_cast<size_t>(exp)];
  const Attempt* a = controller_.FindAttempt(run_name, exp, number);
  net::HttpResponse r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("X-Lattice-Experiment-State", ToString(e.state));
  r.headers.emplace_back("X-Lattice-Attempts", std::to_string(e.attempts));
  if (e.exit_code) r.headers.emplace_back("X-Lattice-Exit-Code", std::to_string(*e.exit_code));
  if (!a) {
    if (number > 0 && number <= e.attempts) {
      ex.Respond(ErrorResponse(Error(ErrorCode::kNotFound, "no attempt " + std::to_string(number))));
      return true;
    }
    bool done = IsTerminal(e.state);
    if (!done && !final_try) return false;
    r.headers.emplace_back("X-Lattice-Attempt", "0");
    r.headers.emplace_back("X-Lattice-Next-Offset", "0");
    r.headers.emplace_back("X-Lattice-Complete", done ? "1" : "0");
    ex.Respond(std::move(r));
    return true;
  }
  auto data = controller_.ReadLog(a->id, offset, max_bytes);
  if (!data.ok()) {
    ex.Respond(ErrorResponse(data.error()));
    return true;
  }
  uint64_t next = offset + data->size();
  bool complete = controller_.LogComplete(*a) && next >= a->log_bytes;
  if (data->empty() && !complete && !final_try) return false;
  r.headers.emplace_back("X-Lattice-Attempt", std::to_string(a->number));
  r.headers.emplace_back("X-Lattice-Attempt-State", ToString(a->state));
  r.headers.emplace_back("X-Lattice-Next-Offset", std::to_string(next));
  r.headers.emplace_back("X-Lattice-Complete", complete ? "1" : "0");
  r.body = std::move(data).value();
  ex.Respond(std::move(r));
  return true;
}

void ApiService::Wait(const std::string& key, int64_t wait_ms, std::shared_ptr<net::Exchange> ex,
                      std::function<bool(bool)> try_answer) {
  auto w = std::make_shared<Waiter>();
  w->exchange = ex;
  w->try_answer = std::move(try_answer);
  waiters_.emplace(key, w);
  std::weak_ptr<Waiter> weak = w;
  auto remove = [this, key, weak]() {
    if (auto sp = weak.lock()) RemoveWaiter(key, sp);
  };
  w->timer = loop_.RunAfter(std::chrono::milliseconds(wait_ms), [weak, remove]() {
    auto sp = weak.lock();
    if (!sp) return;
    sp->try_answer(true);
    remove();
  });
  ex->OnClose(remove);
}

void ApiService::Wake(const std::string& key) {
  auto range = waiters_.equal_range(key);
  std::vector<std::shared_ptr<Waiter>> ready;
  for (auto i = range.first; i != range.second; ++i) ready.push_back(i->second);
  for (auto& w : ready) {
    if (w->exchange->Closed() || w->try_answer(false)) {
      if (w->timer) w->timer->Cancel();
      RemoveWaiter(key, w);
    }
  }
}

void ApiService::RemoveWaiter(const std::string& key, const std::shared_ptr<Waiter>& w) {
  auto range = waiters_.equal_range(key);
  for (auto i = range.first; i != range.second; ++i) {
    if (i->second == w) {
      waiters_.erase(i);
      return;
    }
  }
}

void ApiService::NodeHasWork(const std::string& node) { Wake("node:" + node); }

void ApiService::RunChanged(const std::string& run) {
  run_cache_.erase(run);
  Wake("run:" + run);
  if (!event_streams_.empty()) {
    if (const Run* r = controller_.FindRun(run)) {
      std::string event = "event: run\ndata: " + Summary(*r).dump() + "\n\n";
      std::erase_if(event_streams_, [](const EventStream& s) { return s.exchange->Closed(); });
      for (auto& s : event_streams_)
        if (s.run.empty() || s.run == run) s.exchange->Send(event);
    }
  }
  LogsArrived(run);  // a state change may end a log stream
}

void ApiService::LogsArrived(const std::string& run) {
  Wake("run:" + run);
  auto range = log_streams_.equal_range(run);
  for (auto it = range.first; it != range.second;) {
    if (PumpLogStream(*it->second)) ++it;
    else it = log_streams_.erase(it);
  }
}

struct ApiService::LogStream {
  std::shared_ptr<net::Exchange> exchange;
  std::string run;
  int exp = 0;
  int attempt = 0;  // 0: follow the newest, moving on after restarts
  int current = 0;  // the attempt number being sent
  uint64_t offset = 0;
};

void ApiService::OpenEventStream(const net::HttpRequest& req, const std::shared_ptr<net::Exchange>& ex) {
  auto it = req.query.find("run");
  std::string run = it == req.query.end() ? "" : it->second;
  auto initial = req.query.find("initial");
  const bool dump = initial == req.query.end() || initial->second == "1";
  if (!dump && initial->second != "0")
    return ex->Respond(ErrorResponse(Error(ErrorCode::kInvalidArgument,
                                           "query parameter 'initial' must be 0 or 1, got '" +
                                               initial->second.substr(0, 40) + "'",
                                           "initial")));
  if (!run.empty() && !controller_.FindRun(run))
    return ex->Respond(ErrorResponse(Error(ErrorCode::kNotFound, "no run named '" + run + "'")));
  ex->BeginStream(200, "text/event-stream");
  // Start with the current state so a client never misses what came before
  // it (unless it asked only for changes: it has just read the list).
  std::string first = "retry: 1000\n\n";
  for (const auto& r : controller_.Runs())
    if (dump && (run.empty() || r->name == run)) first += "event: run\ndata: " + Summary(*r).dump() + "\n\n";
  ex->Send(std::move(first));
  event_streams_.push_back({ex, run});
}

void ApiService::OpenLogStream(const std::string& run, const std::string& exp_id, const net::HttpRequest& req,
                               const std::shared_ptr<net::Exchange>& ex) {
  auto at = ParseLogPosition(exp_id, req);
  if (!at.ok()) return ex->Respond(ErrorResponse(at.error()));
  if (auto r = RunWithExperiment(controller_, run, at->exp); !r.ok()) return ex->Respond(ErrorResponse(r.error()));
  auto stream = std::make_shared<LogStream>();
  stream->exchange = ex;
  stream->run = run;
  stream->exp = at->exp;
  stream->attempt = at->attempt;
  stream->offset = at->offset;
  ex->BeginStream(200, "text/event-stream");
  ex->Send("retry: 1000\n\n");
  if (PumpLogStream(*stream)) log_streams_.emplace(run, stream);
}

bool ApiService::PumpLogStream(LogStream& s) {
  if (s.exchange->Closed()) return false;
  const Run* run = controller_.FindRun(s.run);
  if (!run) return false;
  const Experiment& e = run->experiments[static_cast<size_t>(s.exp)];
  for (;;) {
    int want = s.attempt ? s.attempt : (s.current ? s.current : 0);
    const Attempt* a = controller_.FindAttempt(s.run, s.exp, want);
    if (!a) {
      if (!IsTerminal(e.state)) return true;  // not started yet
      break;
    }
    s.current = a->number;
    for (;;) {
      auto data = controller_.ReadLog(a->id, s.offset, 1 << 20);
      if (!data.ok() || data->empty()) break;
      Json event{{"attempt", a->number}, {"offset", s.offset}, {"text", *data}};
      s.offset += data->size();
      // Bytes that are not UTF-8 become U+FFFD: SSE carries text.
      s.exchange->Send("event: log\ndata: " + event.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n");
    }
    if (!controller_.LogComplete(*a) || s.offset < a->log_bytes) return true;
    if (s.attempt != 0 || (IsTerminal(e.state) && a->number >= e.attempts)) break;
    if (a->number >= e.attempts) return true;  // requeued: the next attempt is not placed yet
    s.current = a->number + 1;
    s.offset = 0;
  }
  Json end{{"state", ToString(e.state)}, {"exit_code", e.exit_code ? Json(*e.exit_code) : Json(nullptr)}};
  s.exchange->Send("event: end\ndata: " + end.dump() + "\n\n");
  s.exchange->End();
  return false;
}

}  // namespace lattice
