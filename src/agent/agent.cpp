#include "agent/agent.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "agent/launcher.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "model/agent_protocol.h"
#include "net/http_client.h"
#include "snapshot/snapshot.h"

namespace lattice::agent {
namespace {

constexpr size_t kShipChunk = 4 << 20;
constexpr int64_t kShutdownShipMs = 3000;
constexpr int64_t kHeartbeatMs = 2000;

int64_t MonoMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
constexpr const char* kLog = "agent";

struct AttemptRecord {
  Assignment assignment;
  std::filesystem::path dir;
  pid_t supervisor = -1;
  uint64_t captured = 0;   // bytes in the spool file
  uint64_t shipped = 0;    // bytes the server has acknowledged
  bool exited = false;
  bool lost = false;       // found in the spool after an agent restart
  int exit_code = -1;
  bool exit_reported = false;
  bool stop_requested = false;
  std::string message;
  std::thread reader;
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 29500;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
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
    SyncLoop();
    Shutdown();
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
      auto rec = std::make_unique<AttemptRecord>();
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
      LOG_INFO(kLog, "recovered attempt " << id << " from the spool (" << rec->captured << " bytes of output)");
      attempts_[id] = std::move(rec);
    }
  }

  net::HttpClient& Client() {
    thread_local std::unique_ptr<net::HttpClient> client;
    if (!client) client = std::make_unique<net::HttpClient>(url_, options_.token);
    return *client;
  }

  std::string Api(const std::string& path) const { return url_.base_path + "/api/v1" + path; }

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

