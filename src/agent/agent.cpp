#include "agent/agent.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "agent/collector.h"
#include "agent/env_build.h"
#include "agent/env_cache.h"
#include "agent/launcher.h"
#include "agent/netif.h"
#include "agent/rank_output.h"
#include "agent/snapshot_fetch.h"
#include "common/fs.h"
#include "common/safe_path.h"
#include "metrics/points_codec.h"
#include "common/json.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "model/agent_protocol.h"
#include "net/http_client.h"
#include "snapshot/sha256.h"
#include "snapshot/snapshot.h"

namespace lattice::agent {
namespace {

constexpr size_t kShipChunk = 4 << 20;
constexpr int64_t kShutdownShipMs = 3000;
// How long a stopping agent waits for its attempts' last files (a checkpoint
// saved in the grace period) to be uploaded.
constexpr int64_t kShutdownUploadMs = 15'000;
// How long after the final uploads' deadline an exit waits for its output to
// be shipped before it is reported anyway.
constexpr int64_t kShipGraceMs = 30'000;
constexpr int64_t kHeartbeatMs = 2000;
constexpr int64_t kCollectEveryMs = 500;
constexpr size_t kUploadChunk = 8 << 20;
constexpr size_t kPointsPerFrame = 100'000;

int64_t MonoMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
constexpr const char* kLog = "agent";

struct AttemptRecord {
  Assignment assignment;
  std::filesystem::path dir;
  pid_t supervisor = -1;  // rank 0's on this node (its process tree is sampled)
  std::vector<pid_t> supervisors;  // one per local process
  int master_port = 0;  // gangs: the rendezvous port (chosen here on node rank 0)
  uint64_t captured = 0;   // bytes in the spool file
  uint64_t shipped = 0;    // bytes the server has acknowledged
  bool exited = false;
  bool lost = false;       // found in the spool after an agent restart
  int exit_code = -1;
  bool exit_reported = false;
  bool stop_requested = false;
  bool aborted = false;  // its gang ended: stopped with the short grace
  std::string message;  // while starting: what it does; after: why it ended
  std::thread reader;   // prepares, launches, then reads the output
  std::atomic<bool> cancel_prepare{false};  // stops an environment build
  std::unique_ptr<EnvLease> env;            // the environment, held in use while it runs

  // Metrics and files (the collector thread and the uploader).
  std::unique_ptr<AttemptCollector> collector;
  uint64_t points_captured = 0;  // bytes of points.bin the shipper may send
  uint64_t points_length_on_disk = 0;  // of points.bin as collect.state says (collector thread)
  uint64_t points_shipped = 0;   // bytes the server has acknowledged
  bool collected_final = false;  // the collector's last pass is done
  int uploads_pending = 0;       // files found and not yet uploaded
  std::string upload_error;      // the last failure, for the log
  int64_t exit_mono_ms = 0;
  // The exit is reported once the last pass ran and its files are uploaded.
  bool finalized = false;
  // Uploaded checkpoint files by top-level entry: a checkpoint is registered
  // with every file of its entry, so the newest registration is whole.
  std::map<std::string, std::map<std::string, RestoreFile>> checkpoint_entries;
};

struct UploadJob {
  std::shared_ptr<AttemptRecord> rec;
  bool checkpoint = false;
  ReadyFile file;
};

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A port free right now (torch's store binds it a moment later, as torchrun
// does with its own pick). `any`: on every interface, for a gang's rank 0.
int FreePort(bool any = false) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 29500;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(any ? INADDR_ANY : INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 29500;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string DefaultPython(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = getenv("LATTICE_PYTHON"); env && *env) return env;
  // The project venv beside the binary: <repo>/build/lattice -> <repo>/.venv.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      auto py = dir / ".venv" / "bin" / "python";
      if (access(py.c_str(), X_OK) == 0) return py.string();
    }
  }
  return "python3";
}

using SpoolFds = std::map<std::pair<int64_t, bool>, int>;  // (attempt, points) -> descriptor

class Agent final {
 public:
  explicit Agent(AgentOptions options) : options_(std::move(options)) {}

