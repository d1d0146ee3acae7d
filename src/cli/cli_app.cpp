// Argument parsing (CLI11, kept to this one translation unit) and dispatch.
#include "cli/cli_app.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/run_config.h"
#include "common/log.h"
#include "common/text.h"
#include "common/paths.h"
#include "common/token.h"
#include "common/units.h"
#include "server/server_main.h"

namespace lattice::cli {
namespace {

constexpr const char* kRunExamples = R"HELP(
Examples:
  lattice run train.py --lr 0.01                 # submit, print the run's name
  lattice run --follow --gpus 1 train.py         # submit and stream its logs to the end
  lattice run --name digits-1 --cpus 2 --memory 4G --env WANDB_MODE=offline train.py
  lattice run --max-restarts 3 train.sh          # retry on a lost machine
  lattice run --gpus 1 train.py --lr "[1e-3, 1e-2]" --layers "range(2, 5)"   # a 6-point grid
  lattice run --strategy random_search --trials 20 train.py --lr "loguniform(1e-5, 1e-1, 100)"
  lattice run --dry-run --json train.py --lr "linspace(0, 1, 5)"          # show, start nothing
Sweep expressions: [a, b, ...], range(), linspace(), logspace(), uniform(),
loguniform(), normal(), randint(), in --flag VALUE or --flag=VALUE form.
Everything after SCRIPT is passed to it unchanged.
)HELP";

constexpr const char* kGlobalHelp = R"(
Examples:
  lattice run --follow examples/digits/train.py --epochs 5
  lattice status                 # all runs
  lattice status brave-otter-4821 --json
  lattice logs brave-otter-4821 --follow
  lattice cancel brave-otter-4821
  lattice metrics brave-otter-4821 --sort val_acc:max --desc   # which learning rate won?
  lattice artifacts brave-otter-4821 --download ./out
  lattice nodes
  lattice ui                     # the web UI's address
  lattice cost --by user --since 7d                # what runs cost
  lattice estimate --params 7B --gpus 8          # GPU memory, disk, instance types that fit
  lattice instances compare --gpus 1 --gpu-memory 24G --hours 8
  lattice server stop
State lives in $LATTICE_HOME (default ~/.lattice); $LATTICE_SERVER points at a remote server.
Exit codes: 0 ok, 64 usage, 66 not found, 69 server unreachable, 70 other errors;
with --follow, the experiment's own exit code.
)";

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"lattice: run machine-learning training anywhere with one command"};
  app.footer(kGlobalHelp);
  app.require_subcommand(1);
  GlobalOptions g;
  std::string home;
  bool verbose = false;
  // The global flags are accepted before and after the subcommand.
  auto add_globals = [&](CLI::App* a) {
    a->add_flag("--json", g.json, "print one JSON document on stdout");
    a->add_option("--server", g.server, "server URL (default: $LATTICE_SERVER, else a local server)");
    a->add_option("--home", home, "state directory (default: $LATTICE_HOME or ~/.lattice)");
    a->add_flag("-v,--verbose", verbose, "log more");
  };
  add_globals(&app);

  // run
  RunOptions ro;
  auto* run = app.add_subcommand("run", "submit SCRIPT [ARGS...] as a run");
  run->footer(kRunExamples);
  run->prefix_command();
  // Options given on the command line override a --config file.
  std::vector<std::pair<CLI::Option*, std::function<void(RunOptions&)>>> run_overrides;
  auto track = [&](CLI::Option* opt, std::function<void(RunOptions&)> copy) {
    run_overrides.emplace_back(opt, std::move(copy));
    return opt;
  };
  std::string config_file;
  run->add_option("--config", config_file, "a YAML file with the run's settings (docs/config.md); flags override it")
      ->check(CLI::ExistingFile);
  track(run->add_option("--name", ro.name, "run name (lowercase letters, digits, '-'); generated if absent"), [&](RunOptions& d) { d.name = ro.name; });
  track(run->add_option("--description", ro.description, "free text shown with the run"), [&](RunOptions& d) { d.description = ro.description; });
  track(run->add_option("--cpus", ro.cpus, "CPUs per experiment, per node (default 1)")->check(CLI::PositiveNumber), [&](RunOptions& d) { d.cpus = ro.cpus; });
  track(run->add_option("--memory", ro.memory, "memory per experiment, per node, e.g. 4G"), [&](RunOptions& d) { d.memory = ro.memory; });
  track(run->add_option("--gpus", ro.gpus, "GPUs per experiment, per node (default 0)")->check(CLI::Range(0, 4096)), [&](RunOptions& d) { d.gpus = ro.gpus; });
  track(run->add_option("--nodes", ro.nodes, "nodes per experiment: one gang of nodes × GPUs ranks (default 1)")
            ->check(CLI::Range(1, 1024)), [&](RunOptions& d) { d.nodes = ro.nodes; });
  track(run->add_option("--instance_type,--instance-type", ro.instance_type,
                        "a machine shape like 8_v100_32gb or 4_cpu_16gb; --gpus is then the total, in whole "
                        "machines"), [&](RunOptions& d) { d.instance_type = ro.instance_type; });
  track(run->add_option("--launcher", ro.launcher,
                        "per-gpu (a process per GPU), per-node (one per node) or torchrun (torchrun per node); "
                        "default: per-node on one node, per-gpu on several")
            ->check(CLI::IsMember({"per-gpu", "per-node", "torchrun"})), [&](RunOptions& d) { d.launcher = ro.launcher; });
  track(run->add_option("--env", ro.env, "NAME=VALUE for the script's environment (repeatable)")->allow_extra_args(false), [&](RunOptions& d) { d.env = ro.env; });
  track(run->add_option("--max-restarts,--max_restarts", ro.max_restarts,
                  "times to requeue an experiment whose machine was lost (default 0)")
      ->check(CLI::Range(0, 1000)), [&](RunOptions& d) { d.max_restarts = ro.max_restarts; });
  track(run->add_option("--grace", ro.grace, "time between SIGTERM and SIGKILL on cancel (default: the agent's, 30s)"), [&](RunOptions& d) { d.grace = ro.grace; });
  track(run->add_option("--python", ro.python, "Python for .py scripts (default: the project venv, else python3)"), [&](RunOptions& d) { d.python = ro.python; });
  track(run->add_option("--requirements", ro.requirements,
                        "requirements file for the run's Python environment (default: requirements.txt, else "
                        "pyproject.toml dependencies, beside the script)"),
        [&](RunOptions& d) { d.requirements = ro.requirements; });
  track(run->add_option("--setup", ro.setup, "shell command run once per environment after its packages"),
        [&](RunOptions& d) { d.setup = ro.setup; });
  track(run->add_flag("--system-site-packages,--system_site_packages", ro.system_site_packages,
                      "let the environment see the interpreter's packages (e.g. Debian's torch)"),
        [&](RunOptions& d) { d.system_site_packages = ro.system_site_packages; });
  track(run->add_flag("-f,--follow", ro.follow, "stream the logs to the end and exit with the script's exit code"), [&](RunOptions& d) { d.follow = ro.follow; });
  track(run->add_option("--strategy", ro.strategy, "grid_search (every combination, default) or random_search")
      ->check(CLI::IsMember({"grid_search", "random_search"})), [&](RunOptions& d) { d.strategy = ro.strategy; });
  uint64_t trials = 0, seed = 0;
  auto* trials_opt = run->add_option("--trials", trials, "random_search: how many distinct points to run")
                         ->check(CLI::PositiveNumber);
  auto* seed_opt = run->add_option("--seed", seed, "seed for sampled values and random search (default: random, recorded)");
  track(run->add_option("--max-experiments,--max_experiments", ro.max_experiments,
                  "refuse a sweep larger than this (default 10000)")
      ->check(CLI::PositiveNumber), [&](RunOptions& d) { d.max_experiments = ro.max_experiments; });
  track(run->add_option("--max-parallel,--max_parallel", ro.max_parallel,
                  "at most N of the run's experiments at once (default: no limit)")
      ->check(CLI::NonNegativeNumber), [&](RunOptions& d) { d.max_parallel = ro.max_parallel; });
  track(run->add_option("--priority", ro.priority, "higher runs are placed first (default 0)")
      ->check(CLI::Range(-1000000, 1000000)), [&](RunOptions& d) { d.priority = ro.priority; });
  track(run->add_flag("--dry-run,--dry_run", ro.dry_run, "print the experiments and totals; start nothing"), [&](RunOptions& d) { d.dry_run = ro.dry_run; });
  track(run->add_option("--cluster", ro.cluster, "the cluster to run on (default: the server's default, local)"),
        [&](RunOptions& d) { d.cluster = ro.cluster; });
  track(run->add_option("--max-cost,--max_cost", ro.max_cost,
                        "stop the run before its cost passes this (the cluster's currency, e.g. 50): nothing new "
                        "starts that would pass it, running experiments get their grace period")
            ->check(CLI::Range(0.0, 1e12)),
        [&](RunOptions& d) { d.max_cost = ro.max_cost; });
  track(run->add_option("--max-duration,--max_duration", ro.max_duration,
                        "stop each attempt after this long (e.g. 2h); also what --dry-run's cost estimate assumes"),
        [&](RunOptions& d) { d.max_duration = ro.max_duration; });

  std::string status_run;
  auto* status = app.add_subcommand("status", "list runs, or show one run's experiments");
  status->add_option("RUN", status_run, "run name");
  status->footer("\nExamples:\n  lattice status\n  lattice status brave-otter-4821 --json\n");

  LogsOptions lo;
  auto* logs = app.add_subcommand("logs", "print an experiment's output");
  logs->add_option("RUN[/EXP]", lo.target, "run, or run/experiment")->required();
  logs->add_flag("-f,--follow", lo.follow, "keep printing until the experiment ends");
  size_t tail = 0;
  auto* tail_opt = logs->add_option("--tail", tail, "print only the last N lines");
  logs->add_option("--attempt", lo.attempt, "which attempt (default: the newest)")->check(CLI::NonNegativeNumber);
  logs->add_option("--rank", lo.rank, "only this rank's lines (multi-rank runs; default: all, each line prefixed)")
      ->check(CLI::NonNegativeNumber);
  logs->footer("\nExamples:\n  lattice logs brave-otter-4821 --follow\n  lattice logs brave-otter-4821/0 --tail 20\n"
               "  lattice logs brave-otter-4821/0 --rank 1\n");

  std::string cancel_target;
  auto* cancel = app.add_subcommand("cancel", "cancel a run or one experiment (SIGTERM, then SIGKILL after grace)");
  cancel->add_option("RUN[/EXP]", cancel_target, "run, or run/experiment")->required();
  cancel->footer("\nExamples:\n  lattice cancel brave-otter-4821\n  lattice cancel brave-otter-4821/0\n");

  MetricsOptions mo;
  auto* metrics = app.add_subcommand("metrics", "compare experiments by their metrics (last, min, max)");
  metrics->add_option("RUN[/EXP]", mo.target, "run, or run/experiment")->required();
  metrics->add_option("--key", mo.keys, "show this metric with last, min and max (repeatable; default: all)")
      ->allow_extra_args(false);
  metrics->add_option("--sort", mo.sort, "sort by KEY's last value, or KEY:min / KEY:max (ascending)");
  metrics->add_flag("--desc", mo.descending, "with --sort: largest first");
  metrics->footer("\nExamples:\n  lattice metrics brave-otter-4821\n"
                  "  lattice metrics brave-otter-4821 --sort val_acc:max --desc   # which learning rate won?\n"
                  "  lattice metrics brave-otter-4821 --key loss --key val_acc --sort loss\n"
                  "  lattice metrics brave-otter-4821/2 --json\n"
                  "Experiments without the sort key go last. NaN shows as nan, missing values as -.\n");

  ArtifactsOptions aro;
  auto* artifacts = app.add_subcommand("artifacts", "list or download the files experiments kept");
  artifacts->add_option("RUN[/EXP]", aro.target, "run, or run/experiment")->required();
  artifacts->add_option("--kind", aro.kind, "artifact (default), checkpoint or all")
      ->check(CLI::IsMember({"artifact", "checkpoint", "all"}));
  artifacts->add_option("--download", aro.download_dir,
                        "write each file's newest version to DIR/EXP/PATH (checkpoints to DIR/EXP/checkpoints/PATH)");
  artifacts->footer("\nExamples:\n  lattice artifacts brave-otter-4821\n"
                    "  lattice artifacts brave-otter-4821/0 --kind all\n"
                    "  lattice artifacts brave-otter-4821 --download ./results   # resumes, verifies sha256\n");

  auto* nodes = app.add_subcommand("nodes", "list the nodes and what they offer");
  nodes->footer("\nExamples:\n  lattice nodes --json\n");

  bool ui_with_token = false;
  auto* ui = app.add_subcommand("ui", "print the address of the web UI (starting a local server if none runs)");
  ui->add_flag("--with-token", ui_with_token,
               "put the server's token in the address (#token=...) when it requires one");
  ui->footer("\nExamples:\n  lattice ui\n  lattice ui --with-token   # then open it in a browser\n");

  // estimate, instances, instances compare: pure, over the instance catalog (docs/estimates.md).
  EstimateOptions est;
  auto* estimate_cmd = app.add_subcommand("estimate", "GPU memory and checkpoint disk a training needs, and the "
                                                      "instance types it fits on (contacts no server)");
  estimate_cmd->add_option("--params", est.params, "parameter count: 7e9, 7B, 1.5b, 125M")->required();
  estimate_cmd->add_option("--precision", est.precision, "fp32, fp16, bf16 (default) or int8 (inference only)");
  estimate_cmd->add_option("--optimizer", est.optimizer, "adam (default), sgd (with momentum) or none (inference)");
  estimate_cmd->add_option("--batch", est.batch, "activations: micro-batch size per GPU (with --seq and --dim)");
  estimate_cmd->add_option("--seq", est.seq, "activations: sequence length");
  estimate_cmd->add_option("--dim", est.dim, "activations: input (hidden) dimension");
  estimate_cmd->add_option("--layers", est.layers, "activations: transformer layers (~34·seq·batch·dim bytes each)");
  estimate_cmd->add_option("--gpus", est.gpus, "spread over N GPUs: per-GPU memory under each ZeRO stage");
  estimate_cmd->add_option("--region", est.region, "prices of this region (default: each instance's cheapest)");
  estimate_cmd->add_flag("--all", est.all, "list every instance type that fits, not the cheapest ten");
  estimate_cmd->footer("\nExamples:\n  lattice estimate --params 7e9 --precision bf16\n"
                       "  lattice estimate --params 7B --gpus 8 --json\n"
                       "  lattice estimate --params 1.5b --batch 8 --seq 1024 --dim 1600 --layers 48\n"
                       "  lattice estimate --params 70B --precision int8 --optimizer none   # serving\n"
                       "Formulas and sources: docs/estimates.md. Prices: the catalog ($LATTICE_CATALOG overrides).\n");
  add_globals(estimate_cmd);

  InstancesOptions inst;
  auto* instances_cmd = app.add_subcommand("instances", "GPU instance types of cloud providers, cheapest first");
  instances_cmd->add_option("--gpu", inst.gpu, "only this GPU model, e.g. V100, A100, H100");
  instances_cmd->add_option("--min-gpu-memory,--min_gpu_memory", inst.min_gpu_memory,
                            "at least this per GPU, e.g. 40G");
  instances_cmd->add_option("--min-gpus,--min_gpus", inst.min_gpus, "at least N GPUs per machine");
  instances_cmd->add_option("--provider", inst.provider, "aws, gcp, azure, lambda, vast, runpod, modal, jarvislabs");
  instances_cmd->add_option("--region", inst.region, "prices of this region, e.g. us-east-1");
  instances_cmd->add_flag("--spot", inst.spot, "only those with spot prices, sorted by them");
  instances_cmd->footer("\nExamples:\n  lattice instances --gpu V100\n  lattice instances --min-gpu-memory 40G --spot\n"
                        "  lattice instances compare --gpus 1 --gpu-memory 24G --hours 8\n");
  add_globals(instances_cmd);
  CompareOptions cmp;
  auto* compare_cmd = instances_cmd->add_subcommand("compare", "what the same job costs at each provider");
  compare_cmd->add_option("--gpus", cmp.gpus, "GPUs the job needs (default 1)");
  compare_cmd->add_option("--gpu-memory,--gpu_memory", cmp.gpu_memory, "at least this per GPU, e.g. 24G");
  compare_cmd->add_option("--hours", cmp.hours, "how long it runs (default 1)");
  compare_cmd->add_option("--gpu", cmp.gpu, "only this GPU model");
  compare_cmd->add_option("--region", cmp.region, "prices of this region");
  compare_cmd->add_flag("--spot", cmp.spot, "at spot prices (providers without spot are left out)");
  add_globals(compare_cmd);

  ClusterOptions co;
  std::string cluster_name;
  auto* cluster = app.add_subcommand("cluster", "named pools of nodes: this machine, Slurm, machines over ssh");
  cluster->require_subcommand(1);
  auto* cluster_create = cluster->add_subcommand("create", "add a cluster");
  cluster_create->add_option("NAME", co.name, "its name (lowercase letters, digits, '-')")->required();
  cluster_create->add_option("--backend", co.backend, "slurm or ssh")->required();
  cluster_create->add_option("--server-url,--server_url", co.server_url,
                             "where its nodes reach this server (default: the server's own URL)");
  cluster_create->add_option("--partition", co.partition, "slurm: sbatch --partition");
  cluster_create->add_option("--account", co.account, "slurm: sbatch --account");
  cluster_create->add_option("--qos", co.qos, "slurm: sbatch --qos");
  cluster_create->add_option("--time", co.time_limit, "slurm: each allocation's time limit, e.g. 4:00:00");
  cluster_create->add_option("--max-nodes,--max_nodes", co.max_nodes, "slurm: at most N nodes held at once")
      ->check(CLI::NonNegativeNumber);
  cluster_create->add_option("--hosts", co.hosts, "ssh: user@host[:port],... ");
  cluster_create->add_option("--identity", co.identity, "ssh: private key file (on the server's machine)");
  cluster_create->add_flag("--default", co.make_default, "runs without --cluster go here");
  // Pricing, for create and set alike (docs/cost.md).
  auto add_pricing = [&](CLI::App* a) {
    a->add_option("--price-per-hour,--price_per_hour", co.price_per_hour,
                  "what one node costs per hour (0: free); experiments pay their share of it")
        ->check(CLI::Range(0.0, 1e6));
    a->add_option("--instance-type,--instance_type", co.instance_type,
                  "take the price of this catalog instance type (lattice instances)");
    a->add_flag("--spot", co.spot, "with --instance-type: its spot price");
    a->add_option("--region", co.region, "with --instance-type: the price in this region (default: cheapest)");
    a->add_option("--monthly-budget,--monthly_budget", co.monthly_budget,
                  "stop starting and running experiments when this month's cost would pass it (0: none)")
        ->check(CLI::Range(0.0, 1e12));
  };
  add_pricing(cluster_create);
  cluster_create->footer("\nExamples:\n  lattice cluster create hpc --backend slurm --partition gpu --time 4:00:00\n"
                         "  lattice cluster create lab --backend ssh --hosts root@gpu1,root@gpu2 --identity ~/.ssh/id_ed25519\n");
  auto* cluster_list = cluster->add_subcommand("list", "list the clusters");
  auto* cluster_show = cluster->add_subcommand("show", "one cluster: settings, allocations or hosts, nodes");
  cluster_show->add_option("NAME", cluster_name, "cluster name")->required();
  auto* cluster_delete = cluster->add_subcommand("delete", "remove a cluster (and release what it holds)");
  cluster_delete->add_option("NAME", cluster_name, "cluster name")->required();
  auto* cluster_default = cluster->add_subcommand("default", "make a cluster the default of runs without --cluster");
  cluster_default->add_option("NAME", cluster_name, "cluster name")->required();
  auto* cluster_set = cluster->add_subcommand("set", "change a cluster's price or monthly budget");
  cluster_set->add_option("NAME", co.name, "cluster name (local is this machine)")->required();
  add_pricing(cluster_set);
  cluster_set->footer("\nExamples:\n  lattice cluster set local --price-per-hour 0.40\n"
                      "  lattice cluster set lab --instance-type g5.12xlarge --monthly-budget 2000\n");

  CostOptions cost_o;
  auto* cost = app.add_subcommand("cost", "what runs cost: one run's experiments, or runs, users or clusters");
  cost->add_option("RUN", cost_o.run, "one run: its experiments");
  cost->add_option("--by", cost_o.by, "group by run (default), user or cluster")
      ->check(CLI::IsMember({"run", "user", "cluster"}));
  cost->add_option("--since", cost_o.since, "only cost since a date (2026-11-01), a UTC time, or a duration ago (7d)");
  cost->footer("\nExamples:\n  lattice cost\n  lattice cost --by user --since 2026-11-01\n"
               "  lattice cost brave-otter-4821 --json\n");
  add_globals(cost);

  ServerOptions so;
  std::string node_timeout = "6s";
  auto* server = app.add_subcommand("server", "run the server in the foreground (or: server start|stop)");
  server->add_option("--host", so.address, "address to listen on (default 127.0.0.1; others require the token)");
  server->add_option("--port", so.port, "port (default: any free port, written to $LATTICE_HOME/server.json)");
  server->add_flag("--require-token", so.require_token, "require the token even on loopback");
  server->add_option("--node-timeout", node_timeout, "how long a silent agent stays up (default 6s)");
  server->add_option("--web-dir", so.web_dir,
                     "the built web UI to serve at / (default: web/dist or share/lattice/web beside the binary)");
  auto* server_start = server->add_subcommand("start", "start a local server and agent in the background");
  auto* server_stop = server->add_subcommand("stop", "stop the local server and agent cleanly");
  server->footer("\nExamples:\n  lattice server --host 0.0.0.0 --port 8470   # token in $LATTICE_HOME/token\n"
                 "  lattice server start\n  lattice server stop\n");

  agent::AgentOptions ao;
  std::string agent_home, agent_memory, agent_grace, agent_system_interval, agent_upload_timeout, agent_idle_exit;
  std::string agent_token_file;
  bool agent_token_stdin = false;
  auto* agent_cmd = app.add_subcommand("agent", "run an agent that offers this machine to a server");
  agent_cmd->add_option("--simulate-gpus", ao.inventory.simulate_gpus, "advertise N simulated GPUs")
      ->check(CLI::Range(0, 1024));
  agent_cmd->add_option("--cpus", ao.inventory.cpus, "CPUs to offer (default: all)");
  agent_cmd->add_option("--memory", agent_memory, "memory to offer, e.g. 16G (default: all)");
  agent_cmd->add_option("--node-id", ao.node_id, "node id (default: stored in the agent's home)");
  agent_cmd->add_option("--address", ao.address,
                        "address other nodes reach this one at, for multi-node runs (default: the one used "
                        "toward the server)");
  agent_cmd->add_option("--cluster", ao.cluster, "the cluster this node belongs to (default: local)");
  agent_cmd->add_option("--allocation", ao.allocation, "what started this agent, shown with the node");
  agent_cmd->add_option("--idle-exit", agent_idle_exit, "stop after running nothing for this long, e.g. 60s");
  agent_cmd->add_flag("--exit-on-stdin-close", ao.exit_on_stdin_close, "stop when stdin reaches its end");
  agent_cmd->add_option("--token-file", agent_token_file, "read the server's token from this file");
  agent_cmd->add_flag("--token-stdin", agent_token_stdin, "read the server's token from the first line of stdin");
  agent_cmd->add_option("--agent-home", agent_home, "agent state (default: $LATTICE_HOME/agent)");
  agent_cmd->add_option("--python", ao.default_python, "default Python for .py scripts");
  agent_cmd->add_option("--grace", agent_grace, "default time between SIGTERM and SIGKILL (default 30s)");
  agent_cmd->add_option("--system-metrics-interval", agent_system_interval,
                        "how often to record CPU, memory and GPU use of each experiment (default 5s; 0 turns it off)");
  agent_cmd->add_option("--final-upload-timeout", agent_upload_timeout,
                        "how long an exited experiment waits for its artifacts to upload before its exit is "
                        "reported (default 2m)");
  agent_cmd->footer("\nExamples:\n  lattice agent --server http://10.0.0.1:8470\n"
                    "  lattice agent --server http://127.0.0.1:8470 --simulate-gpus 8\n");

  agent_cmd->add_option("--uv", ao.uv, "uv for building environments (default: beside the Python, else on PATH, "
                                       "else python -m venv + pip)");

  EnvOptions eo;
  auto* env_cmd = app.add_subcommand("env", "list or prune the Python environments built on this machine");
  env_cmd->require_subcommand(1);
  auto* env_list = env_cmd->add_subcommand("list", "cached environments with size and last use");
  auto* env_prune = env_cmd->add_subcommand("prune", "remove cached environments no running experiment uses");
  env_prune->add_option("--older-than", eo.older_than, "only those unused for this long, e.g. 7d");
  for (CLI::App* sub : {env_list, env_prune})
    sub->add_option("--agent-home", eo.agent_home, "the agent's state (default: $LATTICE_HOME/agent)");
  env_cmd->footer("\nExamples:\n  lattice env list\n  lattice env prune --older-than 7d\n");

  for (CLI::App* sub : {run, status, logs, cancel, metrics, artifacts, nodes, ui, server, agent_cmd, env_cmd, cluster})
    add_globals(sub);
  for (CLI::App* sub : {server_start, server_stop, env_list, env_prune, cluster_create, cluster_list, cluster_show,
                        cluster_delete, cluster_default, cluster_set})
    sub->fallthrough();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  log::SetLevel(verbose ? log::Level::kDebug : log::Level::kInfo);
  g.home = home.empty() ? LatticeHome() : std::filesystem::absolute(home);
  auto Dispatch = [&]() -> int {
    if (run->parsed()) {
      auto rest = run->remaining();
      RunOptions final_options = ro;
      if (!config_file.empty()) {
        auto base = LoadRunConfig(config_file);
        if (!base.ok()) return Fail(base.error());
        final_options = std::move(base).value();
        for (auto& [opt, copy] : run_overrides)
          if (opt->count()) copy(final_options);
      }
      if (!rest.empty()) {  // SCRIPT ARGS on the command line replace the file's
        final_options.script = rest[0];
        final_options.args.assign(rest.begin() + 1, rest.end());
      }
      if (final_options.script.empty())
        return Fail(Error(ErrorCode::kInvalidArgument,
                          "run needs a SCRIPT (or --config with a script); see lattice run --help"));
      final_options.args.insert(final_options.args.end(), final_options.parameter_args.begin(),
                                final_options.parameter_args.end());
      if (trials_opt->count()) final_options.trials = trials;
      if (seed_opt->count()) final_options.seed = seed;
      return RunCommand(g, final_options);
    }
    if (status->parsed()) return StatusCommand(g, status_run);
    if (logs->parsed()) {
      if (tail_opt->count()) lo.tail = tail;
      return LogsCommand(g, lo);
    }
    if (cancel->parsed()) return CancelCommand(g, cancel_target);
    if (metrics->parsed()) return MetricsCommand(g, mo);
    if (artifacts->parsed()) return ArtifactsCommand(g, aro);
    if (nodes->parsed()) return NodesCommand(g);
    if (ui->parsed()) return UiCommand(g, ui_with_token);
    if (estimate_cmd->parsed()) return EstimateCommand(g, est);
    if (compare_cmd->parsed()) return InstancesCompareCommand(g, cmp);
    if (instances_cmd->parsed()) return InstancesCommand(g, inst);
    if (cluster_create->parsed()) return ClusterCreateCommand(g, co);
    if (cluster_list->parsed()) return ClusterListCommand(g);
    if (cluster_show->parsed()) return ClusterShowCommand(g, cluster_name);
    if (cluster_delete->parsed()) return ClusterDeleteCommand(g, cluster_name);
    if (cluster_default->parsed()) return ClusterDefaultCommand(g, cluster_name);
    if (cluster_set->parsed()) return ClusterSetCommand(g, co);
    if (cost->parsed()) return CostCommand(g, cost_o);
    if (env_list->parsed()) return EnvListCommand(g, eo);
    if (env_prune->parsed()) return EnvPruneCommand(g, eo);
    if (server->parsed()) {
      if (server_start->parsed()) return ServerStartCommand(g);
      if (server_stop->parsed()) return ServerStopCommand(g);
      auto timeout = ParseDurationMs(node_timeout);
      if (!timeout.ok()) return Fail(timeout.error());
      so.node_timeout_ms = *timeout;
      so.home = g.home;
      return RunServer(so);
    }
    if (agent_cmd->parsed()) {
      ao.server_url = g.server;
      if (ao.server_url.empty()) {
        if (const char* env = std::getenv("LATTICE_SERVER"); env && *env) ao.server_url = env;
      }
      if (ao.server_url.empty())
        return Fail(Error(ErrorCode::kInvalidArgument, "agent needs --server URL (or LATTICE_SERVER)"));
      ao.home = agent_home.empty() ? g.home / "agent" : std::filesystem::absolute(agent_home);
      ao.token = ReadToken(g.home);
      if (!agent_token_file.empty()) {
        auto token = ReadTokenFile(agent_token_file);
        if (!token.ok()) return Fail(token.error());
        ao.token = *token;
      }
      if (agent_token_stdin) {  // not on the command line, where ps would show it
        std::string line;
        if (!std::getline(std::cin, line))
          return Fail(Error(ErrorCode::kInvalidArgument, "--token-stdin: stdin ended before a token line"));
        ao.token = TrimBlanks(line);
      }
      if (!agent_idle_exit.empty()) {
        auto ms = ParseDurationMs(agent_idle_exit);
        if (!ms.ok()) return Fail(ms.error());
        ao.idle_exit_ms = *ms;
      }
      if (!agent_memory.empty()) {
        auto bytes = ParseBytes(agent_memory);
        if (!bytes.ok()) return Fail(bytes.error());
        ao.inventory.memory_bytes = *bytes;
      }
      if (!agent_grace.empty()) {
        auto ms = ParseDurationMs(agent_grace);
        if (!ms.ok()) return Fail(ms.error());
        ao.default_grace_ms = *ms;
      }
      if (!agent_system_interval.empty()) {
        auto ms = agent_system_interval == "0" ? Result<int64_t>(0) : ParseDurationMs(agent_system_interval);
        if (!ms.ok()) return Fail(ms.error());
        ao.system_metrics_interval_ms = *ms;
      }
      if (!agent_upload_timeout.empty()) {
        auto ms = ParseDurationMs(agent_upload_timeout);
        if (!ms.ok()) return Fail(ms.error());
        ao.final_upload_timeout_ms = *ms;
      }
      return agent::RunAgent(ao);
    }
    return kExitUsage;
  };
  // The exception boundary of the CLI: a JSON document of unexpected shape
  // from a server (another version, a proxy) is an error, not a crash.
  try {
    return Dispatch();
  } catch (const nlohmann::json::exception& e) {
    return Fail(Error(ErrorCode::kInternal, std::string("unexpected answer from the server: ") + e.what()));
  }
}

}  // namespace lattice::cli
