// Clusters (DESIGN.md): a named pool of nodes and the backend that provides
// them. `local` is this machine's agents (and any agent started by hand
// without --cluster); a `slurm` cluster's nodes are agents that Slurm
// allocations start; an `ssh` cluster's nodes are agents the server starts on
// machines it reaches with ssh. Plain values, their JSON and validation; the
// backends live in src/cluster.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"

namespace lattice {

inline constexpr const char* kLocalCluster = "local";

struct SshHost {
  std::string user;  // empty: ssh's default (the server's user, or ~/.ssh/config)
  std::string host;
  int port = 22;
  // "user@host" or "user@host:port" as given to ssh (-p carries the port).
  std::string Target() const { return user.empty() ? host : user + "@" + host; }
  std::string ToString() const;  // as the user wrote it: [user@]host[:port]
};

struct Cluster {
  std::string name;
  std::string backend;  // "local", "slurm" or "ssh"
  // Where the cluster's agents reach the server (slurm, ssh); empty: the
  // server's own URL, which must then be reachable from those machines.
  std::string server_url;
  // slurm: passed to sbatch as --partition/--account/--qos/--time when set.
  std::string partition;
  std::string account;
  std::string qos;
  std::string time_limit;  // Slurm's forms: "30", "4:00:00", "2-00:00:00"
  // slurm: at most this many nodes held (pending or running) at once; 0: no limit.
  int max_nodes = 0;
  // ssh: the machines, and the private key file (on the server's machine) used to reach them.
  std::vector<SshHost> hosts;
  std::string identity;
  // Pricing (docs/cost.md): what one node costs per hour (0: free, the
  // default for `local`), the catalog instance type it was taken from (a
  // label), and a budget per calendar month (UTC) for everyone's runs on it
  // (0: none).
  double price_per_node_hour = 0;
  std::string instance_type;
  double monthly_budget = 0;
  bool is_default = false;
  int64_t created_at_ms = 0;
};

bool IsValidBackend(const std::string& backend);

// "[user@]host[:port]"; errors name `field`.
Result<SshHost> ParseSshHost(const std::string& text, const std::string& field);
// Slurm's time limit forms, in seconds; -1 for "UNLIMITED"/"INFINITE".
Result<int64_t> ParseSlurmTime(const std::string& text);

// The cluster as the API shows and takes it (and as the store keeps its settings).
Json ToJson(const Cluster& c);
// The body of POST /clusters: every field checked, errors name the field.
Result<Cluster> ParseCluster(const Json& body);
// The body of PATCH /clusters/{name}: the pricing fields given replace the
// cluster's (the others cannot change while nodes may be running).
Result<Cluster> ParseClusterUpdate(const Json& body, Cluster current);

}  // namespace lattice