  int Run(std::atomic<bool>& stop) {
    stop_ = &stop;
    Status st = Init();
    if (!st.ok()) {
      LOG_ERROR(kLog, st.error().message);
      return 1;
    }
    std::thread shipper([this] { ShipLoop(); });
    std::thread collector([this] { CollectLoop(); });
    std::thread uploader([this] { UploadLoop(); });
    std::thread syncer([this] { SyncLoop(); });
    // A stop must not wait for the sync long poll to run out.
    while (!stop_->load()) {
      // A stop of its own is a stop like SIGTERM's: the sync loop, its
      // backoff and the shipper end on the flag.
      if (StopsByItself()) stop_->store(true);
      else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    {
      std::lock_guard lock(sync_client_mu_);
      if (sync_client_) sync_client_->Interrupt();
    }
    syncer.join();
    Shutdown();
    {
      std::lock_guard lock(mu_);
      collecting_done_ = true;
    }
    cv_.notify_all();
    upload_cv_.notify_all();
    collector.join();
    uploader.join();
    {
      std::lock_guard lock(mu_);
      shipping_done_ = true;
    }
    // A big backlog must not hold up a stop: what is left stays in the
    // spool and the next agent on this home ships it.
    ship_deadline_ms_ = MonoMs() + kShutdownShipMs;
    cv_.notify_all();
    shipper.join();
    return 0;
  }

 private:
  Status Init() {
    LATTICE_ASSIGN_OR_RETURN(net::Url url, net::ParseUrl(options_.server_url));
    url_ = url;
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(options_.home, 0700));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(options_.home / "attempts"));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(options_.home / "cache"));
    LATTICE_RETURN_IF_ERROR(fs::WriteFileAtomic(options_.home / "agent.pid", std::to_string(getpid()) + "\n"));
    node_id_ = options_.node_id;
    if (node_id_.empty()) {
      auto stored = fs::ReadFile(options_.home / "node-id");
      if (stored.ok() && !stored->empty()) {
        node_id_ = *stored;
        while (!node_id_.empty() && (node_id_.back() == '\n' || node_id_.back() == ' ')) node_id_.pop_back();
      } else {
        char host[128] = {0};
        gethostname(host, sizeof host - 1);
        std::mt19937_64 rng(std::random_device{}());
        char suffix[8];
        std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(rng() & 0xffff));
        node_id_ = std::string(host) + "-" + suffix;
        for (char& c : node_id_)
          if (c == '/' || c == ' ' || c == '?' || c == '#') c = '-';
        LATTICE_RETURN_IF_ERROR(fs::WriteFileAtomic(options_.home / "node-id", node_id_ + "\n"));
      }
    }
    python_ = DefaultPython(options_.default_python);
    inventory_ = DetectInventory(options_.inventory);
    if (inventory_.gpu_source.rfind("nvml", 0) == 0) {
      std::string why;
      gpu_sampler_ = GpuSampler::Open(&why);
      if (!gpu_sampler_) LOG_WARN(kLog, "no GPU metrics: " << why);
    }
    env_cache_ = std::make_unique<EnvCache>(options_.home / "envs");
    LATTICE_RETURN_IF_ERROR(env_cache_->Init());
    RecoverSpool();
    return OkStatus();
  }

  // Attempts left in the spool by a previous agent process: their ranks died
  // with it (the supervisor saw the agent go), so report them lost or exited
  // and ship what they printed.
  void RecoverSpool() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(options_.home / "attempts", ec)) {
      int64_t id = 0;
      try {
        id = std::stoll(entry.path().filename().string());
      } catch (...) {
        continue;
      }
      auto rec = std::make_shared<AttemptRecord>();
      rec->assignment.attempt = id;
      rec->dir = entry.path();
      struct stat st {};
      if (stat((rec->dir / "output.log").c_str(), &st) == 0) rec->captured = static_cast<uint64_t>(st.st_size);
      auto code = fs::ReadFile(rec->dir / "exit");
      auto lost = fs::ReadFile(rec->dir / "lost");
      if (lost.ok()) {
        rec->lost = true;
        rec->exited = true;
        rec->message = *lost;
      } else if (code.ok()) {
        rec->exit_code = std::atoi(code->c_str());
        rec->exited = true;
      } else {
        rec->lost = true;
        rec->exited = true;
        rec->message = "the agent restarted while the attempt ran";
      }
      rec->exit_mono_ms = MonoMs();
      rec->collector = MakeCollector(*rec, /*supervisor=*/-1, {});
      uint64_t saved_points = 0;
      if (auto state = fs::ReadFile(rec->dir / "collect.state"); state.ok()) {
        if (auto j = ParseJson(*state, "collect.state"); j.ok() && j->is_object()) {
          rec->collector->Restore(*j);
          saved_points = j->value("points_length", uint64_t{0});
        }
      }
      rec->points_captured = rec->points_length_on_disk = RecoverPoints(rec->dir / "points.bin", saved_points);
      LOG_INFO(kLog, "recovered attempt " << id << " from the spool (" << rec->captured << " bytes of output)");
      attempts_[id] = std::move(rec);
    }
  }

  // The points spool as the last saved collector state knew it: frames
  // appended after that save (the agent died before it) are cut off, and
  // the readers, restored to that state, collect those points again.
  static uint64_t RecoverPoints(const std::filesystem::path& path, uint64_t saved_length) {
    auto data = fs::ReadFile(path);
    if (!data.ok()) return 0;
    uint64_t whole = 0;
    std::string_view rest(std::string_view(*data).substr(0, std::min<uint64_t>(saved_length, data->size())));
    while (!rest.empty()) {
      size_t n = metrics::WholeFramesPrefix(rest, rest.size());
      if (n == 0) break;
      whole += n;
      rest.remove_prefix(n);
    }
    if (whole < data->size()) (void)!::truncate(path.c_str(), static_cast<off_t>(whole));
    return whole;
  }

  std::unique_ptr<AttemptCollector> MakeCollector(const AttemptRecord& rec, pid_t supervisor, std::vector<int> gpus) {
    CollectorPaths paths;
    paths.metrics_file = rec.dir / "metrics.jsonl";
    paths.workspace = rec.dir / "code";
    paths.artifacts_dir = rec.dir / "artifacts";
    paths.checkpoint_dir = rec.dir / "checkpoints";
    CollectorOptions opts;
    opts.system_interval_ms = options_.system_metrics_interval_ms;
    return std::make_unique<AttemptCollector>(paths, supervisor, std::move(gpus), gpu_sampler_.get(), MonoMs(), opts);
  }

  net::HttpClient& Client() {
    thread_local std::unique_ptr<net::HttpClient> client;
    if (!client) client = std::make_unique<net::HttpClient>(url_, options_.token);
    return *client;
  }

  // The client puts the server URL's base path in front.
  static std::string Api(const std::string& path) { return "/api/v1" + path; }

  // POSTs JSON; returns the parsed body of a 2xx answer.
  Result<Json> PostJson(const std::string& path, const Json& body, std::chrono::milliseconds timeout) {
    net::ClientRequest req;
    req.method = "POST";
    req.target = Api(path);
    req.body = body.dump();
    req.timeout = timeout;
    LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, Client().Send(req));
    if (resp.status / 100 != 2)
      return Error(resp.status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                   "server answered " + std::to_string(resp.status) + " to " + path + ": " + resp.body);
    return ParseJson(resp.body, "server response");
  }

  // --idle-exit and --exit-on-stdin-close: polled by Run's wait loop.
  bool StopsByItself() {
    if (options_.exit_on_stdin_close) {
      pollfd p{0, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {
        char buf[256];
        ssize_t n = ::read(0, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || (p.revents & (POLLHUP | POLLERR | POLLNVAL))) {
          LOG_INFO(kLog, "stdin closed: stopping");
          return true;
        }
      }
    }
    if (options_.idle_exit_ms > 0) {
      bool idle;
      {
        std::lock_guard lock(mu_);
        idle = attempts_.empty();
      }
      const int64_t now = MonoMs();
      if (!idle || idle_since_ms_ == 0) idle_since_ms_ = now;
      if (now - idle_since_ms_ >= options_.idle_exit_ms) {
        LOG_INFO(kLog, "nothing to run for " << options_.idle_exit_ms / 1000 << " s (--idle-exit): stopping");
        return true;
      }
    }
    return false;
  }

  bool Register() {
    NodeRegistration reg;
    reg.id = node_id_;
    reg.hostname = inventory_.hostname;
    reg.cpus = inventory_.cpus;
    reg.memory_bytes = inventory_.memory_bytes;
    reg.gpus = inventory_.gpus;
    reg.address = options_.address;
    reg.cluster = options_.cluster;
    reg.allocation = options_.allocation;
    if (reg.address.empty()) {
      // The address this node uses toward the server is one the other
      // nodes of a cluster can reach it at.
      auto local = LocalAddressToward(url_.host, url_.port);
      if (local.ok()) reg.address = *local;
      else LOG_WARN(kLog, "cannot tell this node's address (use --address): " << local.error().message);
    }
    auto r = PostJson("/agents/register", ToJson(reg), std::chrono::milliseconds(10000));
    if (!r.ok()) {
      LOG_WARN(kLog, "cannot register with " << options_.server_url << ": " << r.error().message);
      return false;
    }
    if (r->is_object() && r->contains("node_timeout_ms") && (*r)["node_timeout_ms"].is_number_integer())
      server_node_timeout_ms_ = (*r)["node_timeout_ms"].get<int64_t>();
    last_contact_ms_ = MonoMs();
    LOG_INFO(kLog, "registered as node " << node_id_ << " with " << inventory_.cpus << " CPUs, "
                                         << inventory_.gpus.size() << " GPUs (" << inventory_.gpu_source << ")");
    return true;
  }

  std::vector<AttemptReport> Reports() {
    std::lock_guard lock(mu_);
    std::vector<AttemptReport> out;
    for (auto& [id, rec] : attempts_) {
      AttemptReport r;
      r.id = id;
      r.log_bytes = rec->captured;
      r.message = rec->message;
      if (rec->assignment.nnodes > 1) r.master_port = rec->master_port;
      // The exit goes out once its last output and points reached the server
      // (the sync thread reports too, and must not overtake the shipper), so
      // whoever sees the experiment ended can read all of its log; a server
      // that keeps refusing them must not keep it running forever.
      const bool shipped_all = (rec->shipped >= rec->captured && rec->points_shipped >= rec->points_captured) ||
                               MonoMs() - rec->exit_mono_ms > options_.final_upload_timeout_ms + kShipGraceMs;
      // While the agent stops (a machine going away, a preemption notice) its
      // ranks had their grace to save a checkpoint: their lost state waits
      // until those files are uploaded, as the server refuses a lost
      // attempt's files.
      const bool uploading_last = rec->lost && rec->collector && !rec->finalized && MonoMs() < final_uploads_until_;
      if (uploading_last) r.message = "uploading its last files before the agent stops";
      else if (rec->lost) r.state = ReportedState::kLost;
      else if (rec->exited && rec->finalized && shipped_all) {
        r.state = ReportedState::kExited;
        r.exit_code = rec->exit_code;
      } else r.state = ReportedState::kRunning;
      out.push_back(std::move(r));
    }
    return out;
  }

  void SyncLoop() {
    {
      std::lock_guard lock(sync_client_mu_);
      sync_client_ = &Client();
    }
    // The client is this thread's and dies with it: no Interrupt after that.
    struct Forget {
      Agent* agent;
      ~Forget() {
        std::lock_guard lock(agent->sync_client_mu_);
        agent->sync_client_ = nullptr;
      }
    } forget{this};
    int64_t backoff_ms = 100;
    bool registered = false;
    while (!stop_->load()) {
      if (!registered) {
        registered = Register();
        if (!registered) {
          Backoff(&backoff_ms);
          continue;
        }
      }
      auto reports = Reports();
      auto r = PostJson("/agents/" + node_id_ + "/sync?wait_ms=" + std::to_string(options_.sync_wait_ms),
                        ToJson(reports), std::chrono::milliseconds(options_.sync_wait_ms + 10000));
      if (!r.ok()) {
        if (r.error().code == ErrorCode::kNotFound) registered = false;  // the server forgot us
        LOG_WARN(kLog, "sync failed: " << r.error().message);
        Backoff(&backoff_ms);
        continue;
      }
      backoff_ms = 100;
      last_contact_ms_ = MonoMs();
      auto work = ParseAgentWork(*r);
      if (!work.ok()) {
        LOG_ERROR(kLog, work.error().message);
        continue;
      }
      Apply(*work);
    }
  }

  void Backoff(int64_t* ms) {
    for (int64_t waited = 0; waited < *ms && !stop_->load(); waited += 50)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    *ms = std::min<int64_t>(*ms * 2, 5000);
  }

  void Apply(const AgentWork& work) {
    for (const Assignment& a : work.assign) {
      {
        std::lock_guard lock(mu_);
        if (attempts_.count(a.attempt)) continue;  // already running or finished
      }
      Start(a);
    }
    for (int64_t id : work.cancel) {
      std::lock_guard lock(mu_);
      auto it = attempts_.find(id);
      if (it == attempts_.end() || it->second->exited || it->second->stop_requested) continue;
      it->second->stop_requested = true;
      it->second->cancel_prepare = true;
      LOG_INFO(kLog, "stopping attempt " << id);
      for (pid_t p : it->second->supervisors) RequestStop(p);
    }
    for (int64_t id : work.abort) {
      std::lock_guard lock(mu_);
      auto it = attempts_.find(id);
      if (it == attempts_.end() || it->second->exited || it->second->aborted) continue;
      LOG_INFO(kLog, "aborting attempt " << id << ": its gang ended on another node");
      AbortLocked(*it->second);
    }
    for (const MasterPort& m : work.master_ports) {
      std::lock_guard lock(mu_);
      auto it = attempts_.find(m.attempt);
      if (it == attempts_.end() || it->second->master_port == m.port) continue;
      it->second->master_port = m.port;
      report_pending_ = true;  // the server stops sending it once we report it
    }
    if (!work.master_ports.empty()) cv_.notify_all();
    for (int64_t id : work.forget) Forget(id);
  }

  // Requires mu_. Stops every rank of the attempt at once (short grace).
  void AbortLocked(AttemptRecord& rec) {
    rec.aborted = true;
    rec.stop_requested = true;
    rec.cancel_prepare = true;
    for (pid_t p : rec.supervisors) RequestAbort(p);
    cv_.notify_all();  // a part waiting for its master port gives up
  }

  void Forget(int64_t id) {
    std::shared_ptr<AttemptRecord> rec;
    {
      std::lock_guard lock(mu_);
      auto it = attempts_.find(id);
      if (it == attempts_.end() || !it->second->exited || !it->second->finalized) return;
      rec = std::move(it->second);
      attempts_.erase(it);
    }
    if (rec->reader.joinable()) rec->reader.join();
    (void)fs::RemoveAll(rec->dir);
  }

  // Takes on an attempt: its own thread fetches the code, restores the
  // checkpoint, gets the environment (which may take minutes to build) and
  // launches, so the sync loop never waits on any of it.
  void Start(const Assignment& a) {
    auto rec = std::make_shared<AttemptRecord>();
    rec->assignment = a;
    rec->dir = options_.home / "attempts" / std::to_string(a.attempt);
    rec->message = "fetching the code";
    // A gang's rank 0 picks the rendezvous port now, so the other nodes
    // learn it while they prepare.
    rec->master_port = a.nnodes > 1 && a.node_rank == 0 ? FreePort(/*any=*/true) : a.master_port;
    {
      std::lock_guard lock(mu_);
      attempts_[a.attempt] = rec;
      report_pending_ = true;  // tell the server at once (the sync long poll may be idle)
    }
    cv_.notify_all();
    AttemptRecord* raw = rec.get();
    rec->reader = std::thread([this, raw] { RunAttempt(raw); });
  }

  void RunAttempt(AttemptRecord* raw) {
    AttemptRecord& rec = *raw;
    const Assignment& a = rec.assignment;
    bool env_failed = false;
    Status st = Prepare(rec, &env_failed);
    if (st.ok() && a.nnodes > 1 && a.node_rank > 0) AwaitMasterPort(rec);
    bool cancelled;
    {
      // Cancelled or stopping: whatever Prepare said (a build it broke off).
      std::lock_guard lock(mu_);
      cancelled = rec.lost || rec.stop_requested;
    }
    if (cancelled) st = Error(ErrorCode::kFailedPrecondition, "cancelled before it started");
    std::vector<Launched> procs;
    Status launched = st;
    if (launched.ok()) {
      for (const LaunchSpec& spec : BuildLaunchSpecs(rec)) {
        auto one = Launch(spec);
        if (!one.ok()) {
          launched = one.error();
          break;
        }
        procs.push_back(*one);
      }
    }
    int spool_fd = -1;
    if (launched.ok()) {
      spool_fd = ::open((rec.dir / "output.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (spool_fd < 0) launched = ErrnoError("cannot open the spool file", errno);
    }
    if (!launched.ok()) {
      for (const Launched& p : procs) {  // the ranks that did start
        RequestAbort(p.supervisor);
        ::close(p.output_fd);
        while (waitpid(p.supervisor, nullptr, 0) < 0 && errno == EINTR) {
        }
      }
      return EndUnstarted(rec, launched.error(), cancelled, env_failed);
    }
    {
      std::lock_guard lock(mu_);
      for (const Launched& p : procs) rec.supervisors.push_back(p.supervisor);
      rec.supervisor = procs.front().supervisor;
      rec.collector = MakeCollector(rec, rec.supervisor, gpu_sampler_ ? a.gpus : std::vector<int>{});
      rec.message.clear();
      report_pending_ = true;
      // A cancel that came while it launched.
      if (rec.stop_requested || rec.lost)
        for (pid_t p : rec.supervisors) RequestStop(p);
    }
    cv_.notify_all();
    LOG_INFO(kLog, "attempt " << a.attempt << " (" << a.run << "/" << a.experiment << ") started "
                              << procs.size() << " process(es), first supervisor pid " << rec.supervisor);
    ReadOutput(raw, procs, spool_fd);
  }

  // A gang part on node rank > 0 starts its ranks once rank 0's node told
  // the server its rendezvous port (or gives up when stopped).
  void AwaitMasterPort(AttemptRecord& rec) {
    {
      std::lock_guard lock(mu_);
      if (rec.master_port > 0) return;
    }
    SetPhase(rec, "waiting for the rendezvous port of node rank 0");
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return rec.master_port > 0 || rec.stop_requested || rec.lost; });
  }

  // An attempt that ended before its command ran: says why in its log and
  // reports it (cancelled, lost with the agent, or failed).
  void EndUnstarted(AttemptRecord& rec, const Error& error, bool cancelled, bool env_failed) {
    (void)fs::MakeDirs(rec.dir);
    std::unique_lock lock(mu_);
    rec.env.reset();
    rec.exited = true;
    rec.exit_mono_ms = MonoMs();
    rec.collected_final = rec.finalized = true;  // nothing ran, nothing to collect
    report_pending_ = true;
    if (rec.lost) {  // the agent is stopping: Shutdown wrote why
      lock.unlock();
      cv_.notify_all();
      return;
    }
    if (cancelled) {
      rec.exit_code = 128 + SIGTERM;
      rec.message = "cancelled before it started";
    } else if (env_failed) {
      rec.exit_code = 1;
      rec.message = error.message;  // "environment build failed: ..."
    } else {
      rec.exit_code = 127;
      rec.message = "could not start: " + error.message;
    }
    LOG_WARN(kLog, "attempt " << rec.assignment.attempt << ": " << rec.message);
    AppendNoteLocked(rec, "lattice: " + rec.message + "\n");
    (void)fs::WriteFileAtomic(rec.dir / "exit", std::to_string(rec.exit_code));
    lock.unlock();
    cv_.notify_all();
  }

  // Says what a not-yet-running attempt is doing (shown by `lattice status`).
  void SetPhase(AttemptRecord& rec, const std::string& doing) {
    {
      std::lock_guard lock(mu_);
      if (rec.lost || rec.message == doing) return;
      rec.message = doing;
      report_pending_ = true;
    }
    cv_.notify_all();
  }

  Status Prepare(AttemptRecord& rec, bool* env_failed) {
    const Assignment& a = rec.assignment;
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(rec.dir / "code"));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(rec.dir / "artifacts"));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(rec.dir / "checkpoints"));
    LATTICE_RETURN_IF_ERROR(
        FetchSnapshot(Client(), Api(""), options_.home / "cache", a.snapshot, rec.dir / "code"));
    LATTICE_RETURN_IF_ERROR(RestoreCheckpoint(rec));
    Status env = PrepareEnvironment(rec);
    *env_failed = !env.ok();
    return env;
  }

  // Finds or builds the run's Python environment (once per key on this
  // node; concurrent attempts wait for one build) and holds it in use.
  Status PrepareEnvironment(AttemptRecord& rec) {
    const EnvironmentSpec& e = rec.assignment.environment;
    if (e.empty()) return OkStatus();
    const int64_t t0 = MonoMs();
    SetPhase(rec, "preparing the environment");
    const char* path_env = getenv("PATH");
    std::string base = rec.assignment.python.empty() ? python_ : rec.assignment.python;
    auto resolved = ResolveExecutable(base, path_env ? path_env : "/usr/local/bin:/usr/bin:/bin");
    auto fail = [](const Error& err) {
      return Error(ErrorCode::kFailedPrecondition, "environment build failed: " + err.message);
    };
    if (!resolved.ok()) return fail(resolved.error());
    auto tools = FindEnvTools(*resolved, options_.uv, path_env ? path_env : "");
    if (!tools.ok()) return fail(tools.error());
    auto version = InterpreterVersion(tools->python);
    if (!version.ok()) return fail(version.error());
    EnvSpec spec{*version, PlatformTag(), e.requirements, e.system_site_packages, e.setup};
    const std::string key = EnvKey(spec);
    EnvBuildInput input;
    input.spec = spec;
    input.workdir = rec.dir / "code";
    input.env = BaseEnvironment(rec.assignment);
    input.cache_dir = options_.home / "cache" / (tools->uv.empty() ? "pip" : "uv");
    auto sink = [&](std::string_view text) { AppendNote(rec, std::string(text)); };
    auto lease = env_cache_->Acquire(key, [&](const std::filesystem::path& dir) {
      SetPhase(rec, "building the environment");
      return BuildEnv(dir, input, *tools, sink, &rec.cancel_prepare);
    });
    if (!lease.ok()) return fail(lease.error());
    const int64_t ms = MonoMs() - t0;
    char took[64];
    if (lease->built()) std::snprintf(took, sizeof took, "built in %.1f s", static_cast<double>(ms) / 1000.0);
    else std::snprintf(took, sizeof took, "ready (cached) in %lld ms", static_cast<long long>(ms));
    AppendNote(rec, "lattice: environment " + key.substr(0, 12) + " " + took + "\n");
    rec.env = std::make_unique<EnvLease>(std::move(*lease));
    return OkStatus();
  }

  // The interpreter's version, asked once per interpreter.
  Result<std::string> InterpreterVersion(const std::string& python) {
    {
      std::lock_guard lock(versions_mu_);
      if (auto it = python_versions_.find(python); it != python_versions_.end()) return it->second;
    }
    LATTICE_ASSIGN_OR_RETURN(std::string v, PythonVersion(python));
    std::lock_guard lock(versions_mu_);
    python_versions_[python] = v;
    return v;
  }

  // The agent's environment without its own LATTICE_* settings, plus the
  // run's --env: what the build and the command start from.
  static std::map<std::string, std::string> BaseEnvironmentMap(const Assignment& a) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq == std::string::npos || kv.rfind("LATTICE_", 0) == 0) continue;
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : a.env) env[k] = v;
    return env;
  }
  static std::vector<std::string> BaseEnvironment(const Assignment& a) {
    std::vector<std::string> out;
    for (const auto& [k, v] : BaseEnvironmentMap(a)) out.push_back(k + "=" + v);
    return out;
  }

  // Puts the newest complete checkpoint of the experiment (the server's
  // pick) into the new attempt's checkpoint directory, verified by hash,
  // and says so at the top of the attempt's log.
  Status RestoreCheckpoint(AttemptRecord& rec) {
    const auto& files = rec.assignment.restore;
    if (files.empty()) return OkStatus();
    int dirfd = ::open((rec.dir / "checkpoints").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0) return ErrnoError("opening the checkpoint directory", errno);
    uint64_t bytes = 0;
    Status st = OkStatus();
    for (const RestoreFile& f : files) {
      st = DownloadBlobTo(dirfd, f);
      if (!st.ok()) break;
      bytes += f.size;
    }
    ::close(dirfd);
    if (!st.ok()) return st.error().Wrap("restoring checkpoint");
    AppendNote(rec, "lattice: restored checkpoint " + files.front().path.substr(0, files.front().path.find('/')) +
                        " (" + std::to_string(files.size()) + " file" + (files.size() == 1 ? "" : "s") + ", " +
                        std::to_string(bytes) + " bytes) into LATTICE_CHECKPOINT_DIR\n");
    return OkStatus();
  }

  Status DownloadBlobTo(int dirfd, const RestoreFile& f) {
    LATTICE_ASSIGN_OR_RETURN(int fd, OpenBeneath(dirfd, f.path, O_WRONLY | O_CREAT | O_TRUNC,
                                                 static_cast<mode_t>(f.mode & 0777), /*create_parents=*/true));
    snapshot::Sha256Stream hash;
    auto result = Client().Download(
        Api("/blobs/" + f.sha256), 0,
        [&](std::string_view chunk) {
          hash.Update(chunk);
          return fs::WriteAll(fd, chunk);
        },
        std::chrono::milliseconds(60000));
    ::close(fd);
    if (!result.ok()) return result.error().Wrap(f.path);
    if (result->status != 200)
      return Error(ErrorCode::kUnavailable, f.path + ": server answered " + std::to_string(result->status) + " " +
                                                result->error_body);
    if (std::string got = hash.FinishHex(); got != f.sha256)
      return Error(ErrorCode::kUnavailable, f.path + ": downloaded content hashes to " + got + ", not " + f.sha256);
    return OkStatus();
  }

  // One launch per process this node starts for the attempt (see
  // RunSpec::launcher), each with the torchrun variables of its rank.
  std::vector<LaunchSpec> BuildLaunchSpecs(const AttemptRecord& rec) {
    const Assignment& a = rec.assignment;
    const bool gang = a.nnodes > 1;
    const std::string master_addr = gang ? a.master_addr : "127.0.0.1";
    const int master_port = gang ? rec.master_port : FreePort();
    std::string ifname;
    if (auto name = InterfaceToward(master_addr); name.ok()) ifname = *name;
    else
      LOG_WARN(kLog, "attempt " << a.attempt << ": no interface toward " << master_addr << ": "
                                << name.error().message);
    const int local = a.launcher == "torchrun" ? 1 : a.ranks_per_node;
    std::vector<LaunchSpec> out;
    for (int l = 0; l < local; ++l) out.push_back(BuildLaunchSpec(rec, l, master_addr, master_port, ifname));
    return out;
  }

  LaunchSpec BuildLaunchSpec(const AttemptRecord& rec, int local_rank, const std::string& master_addr,
                             int master_port, const std::string& ifname) {
    const Assignment& a = rec.assignment;
    const bool torchrun = a.launcher == "torchrun";
    LaunchSpec spec;
    spec.cwd = (rec.dir / "code").string();
    spec.grace_ms = a.grace_ms >= 0 ? a.grace_ms : options_.default_grace_ms;
    std::map<std::string, std::string> env = BaseEnvironmentMap(a);
    std::string gpus;
    for (int g : a.gpus) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
    env["CUDA_VISIBLE_DEVICES"] = gpus;
    env["LATTICE_RUN"] = a.run;
    env["LATTICE_EXPERIMENT"] = std::to_string(a.experiment);
    env["LATTICE_ATTEMPT"] = std::to_string(a.number);
    env["LATTICE_ARTIFACTS_DIR"] = (rec.dir / "artifacts").string();
    env["LATTICE_CHECKPOINT_DIR"] = (rec.dir / "checkpoints").string();
    env["LATTICE_METRICS_FILE"] = (rec.dir / "metrics.jsonl").string();
    env["MASTER_ADDR"] = master_addr;
    env["MASTER_PORT"] = std::to_string(master_port);
    if (!torchrun) {  // torchrun sets the rest for its workers
      env["WORLD_SIZE"] = std::to_string(a.nnodes * a.ranks_per_node);
      env["RANK"] = std::to_string(a.node_rank * a.ranks_per_node + local_rank);
      env["LOCAL_RANK"] = std::to_string(local_rank);
      env["LOCAL_WORLD_SIZE"] = std::to_string(a.ranks_per_node);
      env["NODE_RANK"] = std::to_string(a.node_rank);
      env["GROUP_RANK"] = std::to_string(a.node_rank);
    }
    // gloo and NCCL otherwise use whatever the host name resolves to (often
    // a loopback address): tell them the interface that routes to rank 0.
    if (!ifname.empty()) {
      if (!env.count("GLOO_SOCKET_IFNAME")) env["GLOO_SOCKET_IFNAME"] = ifname;
      if (!env.count("NCCL_SOCKET_IFNAME")) env["NCCL_SOCKET_IFNAME"] = ifname;
    }
    env["PYTHONUNBUFFERED"] = "1";  // live logs: Python must not hold lines back
    // As torchrun does: several ranks on one node each using every core
    // would slow all of them down.
    if (!torchrun && a.ranks_per_node > 1 && !env.count("OMP_NUM_THREADS")) env["OMP_NUM_THREADS"] = "1";
    if (rec.env) {  // as an activated venv would
      const std::string bin = (rec.env->path() / "bin").string();
      env["VIRTUAL_ENV"] = rec.env->path().string();
      env["PATH"] = env.count("PATH") ? bin + ":" + env["PATH"] : bin;
      env.erase("PYTHONHOME");
    }
    for (const auto& [k, v] : a.env) env[k] = v;  // the user's word wins
    for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);

    std::string script = a.script;
    std::string program;
    const bool python_script = EndsWith(script, ".py");
    if (python_script || torchrun) program = a.python.empty() ? python_ : a.python;
    if ((python_script || torchrun) && rec.env) program = (rec.env->path() / "bin" / "python").string();
    else if (EndsWith(script, ".sh")) program = "bash";
    const char* path_env = getenv("PATH");
    std::string path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
    if (!program.empty()) {
      auto resolved = ResolveExecutable(program, path);
      spec.executable = resolved.ok() ? *resolved : program;  // exec reports the error into the log
      spec.argv = {program};
      if (torchrun) {
        const int nproc = std::max(1, a.resources.gpus);
        const std::vector<std::string> torchrun_args = {
            "-m", "torch.distributed.run", "--nnodes", std::to_string(a.nnodes), "--nproc_per_node",
            std::to_string(nproc), "--node_rank", std::to_string(a.node_rank), "--master_addr", master_addr,
            "--master_port", std::to_string(master_port),
            // Worker stdout through torchrun with a "[defaultN]:" prefix (RankLines
            // makes it "[rank R]"). Not "--tee 3": torch 1.13's parser maps 0 and
            // 3 to None under Python 3.11 and torchrun crashes (its default too).
            "--redirects", "1", "--tee", "1"};
        spec.argv.insert(spec.argv.end(), torchrun_args.begin(), torchrun_args.end());
        if (!python_script) spec.argv.push_back("--no_python");
        spec.argv.push_back(python_script || EndsWith(script, ".sh") ? script : "./" + script);
      } else {
        spec.argv.push_back(script);
      }
    } else {
      spec.executable = (rec.dir / "code" / script).string();
      spec.argv = {"./" + script};
    }
    for (const auto& arg : a.args) spec.argv.push_back(arg);
    return spec;
  }

  // How each process's output goes into the log: verbatim for a lone
  // process, else line by line with its rank in front.
  static std::vector<RankLines> OutputPrefixers(const Assignment& a, size_t processes) {
    std::vector<RankLines> out;
    if (a.launcher == "torchrun") {
      out.emplace_back(-1, a.node_rank * std::max(1, a.resources.gpus), a.node_rank);
    } else if (a.nnodes * a.ranks_per_node > 1) {
      for (size_t l = 0; l < processes; ++l) out.emplace_back(a.node_rank * a.ranks_per_node + static_cast<int>(l));
    }
    return out;
  }

  // Copies the processes' output into the spool until all of them ended.
  // On a node with several ranks, the first to fail takes the others down
  // (they would wait for it in a collective); its exit code is the part's.
  void ReadOutput(AttemptRecord* rec, const std::vector<Launched>& procs, int spool_fd) {
    std::vector<RankLines> prefix = OutputPrefixers(rec->assignment, procs.size());
    std::vector<pollfd> fds;
    for (const Launched& p : procs) fds.push_back(pollfd{p.output_fd, POLLIN, 0});
    size_t open = fds.size();
    int code = 0;
    char buf[1 << 16];
    std::string out;
    while (open > 0) {
      if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        std::string_view chunk(buf, n > 0 ? static_cast<size_t>(n) : 0);
        RankLines* lines = prefix.empty() ? nullptr : &prefix[std::min(i, prefix.size() - 1)];
        if (n > 0) {
          if (lines) lines->Feed(chunk, &out);
          else out.append(chunk);
          continue;
        }
        if (lines) lines->Finish(&out);
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        {
          // No stop or abort may signal it once it is reaped (its pid could
          // be reused); until then a signal still reaches the right process.
          std::lock_guard lock(mu_);
          std::erase(rec->supervisors, procs[i].supervisor);
        }
        int status = 0;
        while (waitpid(procs[i].supervisor, &status, 0) < 0 && errno == EINTR) {
        }
        int rank_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (rank_code != 0 && code == 0) {
          code = rank_code;
          if (open > 0) {
            std::lock_guard lock(mu_);
            for (pid_t p : rec->supervisors) RequestAbort(p);
          }
        }
      }
      if (out.empty()) continue;
      Status st = fs::WriteAll(spool_fd, out);
      if (!st.ok())
        LOG_ERROR(kLog, "spool write failed for attempt " << rec->assignment.attempt << ": " << st.error().message);
      {
        std::lock_guard lock(mu_);
        rec->captured += out.size();
      }
      out.clear();
      cv_.notify_all();
    }
    ::close(spool_fd);
    rec->env.reset();  // no longer in use: prunable
    (void)fs::WriteFileAtomic(rec->dir / "exit", std::to_string(code));
    LOG_INFO(kLog, "attempt " << rec->assignment.attempt << " exited with code " << code);
    {
      std::lock_guard lock(mu_);
      rec->exit_code = code;
      rec->exited = true;
      rec->exit_mono_ms = MonoMs();
      report_pending_ = true;
      collect_now_ = true;  // the last pass, at once: the exit is reported after it
    }
    cv_.notify_all();
  }

  // Ships spool bytes the server lacks, then reports exits; wakes on every
  // captured chunk so a line reaches the server within milliseconds.
  void ShipLoop() {
    SpoolFds fds;
    int64_t backoff_ms = 50;
    int64_t last_report_ms = MonoMs();
    while (true) {
      struct Job {
        int64_t id;
        bool points;  // points.bin, else output.log
        uint64_t from, to;
      };
      std::vector<Job> jobs;
      bool report = false;
      if (MonoMs() > ship_deadline_ms_) break;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(500), [&] {
          if (shipping_done_) return true;
          if (report_pending_) return true;
          for (auto& [id, rec] : attempts_)
            if (rec->shipped < rec->captured || rec->points_shipped < rec->points_captured) return true;
          return false;
        });
        for (auto& [id, rec] : attempts_) {
          if (rec->shipped < rec->captured) jobs.push_back({id, false, rec->shipped, rec->captured});
          if (rec->points_shipped < rec->points_captured)
            jobs.push_back({id, true, rec->points_shipped, rec->points_captured});
        }
        // Also a heartbeat that does not depend on the sync thread, which may
        // be busy downloading a large snapshot.
        report = report_pending_ || MonoMs() - last_report_ms >= kHeartbeatMs;
        if (jobs.empty() && !report && shipping_done_) break;
      }
      bool failed = false;
      for (const Job& job : jobs) {
        std::filesystem::path path = options_.home / "attempts" / std::to_string(job.id) /
                                     (job.points ? "points.bin" : "output.log");
        auto r = ShipRange(job.id, job.points, path, job.from, job.to, &fds);
        if (!r.ok()) {
          LOG_WARN(kLog, "shipping " << (job.points ? "metrics" : "logs") << " of attempt " << job.id
                                     << " failed: " << r.error().message);
          failed = true;
          break;
        }
        std::lock_guard lock(mu_);
        auto it = attempts_.find(job.id);
        if (it == attempts_.end()) continue;
        uint64_t& shipped = job.points ? it->second->points_shipped : it->second->shipped;
        shipped = std::max(shipped, *r);
      }
      if (!failed && report) {
        {
          std::lock_guard lock(mu_);
          report_pending_ = false;
        }
        auto reports = Reports();
        last_report_ms = MonoMs();
        auto r = PostJson("/agents/" + node_id_ + "/report", ToJson(reports), std::chrono::milliseconds(10000));
        if (r.ok()) last_contact_ms_ = MonoMs();
        if (!r.ok()) {
          failed = true;
          std::lock_guard lock(mu_);
          report_pending_ = true;
        }
      }
      if (failed) {
        if (shipping_done_ && stop_->load()) break;  // shutting down: the next agent replays the spool
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
        backoff_ms = std::min<int64_t>(backoff_ms * 2, 2000);
      } else {
        backoff_ms = 50;
      }
      // Close descriptors of attempts that are gone.
      std::lock_guard lock(mu_);
      for (auto it = fds.begin(); it != fds.end();) {
        if (!attempts_.count(it->first.first)) {
          ::close(it->second);
          it = fds.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [id, fd] : fds) ::close(fd);
  }

  // Sends [from, to) in chunks; returns the server's length afterwards.
  // Points go in whole frames (the server decodes each request).
  Result<uint64_t> ShipRange(int64_t id, bool points, const std::filesystem::path& path, uint64_t from, uint64_t to,
                             SpoolFds* fds) {
    int fd;
    auto it = fds->find({id, points});
    if (it != fds->end()) {
      fd = it->second;
    } else {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoError("cannot open spool " + path.string(), errno);
      (*fds)[{id, points}] = fd;
    }
    uint64_t offset = from;
    std::string chunk;
    while (offset < to && MonoMs() <= ship_deadline_ms_) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(to - offset, kShipChunk));
      chunk.resize(n);
      ssize_t got = ::pread(fd, chunk.data(), n, static_cast<off_t>(offset));
      if (got <= 0) return ErrnoError("cannot read spool " + path.string(), errno);
      chunk.resize(static_cast<size_t>(got));
      if (points) {
        size_t whole = metrics::WholeFramesPrefix(chunk, chunk.size());
        if (whole == 0) return Error(ErrorCode::kInternal, "points spool " + path.string() + " has a broken frame at byte " + std::to_string(offset));
        chunk.resize(whole);
      }
      net::ClientRequest req;
      req.method = "PUT";
      req.target = Api("/agents/" + node_id_ + "/attempts/" + std::to_string(id) + (points ? "/points" : "/log") +
                       "?offset=" + std::to_string(offset));
      req.body = std::move(chunk);
      req.content_type = "application/octet-stream";
      req.timeout = std::chrono::milliseconds(30000);
      LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, Client().Send(req));
      chunk = std::move(req.body);
      auto body = ParseJson(resp.body, "log response");
      const Json* length = body.ok() && body->is_object() && body->contains("length") &&
                                   (*body)["length"].is_number_unsigned()
                               ? &(*body)["length"]
                               : nullptr;
      if (resp.status == 409 && length) {
        // The server has a different length (it restarted, or we replay):
        // continue from its end; bytes it has are never sent twice.
        offset = length->get<uint64_t>();
        if (offset > to) return offset;
        continue;
      }
      if (resp.status == 404) {
        LOG_WARN(kLog, "server does not know attempt " << id << "; dropping its " << (points ? "metrics" : "output"));
        return to;
      }
      if (resp.status != 200 || !length)
        return Error(ErrorCode::kUnavailable, "log upload answered " + std::to_string(resp.status) + ": " + resp.body);
      offset = length->get<uint64_t>();
    }
    return offset;
  }

  // ---- metrics and files -----------------------------------------------------

  // The collector thread: one pass over every attempt about twice a second,
  // and a last one after an attempt exits.
  void CollectLoop() {
    for (;;) {
      std::vector<std::shared_ptr<AttemptRecord>> todo;
      std::vector<bool> exited;
      {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(kCollectEveryMs),
                     [&] { return collecting_done_ || collect_now_; });
        if (collecting_done_) return;
        collect_now_ = false;
        SelfFenceGangsLocked();
        for (auto& [id, rec] : attempts_) {
          if (rec->collector && !rec->collected_final) {
            todo.push_back(rec);
            exited.push_back(rec->exited);
          }
        }
      }
      for (size_t i = 0; i < todo.size(); ++i) CollectOnce(todo[i], exited[i]);
    }
  }

  // Requires mu_. A gang part cut off from the server: the server declares
  // this node lost after its node timeout and runs the gang again elsewhere,
  // so the ranks here must not go on (a stale copy of the training, stuck in
  // a collective, holding the GPUs).
  void SelfFenceGangsLocked() {
    const int64_t last = last_contact_ms_.load();
    const int64_t silent = MonoMs() - last;
    if (last == 0 || silent < server_node_timeout_ms_.load()) return;
    for (auto& [id, rec] : attempts_) {
      if (rec->assignment.nnodes <= 1 || rec->exited || rec->aborted) continue;
      LOG_WARN(kLog, "attempt " << id << ": no answer from the server for " << silent << " ms; stopping its ranks");
      rec->message = "stopped its ranks after no answer from the server for " + std::to_string(silent / 1000) + " s";
      AppendNoteLocked(*rec, "lattice: " + rec->message + " (the server runs the gang again elsewhere)\n");
      AbortLocked(*rec);
    }
  }

  void CollectOnce(const std::shared_ptr<AttemptRecord>& rec, bool exited) {
    CollectOutput out = rec->collector->Collect(MonoMs(), NowSeconds(), exited);
    // The frames are counted (and so shipped) only once the readers'
    // positions that produced them are saved beside them: after an agent
    // crash, a point is in the spool or still ahead of a reader, never both.
    uint64_t points_length = rec->points_length_on_disk;
    if (!out.points.empty()) points_length = AppendPoints(*rec, out.points);
    Json state = rec->collector->State();
    state["points_length"] = points_length;
    // (If the save fails, the points still go: a crash before the next save
    // may then send them twice, which beats losing them.)
    (void)fs::WriteFileAtomic(rec->dir / "collect.state", state.dump(), 0600);
    rec->points_length_on_disk = points_length;
    for (const auto& w : out.warnings) AppendNote(*rec, "lattice: " + w + "\n");
    {
      std::lock_guard lock(mu_);
      rec->points_captured = rec->points_length_on_disk;
      for (auto [files, checkpoint] : {std::pair{&out.artifacts, false}, std::pair{&out.checkpoints, true}}) {
        for (auto& f : *files) {
          uploads_.push_back(UploadJob{rec, checkpoint, std::move(f)});
          ++rec->uploads_pending;
        }
      }
      if (exited) rec->collected_final = true;
      MaybeFinalize(*rec);
    }
    upload_cv_.notify_all();
    cv_.notify_all();
  }

  // Appends frames to points.bin and returns its new length (the old one if
  // the write failed); the shipper sends whole frames by offset.
  uint64_t AppendPoints(AttemptRecord& rec, const std::vector<metrics::SeriesBatch>& points) {
    std::string frames;
    std::vector<metrics::SeriesBatch> part;
    size_t in_part = 0;
    for (const auto& series : points) {
      for (size_t i = 0; i < series.points.size(); i += kPointsPerFrame) {
        size_t n = std::min(kPointsPerFrame, series.points.size() - i);
        part.push_back(metrics::SeriesBatch{series.key, {series.points.begin() + static_cast<ptrdiff_t>(i),
                                                         series.points.begin() + static_cast<ptrdiff_t>(i + n)}});
        in_part += n;
        if (in_part >= kPointsPerFrame) {
          metrics::AppendFrame(part, &frames);
          part.clear();
          in_part = 0;
        }
      }
    }
    if (!part.empty()) metrics::AppendFrame(part, &frames);
    int fd = ::open((rec.dir / "points.bin").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    Status st = fd < 0 ? Status(ErrnoError("opening points.bin", errno)) : fs::WriteAll(fd, frames);
    if (fd >= 0) ::close(fd);
    if (!st.ok()) {
      LOG_ERROR(kLog, "cannot spool metrics of attempt " << rec.assignment.attempt << ": " << st.error().message);
      // A partial frame must not stay: the shipper reads whole frames only.
      (void)!::truncate((rec.dir / "points.bin").c_str(), static_cast<off_t>(rec.points_length_on_disk));
      return rec.points_length_on_disk;
    }
    return rec.points_length_on_disk + frames.size();
  }

  // A line of Lattice's own in the experiment's log (appended atomically
  // beside the ranks' output).
  void AppendNote(AttemptRecord& rec, const std::string& line) {
    {
      std::lock_guard lock(mu_);
      AppendNoteLocked(rec, line);
    }
    cv_.notify_all();  // the shipper sends it now
  }
  // Requires mu_ (which orders it with the shipper's view of `captured`).
  void AppendNoteLocked(AttemptRecord& rec, const std::string& line) {
    int fd = ::open((rec.dir / "output.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return;
    Status st = fs::WriteAll(fd, line);
    ::close(fd);
    if (st.ok()) rec.captured += line.size();
  }

  // Requires mu_. The exit goes out once the last pass ran and its files are
  // uploaded, or when that takes longer than --final-upload-timeout: a
  // server that keeps refusing must not keep the experiment running forever.
  void MaybeFinalize(AttemptRecord& rec) {
    if (rec.finalized || !rec.collected_final) return;
    bool late = rec.exit_mono_ms > 0 && MonoMs() - rec.exit_mono_ms > options_.final_upload_timeout_ms;
    if (rec.uploads_pending > 0 && !late) return;
    if (rec.uploads_pending > 0) {
      AppendNoteLocked(rec, "lattice: the attempt ended with " + std::to_string(rec.uploads_pending) +
                                " file(s) not uploaded yet; the agent keeps trying while it has them (last error: " +
                                rec.upload_error + ")\n");
    }
    rec.finalized = true;
    report_pending_ = true;
  }

  // The uploader thread: blobs first (resumable, deduplicated by hash), then
  // the record that names them. A failure retries after a pause; a file
  // that changed since it was found is dropped (its new version comes).
  void UploadLoop() {
    int64_t backoff_ms = 200;
    for (;;) {
      UploadJob job;
      {
        std::unique_lock lock(mu_);
        upload_cv_.wait_for(lock, std::chrono::milliseconds(1000),
                            [&] { return collecting_done_ || !uploads_.empty(); });
        for (auto& [id, rec] : attempts_) MaybeFinalize(*rec);  // late ones
        if (collecting_done_) return;
        if (uploads_.empty()) continue;
        job = uploads_.front();
      }
      Status st = Upload(job);
      bool done = st.ok() || st.error().code == ErrorCode::kFailedPrecondition || st.error().code == ErrorCode::kNotFound ||
                  st.error().code == ErrorCode::kInvalidArgument;
      if (!st.ok()) {
        std::string what = (job.checkpoint ? "checkpoints/" : "artifacts/") + job.file.relative_path;
        if (done && st.error().code != ErrorCode::kFailedPrecondition)
          AppendNote(*job.rec, "lattice: " + what + " was not kept: " + st.error().message + "\n");
        else if (!done)
          LOG_WARN(kLog, "uploading " << what << " of attempt " << job.rec->assignment.attempt << ": "
                                      << st.error().message << " (will retry)");
        std::lock_guard lock(mu_);
        job.rec->upload_error = what + ": " + st.error().message;
      }
      if (!done) {
        std::unique_lock lock(mu_);
        // To the back: one file the server refuses must not hold up the rest.
        uploads_.push_back(std::move(uploads_.front()));
        uploads_.pop_front();
        upload_cv_.wait_for(lock, std::chrono::milliseconds(backoff_ms), [&] { return collecting_done_; });
        backoff_ms = std::min<int64_t>(backoff_ms * 2, 5000);
        continue;
      }
      backoff_ms = 200;
      std::lock_guard lock(mu_);
      uploads_.pop_front();
      --job.rec->uploads_pending;
      MaybeFinalize(*job.rec);
      cv_.notify_all();
    }
  }

  Status Upload(const UploadJob& job) {
    AttemptRecord& rec = *job.rec;
    auto opened = job.checkpoint ? rec.collector->OpenCheckpoint(job.file) : rec.collector->OpenArtifact(job.file);
    if (!opened.ok()) return opened.error();
    int fd = *opened;
    auto sha = UploadBlob(fd, job.file.size);
    ::close(fd);
    if (!sha.ok()) return sha.error();
    Json files = Json::array();
    RestoreFile me{job.file.relative_path, *sha, job.file.size, job.file.mode};
    if (job.checkpoint) {
      auto& entry = rec.checkpoint_entries[TopLevelEntry(job.file.relative_path)];
      entry[me.path] = me;
      for (const auto& [path, f] : entry)
        files.push_back(Json{{"path", f.path}, {"sha256", f.sha256}, {"size", f.size}, {"mode", f.mode}});
    } else {
      files.push_back(Json{{"path", me.path}, {"sha256", me.sha256}, {"size", me.size}, {"mode", me.mode}});
    }
    auto r = PostJson("/agents/" + node_id_ + "/attempts/" + std::to_string(rec.assignment.attempt) + "/artifacts",
                      Json{{"kind", job.checkpoint ? "checkpoint" : "artifact"}, {"files", files}},
                      std::chrono::milliseconds(30000));
    if (!r.ok()) return r.error();
    return OkStatus();
  }

  // Uploads the file behind fd (size bytes) as a blob unless the server has
  // it; resumes from what the server holds. Returns its sha256.
  Result<std::string> UploadBlob(int fd, uint64_t size) {
    snapshot::Sha256Stream hash;
    // Any failure to read it means the file is not the version found ready:
    // the upload is dropped (kFailedPrecondition) and its new version comes.
    if (Status st = hash.UpdateFromFile(fd, size, "the file"); !st.ok())
      return Error(ErrorCode::kFailedPrecondition, st.error().message);
    const std::string sha = hash.FinishHex();
    auto received = [](const net::HttpResponse& resp) -> std::optional<uint64_t> {
      auto j = ParseJson(resp.body, "upload response");
      if (!j.ok() || !j->is_object() || !j->contains("received") || !(*j)["received"].is_number_unsigned())
        return std::nullopt;
      return (*j)["received"].get<uint64_t>();
    };
    net::ClientRequest probe;
    probe.target = Api("/blobs/" + sha + "/upload");
    probe.timeout = std::chrono::milliseconds(30000);
    LATTICE_ASSIGN_OR_RETURN(net::HttpResponse head, Client().Send(probe));
    auto have = received(head);
    if (head.status != 200 || !have)
      return Error(ErrorCode::kUnavailable, "upload probe answered " + std::to_string(head.status) + ": " + head.body);
    uint64_t offset = std::min(*have, size);
    if (*have >= size && size > 0) return sha;  // deduplicated: the server has it
    do {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kUploadChunk, size - offset));
      std::string chunk(n, '\0');
      if (n > 0 && ::pread(fd, chunk.data(), n, static_cast<off_t>(offset)) != static_cast<ssize_t>(n))
        return Error(ErrorCode::kFailedPrecondition, "the file shrank while it was uploaded");
      net::ClientRequest put;
      put.method = "PUT";
      put.target = Api("/blobs/" + sha + "?offset=" + std::to_string(offset) + "&total=" + std::to_string(size));
      put.body = std::move(chunk);
      put.content_type = "application/octet-stream";
      put.timeout = std::chrono::milliseconds(60000);
      LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, Client().Send(put));
      auto now = received(resp);
      if ((resp.status == 200 || resp.status == 201 || resp.status == 409) && now) {
        offset = *now;  // 409: the server has a different length; go on from there
      } else if (resp.status == 400) {
        return Error(ErrorCode::kInvalidArgument, "the server refused the upload: " + resp.body);
      } else {
        return Error(ErrorCode::kUnavailable, "upload answered " + std::to_string(resp.status) + ": " + resp.body);
      }
    } while (offset < size);
    return sha;
  }

  void Shutdown() {
    // First word: this node is going away, so the server places nothing more
    // here (what runs here is run again elsewhere once reported lost).
    auto told = PostJson("/agents/" + node_id_ + "/report?stopping=1", ToJson(Reports()),
                         std::chrono::milliseconds(3000));
    if (!told.ok()) LOG_WARN(kLog, "could not tell the server this agent stops: " << told.error().message);
    // Stop every rank (SIGTERM, then SIGKILL after its grace) and wait for
    // the readers so their exits reach the spool.
    std::vector<AttemptRecord*> running;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, rec] : attempts_) {
        if (!rec->exited) {
          // Not the script's failure: the machine is going away.
          rec->lost = true;
          rec->message = "the agent on this node was stopped";
          (void)fs::MakeDirs(rec->dir);
          (void)fs::WriteFileAtomic(rec->dir / "lost", rec->message);
          rec->cancel_prepare = true;
          for (pid_t p : rec->supervisors) RequestStop(p);
          running.push_back(rec.get());
        }
      }
    }
    for (auto* rec : running)
      if (rec->reader.joinable()) rec->reader.join();
    // Upload what the ranks saved in their grace (their last checkpoint)
    // before reporting them lost, for a while.
    {
      std::unique_lock lock(mu_);
      collect_now_ = true;
      final_uploads_until_ = MonoMs() + kShutdownUploadMs;
      cv_.notify_all();
      upload_cv_.notify_all();
      auto uploading = [&] {
        for (auto* rec : running)
          if (rec->collector && !rec->finalized) return true;
        return false;
      };
      while (uploading() && MonoMs() < final_uploads_until_) cv_.wait_for(lock, std::chrono::milliseconds(50));
      final_uploads_until_ = 0;
      report_pending_ = true;
    }
    cv_.notify_all();
    // Give the shipper a moment to deliver the final bytes and exits.
    for (int i = 0; i < 40; ++i) {
      {
        std::lock_guard lock(mu_);
        bool pending = report_pending_;
        for (auto& [id, rec] : attempts_) pending = pending || rec->shipped < rec->captured;
        if (!pending) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // Last word: the node is gone now, not after the server's node timeout
    // (an ended Slurm allocation should not look ready for seconds).
    auto gone = PostJson("/agents/" + node_id_ + "/report?stopped=1", ToJson(Reports()),
                         std::chrono::milliseconds(2000));
    if (!gone.ok()) LOG_WARN(kLog, "could not tell the server this agent stopped: " << gone.error().message);
    std::lock_guard lock(mu_);
    for (auto& [id, rec] : attempts_)
      if (rec->reader.joinable()) rec->reader.join();
  }

  const AgentOptions options_;
  net::Url url_;
  std::string node_id_;
  std::string python_;
  Inventory inventory_;
  std::atomic<bool>* stop_ = nullptr;
  // Self-fencing of gang parts: the last answer from the server, and how
  // long the server waits before it declares a silent node lost.
  std::atomic<int64_t> last_contact_ms_{0};
  std::atomic<int64_t> server_node_timeout_ms_{6000};
  int64_t idle_since_ms_ = 0;  // Run's thread only (--idle-exit)
  // The sync thread's client, for Interrupt; null once that thread leaves
  // SyncLoop (its thread_local client is destroyed when the thread ends).
  std::mutex sync_client_mu_;
  net::HttpClient* sync_client_ = nullptr;  // guarded by sync_client_mu_
  int64_t final_uploads_until_ = 0;  // guarded by mu_: while stopping, lost attempts upload their last files

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::shared_ptr<AttemptRecord>> attempts_;  // guarded by mu_
  bool report_pending_ = false;                                 // guarded by mu_
  bool shipping_done_ = false;                                  // guarded by mu_
  std::atomic<int64_t> ship_deadline_ms_{INT64_MAX};
  std::unique_ptr<GpuSampler> gpu_sampler_;  // null without NVML
  std::unique_ptr<EnvCache> env_cache_;      // <home>/envs
  std::mutex versions_mu_;
  std::map<std::string, std::string> python_versions_;  // interpreter -> version; guarded by versions_mu_
  std::condition_variable upload_cv_;
  std::deque<UploadJob> uploads_;  // guarded by mu_
  bool collecting_done_ = false;   // guarded by mu_
  bool collect_now_ = false;       // guarded by mu_: an attempt exited
};

}  // namespace

int RunAgent(const AgentOptions& options) {
  std::atomic<bool> stop{false};
  StopSignals signals([&stop](int sig) {
    LOG_INFO(kLog, "signal " << sig << ": stopping");
    stop = true;
  });
  Agent agent(options);
  return agent.Run(stop);
}

}  // namespace lattice::agent
