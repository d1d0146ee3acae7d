#include "model/cluster.h"

#include <algorithm>
#include <cctype>

#include "model/names.h"

namespace lattice {
namespace {

Error Invalid(const std::string& field, const std::string& message) {
  return Error(ErrorCode::kInvalidArgument, "field '" + field + "' " + message, field);
}

// Values that end up as single arguments of sbatch/ssh: no whitespace, no
// control characters, nothing a shell or option parser would read specially.
bool IsPlainWord(const std::string& s) {
  if (s.empty() || s.size() > 128 || s[0] == '-') return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == ',')) return false;
  return true;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isdigit(c);
  });
}

}  // namespace

bool IsValidBackend(const std::string& b) { return b == "local" || b == "slurm" || b == "ssh"; }

std::string SshHost::ToString() const {
  return Target() + (port == 22 ? "" : ":" + std::to_string(port));
}

Result<SshHost> ParseSshHost(const std::string& text, const std::string& field) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "host '" + text + "' in '" + field + "': " + why + " (expected [user@]host[:port], e.g. root@10.0.0.5)",
                 field);
  };
  SshHost h;
  std::string rest = text;
  if (auto at = rest.find('@'); at != std::string::npos) {
    h.user = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (h.user.empty()) return bad("the user before '@' is empty");
    for (unsigned char c : h.user)
      if (!(std::isalnum(c) || c == '_' || c == '-' || c == '.')) return bad("the user name has a '" +
                                                                                 std::string(1, static_cast<char>(c)) +
                                                                                 "'");
    if (h.user[0] == '-') return bad("the user name starts with '-'");
  }
  if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    std::string port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!AllDigits(port) || std::stoi(port) < 1 || std::stoi(port) > 65535)
      return bad("the port must be a number from 1 to 65535");
    h.port = std::stoi(port);
  }
  if (rest.empty()) return bad("the host name is empty");
  if (rest.size() > 253) return bad("the host name is longer than 253 characters");
  if (rest[0] == '-') return bad("the host name starts with '-'");
  for (unsigned char c : rest)
    if (!(std::isalnum(c) || c == '-' || c == '.' || c == '_'))
      return bad("the host name has a '" + std::string(1, static_cast<char>(c)) + "'");
  h.host = rest;
  return h;
}

Result<int64_t> ParseSlurmTime(const std::string& text) {
  auto bad = [&] {
    return Error(ErrorCode::kInvalidArgument,
                 "field 'time_limit' is '" + text +
                     "': use one of Slurm's forms: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS, "
                     "DAYS-HOURS:MINUTES, DAYS-HOURS:MINUTES:SECONDS (e.g. 4:00:00), or UNLIMITED",
                 "time_limit");
  };
  if (text == "UNLIMITED" || text == "INFINITE" || text == "unlimited" || text == "infinite") return int64_t{-1};
  std::string rest = text;
  std::optional<int64_t> days;
  if (auto dash = rest.find('-'); dash != std::string::npos) {
    if (!AllDigits(rest.substr(0, dash))) return bad();
    days = std::stoll(rest.substr(0, dash));
    rest = rest.substr(dash + 1);
  }
  std::vector<int64_t> parts;
  size_t start = 0;
  while (true) {
    size_t colon = rest.find(':', start);
    std::string piece = rest.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!AllDigits(piece)) return bad();
    parts.push_back(std::stoll(piece));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (parts.size() > 3) return bad();
  int64_t seconds = 0;
  if (days) {  // DAYS-HOURS[:MINUTES[:SECONDS]]
    seconds = *days * 86400 + parts[0] * 3600;
    if (parts.size() > 1) seconds += parts[1] * 60;
    if (parts.size() > 2) seconds += parts[2];
  } else if (parts.size() == 1) {
    seconds = parts[0] * 60;
  } else if (parts.size() == 2) {
    seconds = parts[0] * 60 + parts[1];
  } else {
    seconds = parts[0] * 3600 + parts[1] * 60 + parts[2];
  }
  if (seconds <= 0) return bad();
  return seconds;
}

Json ToJson(const Cluster& c) {
  Json hosts = Json::array();
  for (const auto& h : c.hosts) hosts.push_back(h.ToString());
  return Json{{"name", c.name},
              {"backend", c.backend},
              {"server_url", c.server_url},
              {"partition", c.partition},
              {"account", c.account},
              {"qos", c.qos},
              {"time_limit", c.time_limit},
              {"max_nodes", c.max_nodes},
              {"hosts", hosts},
              {"identity", c.identity},
              {"price_per_node_hour", c.price_per_node_hour},
              {"instance_type", c.instance_type},
              {"monthly_budget", c.monthly_budget},
              {"default", c.is_default}};
}

