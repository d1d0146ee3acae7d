// The user-facing verbs. Each returns the process exit code and prints
// either text for people or, with json=true, one JSON document on stdout.
// Errors go to stderr.
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cli/api_client.h"

namespace lattice::cli {

struct GlobalOptions {
  std::string server;
  std::filesystem::path home;
  bool json = false;
};

struct RunOptions {
  std::string name;
  std::string description;
  double cpus = 1;
  std::string memory;  // "4G"
  int gpus = 0;
  std::vector<std::string> env;  // K=V
  int max_restarts = 0;
  std::string grace;  // "30s"
  std::string python;
  // The environment (issue: environments).
  std::string requirements;  // a file; empty: requirements.txt or pyproject.toml beside the script
  std::string setup;         // run once per environment
  bool system_site_packages = false;
  bool follow = false;
  // Sweeps and scheduling.
  std::string strategy = "grid_search";
  std::optional<uint64_t> trials;
  std::optional<uint64_t> seed;  // absent: random, recorded with the run
  uint64_t max_experiments = 10'000;
  int max_parallel = 0;
  int priority = 0;
  // Multi-node: a gang of `nodes` nodes, each with cpus/memory/gpus.
  int nodes = 1;
  std::string launcher;       // per-gpu, per-node, torchrun; empty: the default (see RunSpec)
  std::string instance_type;  // a catalog or Grid name: with it, --gpus is the total and nodes follow
  bool dry_run = false;
  // Limits (docs/cost.md): the run's whole cost, and each attempt's time.
  double max_cost = 0;
  std::string max_duration;  // "2h"; empty: none
  std::string cluster;  // empty: the server's default
  std::string script;
  std::vector<std::string> args;
  // From a config file's `parameters`: "--name", "expression" pairs that
  // follow the fixed args.
  std::vector<std::string> parameter_args;
};

struct LogsOptions {
  std::string target;  // RUN or RUN/EXP
  bool follow = false;
  std::optional<size_t> tail;
  int attempt = 0;
  std::optional<int> rank;  // only this rank's lines of a multi-rank attempt
};

struct MetricsOptions {
  std::string target;             // RUN or RUN/EXP
  std::vector<std::string> keys;  // --key, repeatable; empty: all
  std::string sort;               // --sort KEY[:last|:min|:max]; empty: by experiment
  bool descending = false;        // --desc
};

struct ArtifactsOptions {
  std::string target;           // RUN or RUN/EXP
  std::string kind = "artifact";  // artifact, checkpoint or all
  std::string download_dir;     // --download DIR; empty: list only
};

struct EnvOptions {
  std::string agent_home;  // empty: $LATTICE_HOME/agent
  std::string older_than;  // prune: only those unused this long, e.g. 7d
};

struct ClusterOptions {
  std::string name;
  std::string backend;
  std::string server_url;
  std::string partition, account, qos, time_limit;  // slurm
  int max_nodes = 0;
  std::string hosts;     // ssh: user@h1,user@h2
  std::string identity;  // ssh: private key file
  bool make_default = false;
  // Pricing (docs/cost.md): a price per node-hour, or one taken from the
  // instance catalog (its on-demand or --spot price, in --region).
  std::optional<double> price_per_hour;
  std::string instance_type;
  bool spot = false;
  std::string region;
  std::optional<double> monthly_budget;
};

struct CostOptions {
  std::string run;          // empty: every run, grouped
  std::string by = "run";   // run, user or cluster
  std::string since;        // a date, a UTC time, or a duration back from now ("7d")
};

int RunCommand(const GlobalOptions& g, const RunOptions& o);
int ClusterCreateCommand(const GlobalOptions& g, const ClusterOptions& o);
int ClusterListCommand(const GlobalOptions& g);
int ClusterShowCommand(const GlobalOptions& g, const std::string& name);
int ClusterDeleteCommand(const GlobalOptions& g, const std::string& name);
int ClusterDefaultCommand(const GlobalOptions& g, const std::string& name);
int ClusterSetCommand(const GlobalOptions& g, const ClusterOptions& o);  // PATCH: pricing
int CostCommand(const GlobalOptions& g, const CostOptions& o);
int EnvListCommand(const GlobalOptions& g, const EnvOptions& o);
int EnvPruneCommand(const GlobalOptions& g, const EnvOptions& o);
int StatusCommand(const GlobalOptions& g, const std::string& run);
int LogsCommand(const GlobalOptions& g, const LogsOptions& o);
int CancelCommand(const GlobalOptions& g, const std::string& target);
int NodesCommand(const GlobalOptions& g);
int MetricsCommand(const GlobalOptions& g, const MetricsOptions& o);
int ArtifactsCommand(const GlobalOptions& g, const ArtifactsOptions& o);
int ServerStartCommand(const GlobalOptions& g);
int ServerStopCommand(const GlobalOptions& g);
// with_token: the printed URL carries the token in its fragment (#token=...).
int UiCommand(const GlobalOptions& g, bool with_token);

// Shared helpers.
int Fail(const Error& e);  // prints "lattice: <message>" and maps the exit code
// "$1.20 of --max-cost $50.00, now $4.10/h" from a GET /runs/{run}/cost answer (cmd_cost.cpp).
std::string RunCostSummary(const Json& run_cost);
Result<ApiClient> Client(const GlobalOptions& g);
// "run" -> ("run", nullopt); "run/3" -> ("run", 3)
Result<std::pair<std::string, std::optional<int>>> ParseTarget(const std::string& target);
// What part of a log to print and how.
struct LogView {
  int attempt = 0;  // 0: the newest, and the next one after a restart
  bool follow = false;
  std::optional<size_t> tail;
  std::optional<int> rank;  // only this rank's lines (and Lattice's own), prefix removed
};
// Follows one experiment's logs to the end, writing them to `out`; returns
// the experiment's exit code (1 when it ended without one).
// Without follow it prints what is there now and returns 0.
Result<int> FollowLogs(ApiClient& client, const std::string& run, int exp, const LogView& view, std::FILE* out);
// The same for several experiments in turn, each under a "==> RUN/EXP <=="
// header when there are several; returns the worst exit code.
Result<int> FollowExperiments(ApiClient& client, const std::string& run, const std::vector<int>& exps,
                              const LogView& view, std::FILE* out);

// `lattice estimate`: GPU memory and checkpoint disk of a training, and the
// instance types it fits on. Values are kept as typed, so that errors name
// the flag. Pure: never contacts a server.
struct EstimateOptions {
  std::string params;              // 7e9, 7B, 1.5b, 125M
  std::string precision = "bf16";  // fp32, fp16, bf16, int8
  std::string optimizer = "adam";  // adam, sgd, none
  std::string batch, seq, dim;     // activations: all three or none
  std::string layers;              // refines the activations (Korthikanti et al.)
  std::string gpus;                // spread over N GPUs; empty: the fewest that fit
  std::string region;              // prices of this region; empty: each instance's cheapest
  bool all = false;                // every instance type that fits, not the cheapest ten
};

// `lattice instances`: the catalog, filtered, cheapest first.
struct InstancesOptions {
  std::string gpu;             // a GPU model, e.g. V100
  std::string min_gpu_memory;  // per GPU, e.g. 40G
  std::string min_gpus;
  std::string provider;
  std::string region;
  bool spot = false;
};

// `lattice instances compare`: the same job at every provider.
struct CompareOptions {
  std::string gpus = "1";
  std::string gpu_memory = "1G";  // per GPU, at least
  std::string hours = "1";
  std::string gpu;
  std::string region;
  bool spot = false;
};

int EstimateCommand(const GlobalOptions& g, const EstimateOptions& o);
int InstancesCommand(const GlobalOptions& g, const InstancesOptions& o);
int InstancesCompareCommand(const GlobalOptions& g, const CompareOptions& o);

}  // namespace lattice::cli
