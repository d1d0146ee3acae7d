#include "model/codec.h"

#include <ctime>

#include "common/redact.h"
#include "model/names.h"

namespace lattice {

std::string IsoTime(int64_t ms) {
  if (ms <= 0) return "";
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

Json ToJson(const Resources& r) {
  return Json{{"cpus", r.cpus}, {"memory_bytes", r.memory_bytes}, {"gpus", r.gpus}};
}

Json ToJson(const Gpu& g) {
  return Json{{"index", g.index}, {"name", g.name}, {"memory_bytes", g.memory_bytes}};
}

Json ToJson(const Node& n, const std::vector<NodeWork>& running) {
  Json gpus = Json::array();
  for (const auto& g : n.gpus) gpus.push_back(ToJson(g));
  Json work = Json::array();
  for (const auto& w : running)
    work.push_back(Json{{"run", w.run}, {"experiment", w.experiment}, {"attempt", w.attempt}, {"gpus", w.gpus}});
  return Json{{"id", n.id},
              {"hostname", n.hostname},
              {"cpus", n.cpus},
              {"memory_bytes", n.memory_bytes},
              {"gpus", gpus},
              {"address", n.address},
              {"cluster", n.cluster},
              {"allocation", n.allocation},
              {"reason", n.reason},
              {"state", ToString(n.state)},
              {"registered_at", IsoTime(n.registered_at_ms)},
              {"last_seen", IsoTime(n.last_seen_ms)},
              {"running", work}};
}

Json ToJson(const Experiment& e, const Attempt* current, const std::vector<std::string>& parameters) {
  Json params = Json::object();
  for (size_t i = 0; i < parameters.size() && i < e.params.size(); ++i) params[parameters[i]] = e.params[i];
  Json j{{"id", std::to_string(e.index)},
         {"state", ToString(e.state)},
         {"args", e.args},
         {"exit_code", e.exit_code ? Json(*e.exit_code) : Json(nullptr)},
         {"attempts", e.attempts},
         {"restarts", e.restarts},
         {"node", e.node.empty() ? Json(nullptr) : Json(e.node)},
         {"reason", e.reason},
         {"params", params}};
  if (current) {
    j["started_at"] = IsoTime(current->started_at_ms);
    j["ended_at"] = IsoTime(current->ended_at_ms);
    j["gpus"] = current->gpu_indices;
  } else {
    j["started_at"] = "";
    j["ended_at"] = "";
    j["gpus"] = Json::array();
  }
  return j;
}

Json AttemptToJson(const Attempt& a, const std::vector<const Attempt*>& parts) {
  Json nodes = Json::array();
  for (const Attempt* p : parts) nodes.push_back(p->node);
  // A gang's head holds no GPUs itself: show those of rank 0, on its node.
  const Attempt& first = parts.empty() ? a : *parts.front();
  return Json{{"number", a.number},
              {"state", ToString(a.state)},
              {"node", first.node},
              {"nodes", nodes.empty() ? Json::array({a.node}) : nodes},
              {"exit_code", a.exit_code ? Json(*a.exit_code) : Json(nullptr)},
              {"started_at", IsoTime(a.started_at_ms)},
              {"ended_at", IsoTime(a.ended_at_ms)},
              {"gpus", first.gpu_indices},
              {"reason", a.reason}};
}

Json RunSummaryToJson(const Run& run, const RunTimes& times) {
  Json counts = Json::object();
  for (const auto& e : run.experiments) {
    std::string key = ToString(e.state);
    counts[key] = counts.value(key, 0) + 1;
  }
  return Json{{"name", run.name},
              {"state", ToString(RunStateOf(run))},
              {"description", run.description},
              {"created_at", IsoTime(run.created_at_ms)},
              {"experiments", run.experiments.size()},
              {"experiment_states", counts},
              {"script", run.spec.script},
              {"gpus", static_cast<int64_t>(run.spec.resources.gpus) * run.spec.nodes},
              {"cluster", run.spec.cluster},
              {"started_at", IsoTime(times.started_at_ms)},
              {"ended_at", IsoTime(times.ended_at_ms)}};
}

Json RunToJson(const Run& run, const std::vector<const Attempt*>& current_attempts) {
  Json exps = Json::array();
  for (size_t i = 0; i < run.experiments.size(); ++i) {
    const Attempt* a = i < current_attempts.size() ? current_attempts[i] : nullptr;
    exps.push_back(ToJson(run.experiments[i], a, run.spec.sweep.parameters));
  }
  Json env_names = Json::array();
  for (const auto& [k, v] : run.spec.env) env_names.push_back(k);
  return Json{{"name", run.name},
              {"state", ToString(RunStateOf(run))},
              {"description", run.description},
              {"created_at", IsoTime(run.created_at_ms)},
              {"script", run.spec.script},
              {"args", run.spec.args},
              {"snapshot", run.spec.snapshot},
              {"resources", ToJson(run.spec.resources)},
              {"nodes", run.spec.nodes},
              {"launcher", EffectiveLauncher(run.spec)},
              {"cluster", run.spec.cluster},
              {"env_names", env_names},
              {"python", run.spec.python},
              {"max_restarts", run.spec.max_restarts},
              {"priority", run.spec.priority},
              {"max_parallel", run.spec.max_parallel},
              {"max_cost", run.spec.max_cost},
              {"max_duration_ms", run.spec.max_duration_ms},
              {"user", run.spec.user},
              {"sweep", SweepToJson(run.spec.sweep)},
              {"grace_ms", run.spec.grace_ms},
              {"environment", EnvironmentViewToJson(run.spec.environment)},
              {"experiments", exps}};
}

Result<RerunRequest> ParseRerunRequest(const Json& body) {
  RerunRequest req;
  JsonReader r(body, "");
  std::vector<std::string> args;
  std::string description;
  r.Optional("args", &args);
  r.Optional("name", &req.name);
  r.Optional("description", &description);
  LATTICE_RETURN_IF_ERROR(r.Finish());
  // null counts as absent, as everywhere in the API.
  if (body.contains("args") && !body["args"].is_null()) {
    for (const auto& a : args)
      if (a.find('\0') != std::string::npos)
        return Error(ErrorCode::kInvalidArgument, "an argument contains a NUL byte", "args");
    req.args = std::move(args);
  }
  if (body.contains("description") && !body["description"].is_null()) {
    if (description.size() > 10000)
      return Error(ErrorCode::kInvalidArgument, "field 'description' must be at most 10000 bytes", "description");
    req.description = std::move(description);
  }
  if (!req.name.empty()) LATTICE_RETURN_IF_ERROR(ValidateRunName(req.name));
  return req;
}

Status ParseResources(const Json& j, const std::string& path, Resources* out) {
  JsonReader r(j, path);
  r.Optional("cpus", &out->cpus);
  r.Optional("memory_bytes", &out->memory_bytes);
  r.Optional("gpus", &out->gpus);
  LATTICE_RETURN_IF_ERROR(r.Finish());
  if (!(out->cpus > 0) || out->cpus > 1e6)
    return Error(ErrorCode::kInvalidArgument, "field '" + path + ".cpus' must be a positive number", path + ".cpus");
  if (out->gpus < 0 || out->gpus > 4096)
    return Error(ErrorCode::kInvalidArgument, "field '" + path + ".gpus' must be between 0 and 4096", path + ".gpus");
  return OkStatus();
}

Status ParseGpus(const Json& j, const std::string& path, std::vector<Gpu>* out) {
  if (!j.is_array()) return Error(ErrorCode::kInvalidArgument, "field '" + path + "' must be an array", path);
  out->clear();
  for (size_t i = 0; i < j.size(); ++i) {
    std::string p = path + "[" + std::to_string(i) + "]";
    Gpu g;
    JsonReader r(j[i], p);
    r.Optional("index", &g.index);
    r.Optional("name", &g.name);
    r.Optional("memory_bytes", &g.memory_bytes);
    LATTICE_RETURN_IF_ERROR(r.Finish());
    out->push_back(g);
  }
  return OkStatus();
}

namespace {
Status ParseSpecFields(JsonReader& r, RunSpec* spec) {
  r.Required("script", &spec->script);
  r.Optional("args", &spec->args);
  r.Required("snapshot", &spec->snapshot);
  r.Optional("env", &spec->env);
  r.Optional("python", &spec->python);
  r.Optional("max_restarts", &spec->max_restarts);
  r.Optional("grace_ms", &spec->grace_ms);
  r.Optional("priority", &spec->priority);
  r.Optional("max_parallel", &spec->max_parallel);
  r.Optional("nodes", &spec->nodes);
  r.Optional("launcher", &spec->launcher);
  r.Optional("cluster", &spec->cluster);
  r.Optional("max_cost", &spec->max_cost);
  r.Optional("max_duration_ms", &spec->max_duration_ms);
  r.Optional("user", &spec->user);
  if (const Json* res = r.OptionalObject("resources")) {
    Status st = ParseResources(*res, r.FieldPath("resources"), &spec->resources);
    if (!st.ok()) r.Fail(st.error());
  }
  if (const Json* env = r.OptionalObject("environment")) {
    Status st = ParseEnvironment(*env, r.FieldPath("environment"), &spec->environment);
    if (!st.ok()) r.Fail(st.error());
  }
  if (const Json* sweep = r.OptionalObject("sweep")) {
    SweepInfo& s = spec->sweep;
    JsonReader sr(*sweep, r.FieldPath("sweep"));
    sr.Optional("strategy", &s.strategy);
    sr.Optional("seed", &s.seed);
    sr.Optional("trials", &s.trials);
    sr.Optional("parameters", &s.parameters);
    Status st = sr.Finish();
    if (!st.ok()) r.Fail(st.error());
    else if (s.strategy != "grid_search" && s.strategy != "random_search")
      r.Fail(Error(ErrorCode::kInvalidArgument, "field 'sweep.strategy' must be grid_search or random_search",
                   "sweep.strategy"));
  }
  return OkStatus();
}

bool HasNul(const std::vector<std::string>& v) {
  for (const auto& s : v)
    if (s.find('\0') != std::string::npos) return true;
  return false;
}

Status ParseExperiments(const Json& arr, const RunSpec& spec, std::vector<ExperimentRequest>* out) {
  if (arr.size() > kMaxExperimentsPerRun)
    return Error(ErrorCode::kResourceExhausted,
                 "a run may have at most " + std::to_string(kMaxExperimentsPerRun) + " experiments, not " +
                     std::to_string(arr.size()),
                 "experiments");
  out->reserve(arr.size());
  for (size_t i = 0; i < arr.size(); ++i) {
    std::string path = "experiments[" + std::to_string(i) + "]";
    ExperimentRequest e;
    JsonReader er(arr[i], path);
    er.Optional("args", &e.args);
    er.Optional("params", &e.params);
    LATTICE_RETURN_IF_ERROR(er.Finish());
    if (HasNul(e.args) || HasNul(e.params))
      return Error(ErrorCode::kInvalidArgument, "an argument contains a NUL byte", path);
    if (e.params.size() != spec.sweep.parameters.size())
      return Error(ErrorCode::kInvalidArgument,
                   "field '" + path + ".params' has " + std::to_string(e.params.size()) + " values for " +
                       std::to_string(spec.sweep.parameters.size()) + " sweep parameters",
                   path + ".params");
    out->push_back(std::move(e));
  }
  return OkStatus();
}
}  // namespace

Result<SubmitRequest> ParseSubmitRequest(const Json& body) {
  SubmitRequest req;
  JsonReader r(body, "");
  r.Optional("name", &req.name);
  r.Optional("description", &req.description);
  LATTICE_RETURN_IF_ERROR(ParseSpecFields(r, &req.spec));
  const Json* experiments = r.OptionalArray("experiments");
  LATTICE_RETURN_IF_ERROR(r.Finish());
  if (experiments) LATTICE_RETURN_IF_ERROR(ParseExperiments(*experiments, req.spec, &req.experiments));
  RunSpec& s = req.spec;
  if (s.script.empty() || s.script.size() > 4096)
    return Error(ErrorCode::kInvalidArgument, "field 'script' must be a non-empty path", "script");
  if (s.snapshot.size() != 64 || s.snapshot.find_first_not_of("0123456789abcdef") != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "field 'snapshot' must be a lowercase hex SHA-256 (64 characters)", "snapshot");
  if (s.max_restarts < 0 || s.max_restarts > 1000)
    return Error(ErrorCode::kInvalidArgument, "field 'max_restarts' must be between 0 and 1000", "max_restarts");
  if (s.grace_ms < -1 || s.grace_ms > 24LL * 3600 * 1000)
    return Error(ErrorCode::kInvalidArgument, "field 'grace_ms' must be between 0 and one day", "grace_ms");
  if (s.max_parallel < 0)
    return Error(ErrorCode::kInvalidArgument, "field 'max_parallel' must be 0 (no limit) or more", "max_parallel");
  if (!(s.max_cost >= 0) || s.max_cost > 1e12)
    return Error(ErrorCode::kInvalidArgument, "field 'max_cost' must be between 0 (no limit) and 1e12", "max_cost");
  if (s.max_duration_ms < 0 || s.max_duration_ms > 366LL * 24 * 3600 * 1000)
    return Error(ErrorCode::kInvalidArgument, "field 'max_duration_ms' must be between 0 (no limit) and a year",
                 "max_duration_ms");
  if (s.user.size() > 256 || s.user.find('\0') != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "field 'user' must be a login name (at most 256 bytes)", "user");
  if (s.nodes < 1 || s.nodes > 1024)
    return Error(ErrorCode::kInvalidArgument, "field 'nodes' must be between 1 and 1024", "nodes");
  if (!s.cluster.empty()) LATTICE_RETURN_IF_ERROR(ValidateName("cluster", s.cluster, "cluster"));
  if (!IsValidLauncher(s.launcher))
    return Error(ErrorCode::kInvalidArgument,
                 "field 'launcher' must be per-gpu, per-node or torchrun, not '" + s.launcher + "'", "launcher");
  if (s.priority < -1000000 || s.priority > 1000000)
    return Error(ErrorCode::kInvalidArgument, "field 'priority' must be between -1000000 and 1000000", "priority");
  if (req.description.size() > 10000)
    return Error(ErrorCode::kInvalidArgument, "field 'description' is longer than 10000 characters", "description");
  for (const auto& [k, v] : s.env) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
      return Error(ErrorCode::kInvalidArgument, "env name '" + k + "' is not a valid variable name", "env");
    if (v.find('\0') != std::string::npos)
      return Error(ErrorCode::kInvalidArgument, "env value of '" + k + "' contains a NUL byte", "env");
  }
  if (HasNul(s.args)) return Error(ErrorCode::kInvalidArgument, "an argument contains a NUL byte", "args");
  return req;
}

Json SweepToJson(const SweepInfo& s) {
  return Json{{"strategy", s.strategy}, {"seed", s.seed}, {"trials", s.trials}, {"parameters", s.parameters}};
}

Json SpecToJson(const RunSpec& s) {
  return Json{{"script", s.script}, {"args", s.args},       {"snapshot", s.snapshot},
              {"resources", ToJson(s.resources)}, {"env", s.env}, {"python", s.python},
              {"max_restarts", s.max_restarts}, {"grace_ms", s.grace_ms},
              {"priority", s.priority}, {"max_parallel", s.max_parallel},
              {"sweep", SweepToJson(s.sweep)}, {"environment", EnvironmentToJson(s.environment)},
              {"nodes", s.nodes}, {"launcher", s.launcher}, {"cluster", s.cluster},
              {"max_cost", s.max_cost}, {"max_duration_ms", s.max_duration_ms}, {"user", s.user}};
}

Json EnvironmentToJson(const EnvironmentSpec& e) {
  return Json{{"requirements", e.requirements},
              {"source", e.source},
              {"system_site_packages", e.system_site_packages},
              {"setup", e.setup}};
}

Json EnvironmentViewToJson(const EnvironmentSpec& e) {
  return Json{{"requirements", RedactCredentials(e.requirements)},
              {"source", e.source},
              {"system_site_packages", e.system_site_packages},
              {"setup", RedactCredentials(e.setup)}};
}

Status ParseEnvironment(const Json& j, const std::string& path, EnvironmentSpec* out) {
  JsonReader r(j, path);
  r.Optional("requirements", &out->requirements);
  r.Optional("source", &out->source);
  r.Optional("system_site_packages", &out->system_site_packages);
  r.Optional("setup", &out->setup);
  LATTICE_RETURN_IF_ERROR(r.Finish());
  auto check = [&](const std::string& field, const std::string& value, size_t max) -> Status {
    if (value.size() > max)
      return Error(ErrorCode::kInvalidArgument,
                   "field '" + path + "." + field + "' is longer than " + std::to_string(max) + " bytes",
                   path + "." + field);
    if (value.find('\0') != std::string::npos)
      return Error(ErrorCode::kInvalidArgument, "field '" + path + "." + field + "' contains a NUL byte",
                   path + "." + field);
    return OkStatus();
  };
  LATTICE_RETURN_IF_ERROR(check("requirements", out->requirements, 1 << 20));
  LATTICE_RETURN_IF_ERROR(check("source", out->source, 4096));
  return check("setup", out->setup, 64 << 10);
}

Result<RunSpec> SpecFromJson(const Json& j) {
  RunSpec spec;
  JsonReader r(j, "spec");
  LATTICE_RETURN_IF_ERROR(ParseSpecFields(r, &spec));
  LATTICE_RETURN_IF_ERROR(r.Finish());
  return spec;
}

}  // namespace lattice