namespace {
// The pricing fields, read by both POST and PATCH.
void ReadPricing(JsonReader& r, Cluster* c) {
  r.Optional("price_per_node_hour", &c->price_per_node_hour);
  r.Optional("instance_type", &c->instance_type);
  r.Optional("monthly_budget", &c->monthly_budget);
}

Status CheckPricing(const Cluster& c) {
  // A million an hour is no real machine: a typo (a missing decimal point).
  constexpr double kMaxPrice = 1e6, kMaxBudget = 1e12;
  if (!(c.price_per_node_hour >= 0) || c.price_per_node_hour > kMaxPrice)
    return Invalid("price_per_node_hour", "must be between 0 (free) and 1000000 per node-hour");
  if (!(c.monthly_budget >= 0) || c.monthly_budget > kMaxBudget)
    return Invalid("monthly_budget", "must be between 0 (no budget) and 1e12");
  bool plain = c.instance_type.size() <= 128;
  for (char ch : c.instance_type)
    plain = plain && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-');
  if (!plain) return Invalid("instance_type", "must be an instance type name like g5.xlarge (letters, digits, '.', '_', '-')");
  return OkStatus();
}
}  // namespace

Result<Cluster> ParseClusterUpdate(const Json& body, Cluster current) {
  JsonReader r(body, "");
  ReadPricing(r, &current);
  LATTICE_RETURN_IF_ERROR(r.Finish());
  LATTICE_RETURN_IF_ERROR(CheckPricing(current));
  return current;
}

Result<Cluster> ParseCluster(const Json& body) {
  Cluster c;
  std::vector<std::string> hosts;
  JsonReader r(body, "");
  r.Required("name", &c.name);
  r.Required("backend", &c.backend);
  r.Optional("server_url", &c.server_url);
  r.Optional("partition", &c.partition);
  r.Optional("account", &c.account);
  r.Optional("qos", &c.qos);
  r.Optional("time_limit", &c.time_limit);
  r.Optional("max_nodes", &c.max_nodes);
  r.Optional("hosts", &hosts);
  r.Optional("identity", &c.identity);
  r.Optional("default", &c.is_default);
  ReadPricing(r, &c);
  LATTICE_RETURN_IF_ERROR(r.Finish());
  LATTICE_RETURN_IF_ERROR(ValidateName("cluster", c.name, "name"));
  LATTICE_RETURN_IF_ERROR(CheckPricing(c));
  if (!IsValidBackend(c.backend))
    return Invalid("backend", "must be local, slurm or ssh, not '" + c.backend + "'");
  if (c.backend == "local" && c.name != kLocalCluster)
    return Invalid("backend", "local is the cluster 'local' only (this machine's agents)");
  if (c.name == kLocalCluster && c.backend != "local")
    return Invalid("name", "'local' is this machine's cluster; choose another name");
  if (!c.server_url.empty() && c.server_url.rfind("http://", 0) != 0 && c.server_url.rfind("https://", 0) != 0)
    return Invalid("server_url", "must start with http:// or https://");
  if (c.server_url.size() > 2048 || c.server_url.find_first_of(" \t\r\n'\"\\") != std::string::npos)
    return Invalid("server_url", "must be a URL without spaces or quotes");
  bool slurm = c.backend == "slurm", ssh = c.backend == "ssh";
  for (auto [field, value] : {std::pair<const char*, const std::string*>{"partition", &c.partition},
                              {"account", &c.account},
                              {"qos", &c.qos}}) {
    if (value->empty()) continue;
    if (!slurm) return Invalid(field, "is for slurm clusters only");
    if (!IsPlainWord(*value))
      return Invalid(field, "must be a Slurm name (letters, digits, '_', '-', '.', ','), not '" + *value + "'");
  }
  if (!c.time_limit.empty()) {
    if (!slurm) return Invalid("time_limit", "is for slurm clusters only");
    if (auto t = ParseSlurmTime(c.time_limit); !t.ok()) return t.error();
  }
  if (c.max_nodes < 0 || c.max_nodes > 100000) return Invalid("max_nodes", "must be between 0 (no limit) and 100000");
  if (c.max_nodes != 0 && !slurm) return Invalid("max_nodes", "is for slurm clusters only");
  if (ssh && hosts.empty()) return Invalid("hosts", "is required for ssh clusters: user@host,...");
  if (!ssh && !hosts.empty()) return Invalid("hosts", "is for ssh clusters only");
  if (!ssh && !c.identity.empty()) return Invalid("identity", "is for ssh clusters only");
  if (!c.identity.empty() && (c.identity[0] != '/' || c.identity.find('\0') != std::string::npos))
    return Invalid("identity", "must be an absolute path on the server's machine");
  if (hosts.size() > 1024) return Invalid("hosts", "lists more than 1024 hosts");
  for (size_t i = 0; i < hosts.size(); ++i) {
    LATTICE_ASSIGN_OR_RETURN(SshHost h, ParseSshHost(hosts[i], "hosts[" + std::to_string(i) + "]"));
    for (const auto& seen : c.hosts)
      if (seen.host == h.host && seen.port == h.port)
        return Invalid("hosts", "names " + h.ToString() + " twice");
    c.hosts.push_back(std::move(h));
  }
  return c;
}

}  // namespace lattice
