// `lattice run`: snapshot the script's directory, upload it (once per
// content), submit, then print the run's name or follow its logs.
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <random>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/instance_type.h"
#include "cli/run_estimate.h"
#include "common/units.h"
#include "estimate/catalog.h"
#include "model/cost.h"
#include "net/http_types.h"
#include "cli/requirements_source.h"
#include "cli/snapshot_upload.h"
#include "snapshot/snapshot.h"
#include "sweep/sweep.h"

namespace lattice::cli {
namespace {

Status CheckReadable(const std::filesystem::path& script) {
  std::error_code ec;
  if (!std::filesystem::exists(script, ec))
    return Error(ErrorCode::kNotFound, "script '" + script.string() + "' does not exist");
  if (std::filesystem::is_directory(script, ec))
    return Error(ErrorCode::kInvalidArgument, "script '" + script.string() + "' is a directory, not a file");
  int fd = ::open(script.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot read script '" + script.string() + "'", errno);
  ::close(fd);
  return OkStatus();
}

// Writes s as a JSON string; fast enough for a million arguments.
void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\t': out->append("\\t"); break;
      case '\r': out->append("\\r"); break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

struct Plan {
  sweep::SweepSpec spec;
  sweep::Expansion expansion;
  uint64_t seed = 0;
};

Result<Plan> PlanSweep(const RunOptions& o) {
  Plan plan;
  plan.seed = o.seed ? *o.seed : std::random_device{}() * 4294967296ull + std::random_device{}();
  LATTICE_ASSIGN_OR_RETURN(plan.spec, sweep::ParseSweep(o.args, plan.seed));
  LATTICE_ASSIGN_OR_RETURN(sweep::Strategy strategy, sweep::ParseStrategy(o.strategy));
  sweep::ExpandOptions expand;
  expand.strategy = strategy;
  expand.trials = o.trials;
  expand.seed = plan.seed;
  expand.max_experiments = o.max_experiments;
  expand.materialize = !o.dry_run;  // a dry run streams: a 1M grid is ~700 MB of strings
  LATTICE_ASSIGN_OR_RETURN(plan.expansion, sweep::Expand(plan.spec, expand));
  return plan;
}

// Who submits: the login name, for `lattice cost --by user`.
std::string LoginName() {
  if (const passwd* pw = ::getpwuid(::geteuid()); pw && pw->pw_name) return pw->pw_name;
  const char* user = std::getenv("USER");
  return user ? user : "";
}

// The share of a cluster's node an experiment asking `o` holds, against its
// biggest ready node (what the server charges: model/cost.h NodeShare).
double ShareOfNodes(const Json& cluster, const RunOptions& o) {
  Node biggest;
  for (const auto& n : cluster.value("nodes", Json::array())) {
    if (n.value("state", "") != "ready") continue;
    const size_t gpus = n.value("gpus", Json::array()).size();
    if (gpus > biggest.gpus.size() || (gpus == biggest.gpus.size() && n.value("cpus", 0.0) > biggest.cpus)) {
      biggest.cpus = n.value("cpus", 0.0);
      biggest.gpus.assign(gpus, Gpu{});
    }
  }
  return NodeShare(o.cpus, o.gpus, biggest);
}

// What the dry run's estimate rests on: the catalog's prices for a catalog
// --instance_type, else the cluster's price; --max-duration, else how long
// earlier runs of the script took. A dry run starts nothing: the server is
// asked only when one is running already.
RunEstimate GatherEstimate(const GlobalOptions& g, const RunOptions& o, uint64_t experiments) {
  RunEstimate e;
  e.experiments = experiments;
  e.nodes = std::max(1, o.nodes);
  e.max_cost = o.max_cost;
  if (auto ms = ParseDurationMs(o.max_duration); !o.max_duration.empty() && ms.ok())
    e.duration = DurationQuote{*ms, "--max-duration"};
  if (!o.instance_type.empty()) {
    auto type = ParseInstanceType(o.instance_type);
    auto catalog = estimate::ActiveCatalog();
    if (type.ok() && !type->catalog_name.empty() && catalog.ok()) {
      if (const estimate::InstanceSpec* spec = (*catalog)->Find(type->catalog_name); spec && spec->OnDemandPerHour())
        e.price = PriceQuote{*spec->OnDemandPerHour(), spec->SpotPerHour(),
                             spec->name + ", " + spec->provider + ", its cheapest region; catalog of " +
                                 (*catalog)->as_of};
    }
  }
  const std::string script = std::filesystem::path(o.script).filename().string();
  auto connection = Connect(ConnectOptions{g.server, g.home, /*start_local=*/false});
  if (!connection.ok()) {
    e.note = "no server is running: the cluster's price and earlier runs of " + script + " are unknown";
    return e;
  }
  ApiClient client(std::move(connection).value());
  if (!e.price) {
    std::string name = o.cluster;
    if (name.empty())
      if (auto list = client.Get("/clusters"); list.ok()) name = list->value("default", "local");
    if (auto cluster = client.Get("/clusters/" + net::PercentEncode(name)); cluster.ok()) {
      const double price = cluster->value("price_per_node_hour", 0.0);
      const double share = ShareOfNodes(*cluster, o);
      char source[160];
      std::snprintf(source, sizeof source, "cluster %s's price %s/node-hour × %.3g of a node", name.c_str(),
                    FormatMoney(price).c_str(), share);
      e.price = PriceQuote{price * share, std::nullopt, price > 0 ? source : "cluster " + name + " is free"};
      // A cluster priced from a catalog type: that type's spot price, for comparison.
      const std::string type = cluster->value("instance_type", "");
      auto catalog = estimate::ActiveCatalog();
      if (const estimate::InstanceSpec* spec = catalog.ok() && !type.empty() ? (*catalog)->Find(type) : nullptr)
        if (auto spot = spec->SpotPerHour()) e.price->spot = *spot * share;
    }
  }
  if (!e.duration) {
    if (auto d = client.Get("/durations?script=" + net::PercentEncode(script)); d.ok() && d->value("experiments", 0) > 0)
      e.duration = DurationQuote{d->value("median_ms", int64_t{0}),
                                 "the median of " + std::to_string(d->value("experiments", 0)) +
                                     " earlier experiments of " + script};
  }
  return e;
}

// --dry-run: the experiments and the totals, nothing started.
int PrintDryRun(const GlobalOptions& g, const RunOptions& o, const Plan& plan) {
  const auto& points = plan.expansion.points;
  uint64_t n = points.size();
  // Points without args are grid indices to build one at a time.
  sweep::Point scratch;
  const uint64_t nodes = static_cast<uint64_t>(std::max(1, o.nodes));
  auto point = [&](uint64_t i) -> const sweep::Point& {
    if (!points[i].args.empty() || plan.spec.args.empty()) return points[i];
    auto p = sweep::PointAt(plan.spec, points[i].grid_index);
    scratch = p.ok() ? std::move(p).value() : sweep::Point{};
    return scratch;
  };
  if (g.json) {
    std::string out;
    out.reserve(n * 64);
    out.append("{\"experiments\":[");
    for (uint64_t i = 0; i < n; ++i) {
      if (i) out.push_back(',');
      out.append("{\"id\":\"").append(std::to_string(i)).append("\",\"args\":[");
      const auto& args = point(i).args;
      for (size_t a = 0; a < args.size(); ++a) {
        if (a) out.push_back(',');
        AppendJsonString(&out, args[a]);
      }
      out.append("]}");
    }
    char total[256];
    std::snprintf(total, sizeof total,
                  "],\"total\":{\"experiments\":%llu,\"nodes\":%llu,\"gpus\":%llu,\"cpus\":%g},\"seed\":%llu,",
                  static_cast<unsigned long long>(n), static_cast<unsigned long long>(n * nodes),
                  static_cast<unsigned long long>(n * nodes * static_cast<uint64_t>(o.gpus)),
                  static_cast<double>(n * nodes) * o.cpus, static_cast<unsigned long long>(plan.seed));
    out.append(total);
    out.append("\"estimate\":").append(RunEstimateJson(GatherEstimate(g, o, n)).dump()).append("}\n");
    std::fwrite(out.data(), 1, out.size(), stdout);
    return kExitOk;
  }
  std::string text;
  for (uint64_t i = 0; i < n; ++i) {
    text.append(std::to_string(i)).append("  ").append(o.script);
    for (const auto& a : point(i).args) text.append(" ").append(a);
    text.push_back('\n');
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!plan.expansion.note.empty()) std::fprintf(stderr, "lattice: %s\n", plan.expansion.note.c_str());
  std::printf("%llu experiment%s", static_cast<unsigned long long>(n), n == 1 ? "" : "s");
  if (nodes > 1) std::printf(" × %llu nodes", static_cast<unsigned long long>(nodes));
  if (o.gpus) std::printf(" × %d GPUs = %llu GPUs", o.gpus, static_cast<unsigned long long>(n * nodes * o.gpus));
  std::printf(" (%g CPUs in all); nothing was started\n", static_cast<double>(n * nodes) * o.cpus);
  std::fputs(DescribeRunEstimate(GatherEstimate(g, o, n)).c_str(), stdout);
  return kExitOk;
}

Result<Json> BuildSubmission(const RunOptions& o, const std::string& snapshot, const std::string& script_name) {
  Json resources{{"cpus", o.cpus}, {"gpus", o.gpus}};
  if (!o.memory.empty()) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t bytes, ParseBytes(o.memory));
    resources["memory_bytes"] = bytes;
  }
  Json env = Json::object();
  for (const auto& kv : o.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(ErrorCode::kInvalidArgument, "--env '" + kv.substr(0, 40) + "' must look like NAME=VALUE", "env");
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  Json body{{"script", script_name}, {"args", o.args},        {"snapshot", snapshot},
            {"resources", resources}, {"env", env},           {"max_restarts", o.max_restarts},
            {"description", o.description}};
  if (!o.name.empty()) body["name"] = o.name;
  if (!o.python.empty()) body["python"] = o.python;
  if (o.nodes != 1) body["nodes"] = o.nodes;
  if (!o.launcher.empty()) body["launcher"] = o.launcher;
  if (!o.cluster.empty()) body["cluster"] = o.cluster;
  if (!o.grace.empty()) {
    LATTICE_ASSIGN_OR_RETURN(int64_t ms, ParseDurationMs(o.grace));
    body["grace_ms"] = ms;
  }
  if (o.max_cost > 0) body["max_cost"] = o.max_cost;
  if (!o.max_duration.empty()) {
    auto ms = ParseDurationMs(o.max_duration);
    if (!ms.ok() || *ms <= 0)
      return Error(ErrorCode::kInvalidArgument,
                   "--max-duration '" + o.max_duration.substr(0, 40) + "' must be a positive duration like 90m, 2h "
                   "or 1d",
                   "max_duration");
    body["max_duration_ms"] = *ms;
  }
  body["user"] = LoginName();
  return body;
}

// The run's Python environment: requirement text found beside the script
// (or given), the set-up command and whether system packages show through.
Result<Json> EnvironmentJson(const RunOptions& o, const std::filesystem::path& dir) {
  LATTICE_ASSIGN_OR_RETURN(RequirementsSource reqs, FindRequirements(dir, o.requirements));
  if (reqs.text.empty() && o.setup.empty()) {
    if (!o.requirements.empty())
      return Error(ErrorCode::kInvalidArgument, "--requirements " + o.requirements + " lists no requirements",
                   "requirements");
    return Json();
  }
  return Json{{"requirements", reqs.text},
              {"source", reqs.source},
              {"system_site_packages", o.system_site_packages},
              {"setup", o.setup}};
}

// The points of the sweep and how they were made, for the server to keep.
void AddSweep(const RunOptions& o, const Plan& plan, Json* body) {
  Json parameters = Json::array();
  for (const auto& d : plan.spec.dims) parameters.push_back(d.name);
  (*body)["sweep"] = Json{{"strategy", o.strategy}, {"seed", plan.seed},
                          {"trials", o.trials.value_or(0)}, {"parameters", parameters}};
  (*body)["max_parallel"] = o.max_parallel;
  (*body)["priority"] = o.priority;
  if (plan.spec.dims.empty()) return;  // one experiment with the args as given
  Json experiments = Json::array();
  for (const auto& p : plan.expansion.points) experiments.push_back(Json{{"args", p.args}, {"params", p.values}});
  (*body)["experiments"] = std::move(experiments);
}

// Uploads the chunks the server lacks (snapshot_upload.h); progress and a
// summary go to stderr.
Status Upload(ApiClient& client, const snapshot::Snapshot& snap) {
  UploadOptions options;
  options.tty = ::isatty(STDERR_FILENO) == 1;
  LATTICE_ASSIGN_OR_RETURN(UploadResult result, UploadSnapshot(client, snap, options));
  (void)result;
  return OkStatus();
}

}  // namespace

// Grid's --instance_type: --gpus is the total, in whole machines of that
// shape; a CPU shape gives the CPUs and memory.
Result<RunOptions> WithInstanceType(RunOptions o) {
  if (o.instance_type.empty()) return o;
  LATTICE_ASSIGN_OR_RETURN(InstanceType type, ParseInstanceType(o.instance_type));
  if (o.nodes != 1)
    return Error(ErrorCode::kInvalidArgument,
                 "give either --nodes or --instance_type with the total --gpus, not both", "nodes");
  LATTICE_ASSIGN_OR_RETURN(NodeShape shape, ShapeFor(type, o.instance_type, o.gpus));
  LATTICE_RETURN_IF_ERROR(CheckNodeResources(type, o.cpus, o.memory));
  o.nodes = shape.nodes;
  o.gpus = shape.gpus_per_node;
  // A catalog machine's vCPUs and memory are what it offers; --cpus/--memory stay what the experiment reserves.
  if (type.cpus > 0 && type.catalog_name.empty()) {
    o.cpus = type.cpus;
    if (o.memory.empty()) o.memory = std::to_string(type.memory_bytes >> 30) + "G";
  }
  return o;
}

int RunCommand(const GlobalOptions& g, const RunOptions& given) {
  auto resolved = WithInstanceType(given);
  if (!resolved.ok()) return Fail(resolved.error());
  const RunOptions& o = *resolved;
  std::filesystem::path script = o.script;
  if (Status st = CheckReadable(script); !st.ok()) return Fail(st.error());
  // Validate everything local before touching the server: nothing is created on error.
  if (auto body = BuildSubmission(o, std::string(64, '0'), "x"); !body.ok()) return Fail(body.error());
  auto plan = PlanSweep(o);
  if (!plan.ok()) return Fail(plan.error());
  if (o.dry_run) return PrintDryRun(g, o, *plan);
  if (!plan->expansion.note.empty() && !g.json) std::fprintf(stderr, "lattice: %s\n", plan->expansion.note.c_str());

  std::error_code ec;
  auto abs = std::filesystem::absolute(script, ec);
  auto dir = abs.parent_path();
  auto environment = EnvironmentJson(o, dir);
  if (!environment.ok()) return Fail(environment.error());
  auto snap = snapshot::CreateSnapshot(dir, snapshot::SnapshotOptions{});
  if (!snap.ok()) return Fail(snap.error());

  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  if (Status st = Upload(*client, *snap); !st.ok()) return Fail(st.error());
  auto body = BuildSubmission(o, snap->sha256, abs.filename().string());
  if (!body.ok()) return Fail(body.error());
  AddSweep(o, *plan, &*body);
  if (!environment->is_null()) (*body)["environment"] = std::move(*environment);
  auto run = client->Post("/runs", *body);
  if (!run.ok()) return Fail(run.error());
  std::string name = (*run)["name"].get<std::string>();

  if (!o.follow) {
    if (g.json) std::cout << run->dump() << "\n";
    else std::cout << name << "\n";
    return kExitOk;
  }
  if (!g.json) std::cerr << "lattice: run " << name << " submitted; following its logs (Ctrl-C stops following, not the run)\n";
  std::vector<int> exps((*run)["experiments"].size());
  std::iota(exps.begin(), exps.end(), 0);
  LogView view;
  view.follow = true;
  auto worst = FollowExperiments(*client, name, exps, view, g.json ? stderr : stdout);
  if (!worst.ok()) return Fail(worst.error());
  if (g.json) {
    auto final_doc = client->Get("/runs/" + name);
    if (final_doc.ok()) std::cout << final_doc->dump() << "\n";
  }
  return *worst;
}

}  // namespace lattice::cli