  bool Register() {
    NodeRegistration reg;
    reg.id = node_id_;
    reg.hostname = inventory_.hostname;
    reg.cpus = inventory_.cpus;
    reg.memory_bytes = inventory_.memory_bytes;
    reg.gpus = inventory_.gpus;
    auto r = PostJson("/agents/register", ToJson(reg), std::chrono::milliseconds(10000));
    if (!r.ok()) {
      LOG_WARN(kLog, "cannot register with " << options_.server_url << ": " << r.error().message);
      return false;
    }
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
      if (rec->lost) r.state = ReportedState::kLost;
      else if (rec->exited) {
        r.state = ReportedState::kExited;
        r.exit_code = rec->exit_code;
      } else r.state = ReportedState::kRunning;
      out.push_back(std::move(r));
    }
    return out;
  }

  void SyncLoop() {
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
      LOG_INFO(kLog, "stopping attempt " << id);
      RequestStop(it->second->supervisor);
    }
    for (int64_t id : work.forget) Forget(id);
  }

  void Forget(int64_t id) {
    std::unique_ptr<AttemptRecord> rec;
    {
      std::lock_guard lock(mu_);
      auto it = attempts_.find(id);
      if (it == attempts_.end() || !it->second->exited) return;
      rec = std::move(it->second);
      attempts_.erase(it);
    }
    if (rec->reader.joinable()) rec->reader.join();
    (void)fs::RemoveAll(rec->dir);
  }

  // Fetches the code (cached by hash), prepares the workspace and launches.
  void Start(const Assignment& a) {
    auto rec = std::make_unique<AttemptRecord>();
    rec->assignment = a;
    rec->dir = options_.home / "attempts" / std::to_string(a.attempt);
    Status st = Prepare(*rec);
    Result<Launched> launched = st.ok() ? Launch(BuildLaunchSpec(*rec)) : Result<Launched>(st.error());
    int spool_fd = -1;
    if (launched.ok()) {
      spool_fd = ::open((rec->dir / "output.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (spool_fd < 0) {
        RequestStop(launched->supervisor);
        launched = ErrnoError("cannot open the spool file", errno);
      }
    }
    if (!launched.ok()) {
      LOG_WARN(kLog, "attempt " << a.attempt << " could not start: " << launched.error().message);
      (void)fs::MakeDirs(rec->dir);
      std::string text = "lattice: could not start: " + launched.error().message + "\n";
      (void)fs::WriteFileAtomic(rec->dir / "output.log", text);
      (void)fs::WriteFileAtomic(rec->dir / "exit", "127");
      rec->captured = text.size();
      rec->exited = true;
      rec->exit_code = 127;
      rec->message = "could not start: " + launched.error().message;
      std::lock_guard lock(mu_);
      attempts_[a.attempt] = std::move(rec);
      cv_.notify_all();
      return;
    }
    rec->supervisor = launched->supervisor;
    AttemptRecord* raw = rec.get();
    {
      std::lock_guard lock(mu_);
      attempts_[a.attempt] = std::move(rec);
    }
    LOG_INFO(kLog, "attempt " << a.attempt << " (" << a.run << "/" << a.experiment << ") started, supervisor pid "
                              << launched->supervisor);
    raw->reader = std::thread([this, raw, out = launched->output_fd, spool_fd] { ReadOutput(raw, out, spool_fd); });
    // Tell the server at once that it runs (the sync long poll may be idle).
    {
      std::lock_guard lock(mu_);
      report_pending_ = true;
    }
    cv_.notify_all();
  }

  Status Prepare(AttemptRecord& rec) {
    const Assignment& a = rec.assignment;
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(rec.dir / "code"));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(rec.dir / "artifacts"));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(rec.dir / "checkpoints"));
    auto cached = options_.home / "cache" / (a.snapshot + ".tar.zst");
    auto archive = fs::ReadFile(cached);
    if (!archive.ok()) {
      net::ClientRequest req;
      req.target = Api("/blobs/" + a.snapshot);
      req.timeout = std::chrono::milliseconds(120000);
      LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, Client().Send(req));
      if (resp.status != 200)
        return Error(ErrorCode::kUnavailable, "cannot download code snapshot " + a.snapshot + ": HTTP " +
                                                  std::to_string(resp.status));
      LATTICE_RETURN_IF_ERROR(fs::WriteFileAtomic(cached, resp.body, 0600));
      archive = std::move(resp.body);
    }
    snapshot::ExtractOptions extract;
    extract.expected_sha256 = a.snapshot;
    return snapshot::ExtractSnapshot(*archive, rec.dir / "code", extract);
  }

  LaunchSpec BuildLaunchSpec(const AttemptRecord& rec) {
    const Assignment& a = rec.assignment;
    LaunchSpec spec;
    spec.cwd = (rec.dir / "code").string();
    spec.grace_ms = a.grace_ms >= 0 ? a.grace_ms : options_.default_grace_ms;
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq == std::string::npos || kv.rfind("LATTICE_", 0) == 0) continue;
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    std::string gpus;
    for (int g : a.gpus) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
    env["CUDA_VISIBLE_DEVICES"] = gpus;
    env["LATTICE_RUN"] = a.run;
    env["LATTICE_EXPERIMENT"] = std::to_string(a.experiment);
    env["LATTICE_ATTEMPT"] = std::to_string(a.number);
    env["LATTICE_ARTIFACTS_DIR"] = (rec.dir / "artifacts").string();
    env["LATTICE_CHECKPOINT_DIR"] = (rec.dir / "checkpoints").string();
    env["LATTICE_METRICS_FILE"] = (rec.dir / "metrics.jsonl").string();
    env["MASTER_ADDR"] = "127.0.0.1";
    env["MASTER_PORT"] = std::to_string(FreePort());
    env["WORLD_SIZE"] = "1";
    env["RANK"] = "0";
    env["LOCAL_RANK"] = "0";
    env["LOCAL_WORLD_SIZE"] = "1";
    env["NODE_RANK"] = "0";
    env["GROUP_RANK"] = "0";
    env["PYTHONUNBUFFERED"] = "1";  // live logs: Python must not hold lines back
    for (const auto& [k, v] : a.env) env[k] = v;  // the user's word wins
    for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);

    std::string script = a.script;
    std::string program;
    if (EndsWith(script, ".py")) program = a.python.empty() ? python_ : a.python;
    else if (EndsWith(script, ".sh")) program = "bash";
    const char* path_env = getenv("PATH");
    std::string path = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
    if (!program.empty()) {
      auto resolved = ResolveExecutable(program, path);
      spec.executable = resolved.ok() ? *resolved : program;  // exec reports the error into the log
      spec.argv = {program, script};
    } else {
      spec.executable = (rec.dir / "code" / script).string();
      spec.argv = {"./" + script};
    }
    for (const auto& arg : a.args) spec.argv.push_back(arg);
    return spec;
  }

  void ReadOutput(AttemptRecord* rec, int out_fd, int spool_fd) {
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(out_fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      Status st = fs::WriteAll(spool_fd, std::string_view(buf, static_cast<size_t>(n)));
      if (!st.ok()) LOG_ERROR(kLog, "spool write failed for attempt " << rec->assignment.attempt << ": " << st.error().message);
      {
        std::lock_guard lock(mu_);
        rec->captured += static_cast<uint64_t>(n);
      }
      cv_.notify_all();
    }
    ::close(out_fd);
    ::close(spool_fd);
    int status = 0;
    while (waitpid(rec->supervisor, &status, 0) < 0 && errno == EINTR) {
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    (void)fs::WriteFileAtomic(rec->dir / "exit", std::to_string(code));
    LOG_INFO(kLog, "attempt " << rec->assignment.attempt << " exited with code " << code);
    {
      std::lock_guard lock(mu_);
      rec->exit_code = code;
      rec->exited = true;
      report_pending_ = true;
    }
    cv_.notify_all();
  }

  // Ships spool bytes the server lacks, then reports exits; wakes on every
  // captured chunk so a line reaches the server within milliseconds.
  void ShipLoop() {
    std::map<int64_t, int> fds;
    int64_t backoff_ms = 50;
    int64_t last_report_ms = MonoMs();
    while (true) {
      struct Job {
        int64_t id;
        std::filesystem::path path;
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
            if (rec->shipped < rec->captured) return true;
          return false;
        });
        for (auto& [id, rec] : attempts_)
          if (rec->shipped < rec->captured) jobs.push_back({id, rec->dir / "output.log", rec->shipped, rec->captured});
        // Also a heartbeat that does not depend on the sync thread, which may
        // be busy downloading a large snapshot.
        report = report_pending_ || MonoMs() - last_report_ms >= kHeartbeatMs;
        if (jobs.empty() && !report && shipping_done_) break;
      }
      bool failed = false;
      for (const Job& job : jobs) {
        auto r = ShipRange(job.id, job.path, job.from, job.to, &fds);
        if (!r.ok()) {
          LOG_WARN(kLog, "shipping logs of attempt " << job.id << " failed: " << r.error().message);
          failed = true;
          break;
        }
        std::lock_guard lock(mu_);
        auto it = attempts_.find(job.id);
        if (it != attempts_.end()) it->second->shipped = std::max(it->second->shipped, *r);
      }
      if (!failed && report) {
        {
          std::lock_guard lock(mu_);
          report_pending_ = false;
        }
        auto reports = Reports();
        last_report_ms = MonoMs();
        auto r = PostJson("/agents/" + node_id_ + "/report", ToJson(reports), std::chrono::milliseconds(10000));
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
        if (!attempts_.count(it->first)) {
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
  Result<uint64_t> ShipRange(int64_t id, const std::filesystem::path& path, uint64_t from, uint64_t to,
                             std::map<int64_t, int>* fds) {
    int fd;
    auto it = fds->find(id);
    if (it != fds->end()) {
      fd = it->second;
    } else {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return ErrnoError("cannot open spool " + path.string(), errno);
      (*fds)[id] = fd;
    }
    uint64_t offset = from;
    std::string chunk;
    while (offset < to && MonoMs() <= ship_deadline_ms_) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(to - offset, kShipChunk));
      chunk.resize(n);
      ssize_t got = ::pread(fd, chunk.data(), n, static_cast<off_t>(offset));
      if (got <= 0) return ErrnoError("cannot read spool " + path.string(), errno);
      chunk.resize(static_cast<size_t>(got));
      net::ClientRequest req;
      req.method = "PUT";
      req.target = Api("/agents/" + node_id_ + "/attempts/" + std::to_string(id) + "/log?offset=" + std::to_string(offset));
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
        LOG_WARN(kLog, "server does not know attempt " << id << "; dropping its output");
        return to;
      }
      if (resp.status != 200 || !length)
        return Error(ErrorCode::kUnavailable, "log upload answered " + std::to_string(resp.status) + ": " + resp.body);
      offset = length->get<uint64_t>();
    }
    return offset;
  }

  void Shutdown() {
    // Stop every rank (SIGTERM, then SIGKILL after its grace) and wait for
    // the readers so their exits reach the spool.
    std::vector<AttemptRecord*> running;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, rec] : attempts_) {
        if (!rec->exited && rec->supervisor > 0) {
          // Not the script's failure: the machine is going away.
          rec->lost = true;
          rec->message = "the agent on this node was stopped";
          (void)fs::WriteFileAtomic(rec->dir / "lost", rec->message);
          RequestStop(rec->supervisor);
          running.push_back(rec.get());
        }
      }
    }
    for (auto* rec : running)
      if (rec->reader.joinable()) rec->reader.join();
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

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::unique_ptr<AttemptRecord>> attempts_;  // guarded by mu_
  bool report_pending_ = false;                                 // guarded by mu_
  bool shipping_done_ = false;                                  // guarded by mu_
  std::atomic<int64_t> ship_deadline_ms_{INT64_MAX};
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
