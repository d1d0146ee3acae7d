#include "server/cluster_manager.h"

#include <set>
#include <sstream>

#include "cluster/slurm_backend.h"
#include "cluster/ssh_backend.h"
#include "common/fs.h"
#include "common/log.h"

namespace lattice {
namespace {
constexpr const char* kLog = "clusters";

// What a backend's step depends on, to tell whether a new input is news.
std::string Signature(const BackendInput& in) {
  std::ostringstream s;
  s << ToJson(in.cluster).dump() << '|';
  for (const auto& sh : in.demand.shapes) s << sh.key << '=' << sh.queued << ';';
  s << '|';
  for (const auto& n : in.demand.nodes) s << n.id << (n.busy ? "+" : "-") << (n.stopping ? "s" : "") << ';';
  return s.str();
}
}  // namespace

struct ClusterManager::Runner {
  std::string name;
  std::unique_ptr<ClusterBackend> backend;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  // guarded by mu
  std::optional<BackendInput> input;
  std::string input_signature;
  bool news = false;
  bool stop = false;
  bool deleted = false;
  bool done = false;
  std::optional<BackendReport> report;
  // loop thread only
  std::set<std::string> noted_shapes;
  Json status = Json::object();

  void Loop(net::EventLoop& loop, std::shared_ptr<std::atomic<bool>> alive, ClusterManager* manager) {
    std::unique_lock lock(mu);
    while (true) {
      cv.wait_for(lock, std::chrono::milliseconds(backend->IntervalMs()), [&] { return stop || news; });
      if (stop) break;
      if (!input) continue;
      BackendInput in = *input;
      news = false;
      lock.unlock();
      BackendReport r = backend->Step(in);
      lock.lock();
      report = std::move(r);
      lock.unlock();
      loop.Post([alive, manager] {
        if (alive->load()) manager->Sync();
      });
      lock.lock();
    }
    const bool release = deleted;
    lock.unlock();
    backend->Shutdown(release);
    lock.lock();
    done = true;
  }
};

ClusterManager::ClusterManager(Controller& controller, net::EventLoop& loop, const Clock& clock,
                               ClusterEnvironment env)
    : controller_(controller), loop_(loop), clock_(clock), env_(std::move(env)) {}

ClusterManager::~ClusterManager() {
  alive_->store(false);
  auto stop = [](Runner& r) {
    {
      std::lock_guard lock(r.mu);
      r.stop = true;
    }
    r.cv.notify_all();
  };
  for (auto& [name, r] : runners_) stop(*r);
  for (auto& r : retired_) stop(*r);
  for (auto& [name, r] : runners_) r->thread.join();
  for (auto& r : retired_) r->thread.join();
}

std::unique_ptr<ClusterBackend> ClusterManager::MakeBackend(const Cluster& c) {
  std::string dir = env_.state_root + "/" + c.name;
  Status made = fs::MakeDirs(dir + "/agents", 0700);
  if (!made.ok()) LOG_WARN(kLog, made.error().message);
  if (c.backend == "slurm") {
    PilotPaths paths;
    paths.lattice_binary = env_.lattice_binary;
    paths.server_url = c.server_url.empty() ? env_.server_url : c.server_url;
    paths.token_file = env_.token_file;
    paths.state_dir = dir;
    paths.job_name = "lattice-" + c.name + "-" + env_.instance;
    return std::make_unique<SlurmBackend>(std::move(paths));
  }
  if (c.backend == "ssh") {
    SshPaths paths;
    paths.lattice_binary = env_.lattice_binary;
    paths.server_url = c.server_url.empty() ? env_.server_url : c.server_url;
    paths.token_file = env_.token_file;
    paths.state_dir = dir;
    return std::make_unique<SshBackend>(std::move(paths));
  }
  return nullptr;
}

void ClusterManager::Poke() {
  if (sync_posted_) return;
  sync_posted_ = true;
  auto alive = alive_;
  loop_.Post([this, alive] {
    if (alive->load()) Sync();
  });
}

void ClusterManager::Sync() {
  sync_posted_ = false;
  const auto& clusters = controller_.Clusters();
  for (auto it = runners_.begin(); it != runners_.end();) {
    if (clusters.count(it->first)) {
      ++it;
      continue;
    }
    LOG_INFO(kLog, "cluster " << it->first << " deleted: releasing what its backend holds");
    {
      std::lock_guard lock(it->second->mu);
      it->second->stop = true;
      it->second->deleted = true;
    }
    it->second->cv.notify_all();
    retired_.push_back(std::move(it->second));
    it = runners_.erase(it);
  }
  std::erase_if(retired_, [](const std::unique_ptr<Runner>& r) {
    {
      std::lock_guard lock(r->mu);
      if (!r->done) return false;
    }
    r->thread.join();  // it is returning from Loop: a moment
    return true;
  });
  for (const auto& [name, cluster] : clusters) {
    if (cluster.backend != "slurm" && cluster.backend != "ssh") continue;
    auto& r = runners_[name];
    if (!r) {
      r = std::make_unique<Runner>();
      r->name = name;
      r->backend = MakeBackend(cluster);
      r->thread = std::thread([runner = r.get(), this, alive = alive_] { runner->Loop(loop_, alive, this); });
    }
    BackendInput in{cluster, controller_.Demand(name), clock_.MonotonicMs()};
    std::optional<BackendReport> report;
    {
      std::lock_guard lock(r->mu);
      std::string sig = Signature(in);
      if (sig != r->input_signature) {
        r->input_signature = std::move(sig);
        r->news = true;
      }
      r->input = std::move(in);
      report.swap(r->report);
    }
    if (r->news) r->cv.notify_all();
    if (report) Apply(*r, std::move(*report));
  }
}

void ClusterManager::Apply(Runner& r, BackendReport report) {
  for (const auto& key : r.noted_shapes)
    if (!report.notes.count(key)) controller_.SetWaitingNote(r.name, key, "");
  r.noted_shapes.clear();
  for (const auto& [key, note] : report.notes) {
    controller_.SetWaitingNote(r.name, key, note);
    r.noted_shapes.insert(key);
  }
  for (const auto& [node, why] : report.nodes_down) {
    Status st = controller_.NodeDown(node, why);
    if (!st.ok()) LOG_WARN(kLog, st.error().message);
  }
  r.status = std::move(report.status);
}

Json ClusterManager::StatusOf(const std::string& cluster) const {
  auto it = runners_.find(cluster);
  return it == runners_.end() ? Json::object() : it->second->status;
}

}  // namespace lattice
