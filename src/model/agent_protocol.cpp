#include "model/agent_protocol.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "model/codec.h"
#include "model/names.h"

namespace lattice {
namespace {

// nlohmann's get<int>() and get<int64_t>() convert a double with a plain cast
// (undefined behaviour when it does not fit) and wrap integers that do not
// fit; these accept only integers in Int's range and throw otherwise, naming
// the field, as at() does for a missing one.
template <typename Int>
Int ToInt(const Json& v, const char* key) {
  using Limits = std::numeric_limits<Int>;
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() <= static_cast<uint64_t>(Limits::max())) return static_cast<Int>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    if (x >= Limits::min() && x <= Limits::max()) return static_cast<Int>(x);
  }
  throw std::invalid_argument(std::string("'") + key + "' must hold " + std::to_string(sizeof(Int) * 8) +
                              "-bit integers, got " + (v.is_number() ? "a number out of range" : v.type_name()));
}

template <typename Int>
Int GetInt(const Json& object, const char* key) {
  return ToInt<Int>(object.at(key), key);
}

template <typename Int>
std::vector<Int> GetInts(const Json& object, const char* key) {
  const Json& v = object.at(key);
  if (!v.is_array()) throw std::invalid_argument(std::string("'") + key + "' must be an array, got " + v.type_name());
  std::vector<Int> out;
  for (const auto& e : v) out.push_back(ToInt<Int>(e, key));
  return out;
}

}  // namespace

Json ToJson(const NodeRegistration& r) {
  Json gpus = Json::array();
  for (const auto& g : r.gpus) gpus.push_back(ToJson(g));
  return Json{{"id", r.id}, {"hostname", r.hostname}, {"cpus", r.cpus},
              {"memory_bytes", r.memory_bytes}, {"gpus", gpus}, {"address", r.address},
              {"cluster", r.cluster}, {"allocation", r.allocation}};
}

namespace {
bool HasControl(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}
}  // namespace

Result<NodeRegistration> ParseNodeRegistration(const Json& j) {
  NodeRegistration r;
  JsonReader rd(j, "");
  rd.Required("id", &r.id);
  rd.Optional("hostname", &r.hostname);
  rd.Optional("cpus", &r.cpus);
  rd.Optional("memory_bytes", &r.memory_bytes);
  rd.Optional("address", &r.address);
  rd.Optional("cluster", &r.cluster);
  rd.Optional("allocation", &r.allocation);
  if (const Json* g = rd.OptionalArray("gpus")) {
    Status st = ParseGpus(*g, "gpus", &r.gpus);
    if (!st.ok()) rd.Fail(st.error());
  }
  LATTICE_RETURN_IF_ERROR(rd.Finish());
  if (r.id.empty() || r.id.size() > 128 || r.id.find_first_of("/?# ") != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "field 'id' must be 1-128 characters without '/', '?', '#' or spaces", "id");
  if (r.address.size() > 255 || r.address.find_first_of(" /?#\0") != std::string::npos)
    return Error(ErrorCode::kInvalidArgument, "field 'address' must be a host name or IP address", "address");
  if (!r.cluster.empty()) LATTICE_RETURN_IF_ERROR(ValidateName("cluster", r.cluster, "cluster"));
  if (r.allocation.size() > 255 || HasControl(r.allocation))
    return Error(ErrorCode::kInvalidArgument, "field 'allocation' must be at most 255 printable characters",
                 "allocation");
  if (!(r.cpus > 0)) return Error(ErrorCode::kInvalidArgument, "field 'cpus' must be positive", "cpus");
  return r;
}

namespace {
const char* ToString(ReportedState s) {
  switch (s) {
    case ReportedState::kRunning: return "running";
    case ReportedState::kExited: return "exited";
    case ReportedState::kLost: return "lost";
  }
  return "lost";
}
}  // namespace

Json ToJson(const std::vector<AttemptReport>& reports) {
  Json arr = Json::array();
  for (const auto& r : reports) {
    Json j{{"id", r.id}, {"state", ToString(r.state)}, {"log_bytes", r.log_bytes}};
    if (r.exit_code) j["exit_code"] = *r.exit_code;
    if (!r.message.empty()) j["message"] = r.message;
    if (r.master_port) j["master_port"] = r.master_port;
    arr.push_back(std::move(j));
  }
  return Json{{"attempts", arr}};
}

Result<std::vector<AttemptReport>> ParseAttemptReports(const Json& body) {
  std::vector<AttemptReport> out;
  JsonReader rd(body, "");
  const Json* arr = rd.OptionalArray("attempts");
  LATTICE_RETURN_IF_ERROR(rd.Finish());
  if (!arr) return out;
  for (size_t i = 0; i < arr->size(); ++i) {
    std::string path = "attempts[" + std::to_string(i) + "]";
    AttemptReport r;
    std::string state;
    int exit_code = 0;
    bool has_exit = (*arr)[i].is_object() && (*arr)[i].contains("exit_code") && !(*arr)[i]["exit_code"].is_null();
    JsonReader a((*arr)[i], path);
    a.Required("id", &r.id);
    a.Required("state", &state);
    a.Optional("exit_code", &exit_code);
    a.Optional("log_bytes", &r.log_bytes);
    a.Optional("message", &r.message);
    a.Optional("master_port", &r.master_port);
    LATTICE_RETURN_IF_ERROR(a.Finish());
    if (r.master_port < 0 || r.master_port > 65535)
      return Error(ErrorCode::kInvalidArgument, "field '" + path + ".master_port' must be a port (0-65535)",
                   path + ".master_port");
    if (has_exit) r.exit_code = exit_code;
    if (state == "running") r.state = ReportedState::kRunning;
    else if (state == "exited") r.state = ReportedState::kExited;
    else if (state == "lost") r.state = ReportedState::kLost;
    else return Error(ErrorCode::kInvalidArgument, "field '" + path + ".state' must be running, exited or lost", path + ".state");
    out.push_back(std::move(r));
  }
  return out;
}

Json ToJson(const AgentWork& w) {
  Json assign = Json::array();
  for (const auto& a : w.assign) {
    Json restore = Json::array();
    for (const auto& f : a.restore)
      restore.push_back(Json{{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"mode", f.mode}});
    assign.push_back(Json{{"attempt", a.attempt},   {"run", a.run},         {"experiment", a.experiment},
                          {"number", a.number},     {"script", a.script},   {"args", a.args},
                          {"snapshot", a.snapshot}, {"env", a.env},         {"python", a.python},
                          {"grace_ms", a.grace_ms}, {"resources", ToJson(a.resources)}, {"gpus", a.gpus},
                          {"restore", restore}, {"environment", EnvironmentToJson(a.environment)},
                          {"nnodes", a.nnodes}, {"node_rank", a.node_rank}, {"launcher", a.launcher},
                          {"ranks_per_node", a.ranks_per_node}, {"master_addr", a.master_addr},
                          {"master_port", a.master_port}});
  }
  Json ports = Json::array();
  for (const auto& m : w.master_ports) ports.push_back(Json{{"attempt", m.attempt}, {"port", m.port}});
  return Json{{"assign", assign}, {"cancel", w.cancel}, {"forget", w.forget}, {"abort", w.abort},
              {"master_ports", ports}};
}

Result<AgentWork> ParseAgentWork(const Json& j) {
  AgentWork w;
  if (!j.is_object()) return Error(ErrorCode::kInvalidArgument, "agent work must be an object");
  try {
    for (const auto& a : j.at("assign")) {
      Assignment x;
      x.attempt = GetInt<int64_t>(a, "attempt");
      x.run = a.at("run").get<std::string>();
      x.experiment = GetInt<int>(a, "experiment");
      x.number = GetInt<int>(a, "number");
      x.script = a.at("script").get<std::string>();
      x.args = a.at("args").get<std::vector<std::string>>();
      x.snapshot = a.at("snapshot").get<std::string>();
      x.env = a.at("env").get<std::map<std::string, std::string>>();
      x.python = a.at("python").get<std::string>();
      x.grace_ms = GetInt<int64_t>(a, "grace_ms");
      LATTICE_RETURN_IF_ERROR(ParseResources(a.at("resources"), "resources", &x.resources));
      x.gpus = GetInts<int>(a, "gpus");
      if (a.contains("restore")) {
        for (const auto& f : a.at("restore")) {
          RestoreFile r;
          r.path = f.at("path").get<std::string>();
          r.sha256 = f.at("sha256").get<std::string>();
          r.size = f.at("size").get<uint64_t>();
          r.mode = f.at("mode").get<uint32_t>();
          x.restore.push_back(std::move(r));
        }
      }
      if (a.contains("environment"))
        LATTICE_RETURN_IF_ERROR(ParseEnvironment(a.at("environment"), "environment", &x.environment));
      if (a.contains("nnodes")) {
        x.nnodes = GetInt<int>(a, "nnodes");
        x.node_rank = GetInt<int>(a, "node_rank");
        x.launcher = a.at("launcher").get<std::string>();
        x.ranks_per_node = GetInt<int>(a, "ranks_per_node");
        x.master_addr = a.at("master_addr").get<std::string>();
        x.master_port = GetInt<int>(a, "master_port");
      }
      if (x.nnodes < 1 || x.node_rank < 0 || x.node_rank >= x.nnodes || x.ranks_per_node < 1 ||
          x.ranks_per_node > 4096 || x.master_port < 0 || x.master_port > 65535)
        throw std::invalid_argument("attempt " + std::to_string(x.attempt) + " has an impossible gang shape");
      w.assign.push_back(std::move(x));
    }
    w.cancel = GetInts<int64_t>(j, "cancel");
    w.forget = GetInts<int64_t>(j, "forget");
    if (j.contains("abort")) w.abort = GetInts<int64_t>(j, "abort");
    if (j.contains("master_ports")) {
      for (const auto& m : j.at("master_ports")) {
        MasterPort p{GetInt<int64_t>(m, "attempt"), GetInt<int>(m, "port")};
        if (p.port <= 0 || p.port > 65535) throw std::invalid_argument("'port' must be 1-65535");
        w.master_ports.push_back(p);
      }
    }
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("malformed agent work: ") + e.what());
  }
  return w;
}

}  // namespace lattice
