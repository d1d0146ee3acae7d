#include "cluster/ssh_backend.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <set>
#include <thread>

#include "common/fs.h"
#include "common/log.h"
#include "common/subprocess.h"
#include "common/token.h"
#include "snapshot/sha256.h"

extern char** environ;

namespace lattice {
namespace {
constexpr const char* kLog = "ssh";
constexpr uint64_t kLogRotateBytes = 8ULL << 20;  // then ssh-<node>.log becomes .log.1
constexpr size_t kReasonWindow = 64 << 10;         // the tail of a connection's output searched for why it ended
// A node listed ready is not proof that this connection's agent is up: the
// agent of a connection that died unseen (a cut host) comes back by itself
// when the network does, and is then replaced by this one. The agent says
// in its log (this connection's output) when it registered; failing that
// line, being listed this long into the connection counts.
constexpr const char* kRegisteredLine = "registered as node ";
constexpr int64_t kReadyTrustMs = 10'000;
constexpr int64_t kFastIntervalMs = 200;
// How long after a start a host not yet running keeps Step on the fast
// interval (an agent that cannot reach the server would otherwise keep it
// there for good).
constexpr int64_t kFastForMs = 15'000;

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<std::string> Sha256File(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("reading " + path, errno);
  struct stat st {};
  snapshot::Sha256Stream sha;
  Status read = ::fstat(fd, &st) == 0 ? sha.UpdateFromFile(fd, static_cast<uint64_t>(st.st_size), path)
                                      : Status(ErrnoError("reading " + path, errno));
  ::close(fd);
  if (!read.ok()) return read.error();
  return sha.FinishHex();
}

// What a connection printed since it started (its last kReasonWindow bytes).
std::string OutputSince(const std::string& path, uint64_t offset) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < offset) offset = 0;  // rotated meanwhile
  if (size - offset > kReasonWindow) offset = size - kReasonWindow;
  auto text = fs::ReadRange(path, offset, kReasonWindow);
  return text.ok() ? *text : std::string();
}

int ExitCodeOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

void KillGroup(pid_t pid) {
  if (pid > 0) ::kill(-pid, SIGKILL);
}

void ReapBlocking(pid_t pid) {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

struct SshBackend::Host {
  enum class Phase { kIdle, kCopy, kAgent };
  SshHost spec;
  std::string node;
  std::string log_path;
  Phase phase = Phase::kIdle;
  pid_t pid = -1;
  int stdin_fd = -1;       // the agent connection's stdin: closing it stops the agent
  int64_t started_ms = 0;  // when the current (or last) child started, in.now_ms
  uint64_t log_offset = 0;
  bool copied = false;     // this connection follows a copy: a binary still missing is a failure
  bool was_down = false;   // the next start is a restart
  bool reported = false;   // a down was reported at least once
  bool ever_ready = false;  // its node registered at some time
  bool registered = false;  // ... on this connection (its agent said so)
  bool ready = false;       // registered on this connection and listed ready, not stopping
  int restarts = 0;
  int copies = 0;
  SshBackoff backoff;
  int64_t retry_at_ms = 0;
  std::string reason;      // why it went down (last time)
  int64_t kill_at_ms = 0;  // leaving_: SIGKILL from then on

  void CloseStdin() {
    if (stdin_fd >= 0) ::close(stdin_fd);
    stdin_fd = -1;
  }
};

SshBackend::SshBackend(SshPaths paths) : paths_(std::move(paths)) {}

SshBackend::~SshBackend() {
  for (auto* list : {&hosts_, &leaving_})
    for (auto& h : *list) {
      h->CloseStdin();
      if (h->pid > 0) {
        KillGroup(h->pid);
        ReapBlocking(h->pid);
      }
    }
}

SshClientOptions SshBackend::Client(const Cluster& cluster) const {
  SshClientOptions o;
  o.program = paths_.ssh_program;
  o.identity = cluster.identity;
  o.known_hosts = KnownHosts();
  return o;
}

Result<std::string> SshBackend::BinarySha256() {
  struct stat st {};
  if (::stat(paths_.lattice_binary.c_str(), &st) != 0) return ErrnoError("reading " + paths_.lattice_binary, errno);
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (binary_.path == paths_.lattice_binary && binary_.mtime_ns == mtime && binary_.size == size)
    return binary_.sha256;
  LATTICE_ASSIGN_OR_RETURN(std::string sha, Sha256File(paths_.lattice_binary));
  binary_ = LocalBinary{paths_.lattice_binary, mtime, size, sha};
  LOG_INFO(kLog, paths_.lattice_binary << " is lattice-" << sha.substr(0, 16) << " (" << size << " bytes)");
  return sha;
}

void SshBackend::SyncHosts(const BackendInput& in) {
  std::vector<std::unique_ptr<Host>> next;
  std::set<std::string> ids;
  for (const auto& spec : in.cluster.hosts) {
    // The cluster's validation keeps host:port unique; the sanitized ids
    // could still meet (e.g. a host name with a '-' where another has '_').
    std::string id = SshNodeId(spec);
    for (int i = 2; ids.count(id); ++i) id = SshNodeId(spec) + "-" + std::to_string(i);
    ids.insert(id);
    auto it = std::find_if(hosts_.begin(), hosts_.end(), [&](const std::unique_ptr<Host>& h) {
      return h && h->node == id && h->spec.ToString() == spec.ToString();
    });
    if (it != hosts_.end()) {
      next.push_back(std::move(*it));
      continue;
    }
    auto h = std::make_unique<Host>();
    h->spec = spec;
    h->node = id;
    h->log_path = paths_.state_dir + "/ssh-" + id + ".log";
    h->retry_at_ms = in.now_ms;
    next.push_back(std::move(h));
  }
  for (auto& h : hosts_) {
    if (!h) continue;
    LOG_INFO(kLog, h->spec.ToString() << " left the cluster: stopping its agent");
    h->CloseStdin();
    if (h->pid <= 0) continue;
    if (h->phase == Host::Phase::kCopy) KillGroup(h->pid);  // a copy is of no use now
    h->kill_at_ms = in.now_ms + kStopGraceMs;
    leaving_.push_back(std::move(h));
  }
  hosts_ = std::move(next);
  std::erase_if(leaving_, [&](const std::unique_ptr<Host>& h) {
    int status = 0;
    if (::waitpid(h->pid, &status, WNOHANG) == h->pid) return true;
    if (in.now_ms >= h->kill_at_ms) KillGroup(h->pid);
    return false;
  });
}

Status SshBackend::Spawn(Host& h, const std::vector<std::string>& argv, const std::string& stdin_file) {
  struct stat st {};
  if (::stat(h.log_path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) > kLogRotateBytes)
    ::rename(h.log_path.c_str(), (h.log_path + ".1").c_str());
  int log = ::open(h.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log < 0) return ErrnoError("opening " + h.log_path, errno);
  // The script is long and holds nothing the log needs; what runs is said
  // in words. No secret is on the command line anyway (the token goes to
  // stdin), so a `ps` shows nothing more than this.
  std::string header = "--- " + UtcNow() + " lattice: " +
                       (stdin_file.empty() ? "starting the agent" : "copying the agent binary") + " on " +
                       h.spec.ToString() + " (" + argv[0] + ")\n";
  (void)fs::WriteAll(log, header);
  if (::fstat(log, &st) == 0) h.log_offset = static_cast<uint64_t>(st.st_size);

  int in[2] = {-1, -1};
  if (stdin_file.empty() && ::pipe2(in, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(log);
    return ErrnoError("pipe", err);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdin_file.empty()) posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  else posix_spawn_file_actions_addopen(&actions, 0, stdin_file.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log, 1);
  posix_spawn_file_actions_adddup2(&actions, log, 2);
  // Nothing else of the server's reaches ssh: another host's stdin pipe
  // held open by this child would keep that agent from ever seeing EOF.
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);  // its own group: killed as one, spared the terminal's Ctrl-C
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, cargv[0], &actions, &attr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(log);
  if (in[0] >= 0) ::close(in[0]);
  if (rc != 0) {
    if (in[1] >= 0) ::close(in[1]);
    return Error(ErrorCode::kIo, "could not start " + argv[0] + ": " + std::strerror(rc));
  }
  h.pid = pid;
  h.stdin_fd = in[1];
  return OkStatus();
}

void SshBackend::Down(Host& h, const std::string& why, const BackendInput& in, BackendReport& report) {
  h.CloseStdin();
  h.phase = Host::Phase::kIdle;
  h.reason = why;
  h.was_down = true;
  h.copied = false;
  h.ready = false;
  h.registered = false;
  const int64_t delay = h.backoff.Next(in.now_ms - h.started_ms);
  h.retry_at_ms = in.now_ms + delay;
  LOG_WARN(kLog, h.spec.ToString() << " (node " << h.node << ") is down: " << why << "; trying again in "
                                    << delay / 1000 << " s");
  // A node that never registered is unknown to the server; one report
  // still reaches a node a previous server run left behind.
  if (h.ever_ready || !h.reported) report.nodes_down.emplace_back(h.node, why);
  h.reported = true;
}

void SshBackend::Start(Host& h, const BackendInput& in, BackendReport& report) {
  const bool after_copy = h.phase == Host::Phase::kCopy;
  if (!after_copy && h.was_down) ++h.restarts;
  h.was_down = false;
  h.started_ms = in.now_ms;
  auto sha = BinarySha256();
  if (!sha.ok()) return Down(h, "cannot read the agent binary: " + sha.error().message, in, report);
  const std::string& identity = in.cluster.identity;
  if (!identity.empty() && ::access(identity.c_str(), R_OK) != 0)
    return Down(h, "the identity file " + identity + " cannot be read: " + std::strerror(errno), in, report);
  if (paths_.server_url.empty())
    return Down(h, "no URL for the agents to reach the server: set the cluster's server_url", in, report);
  auto token = ReadTokenFile(paths_.token_file);
  if (!token.ok()) return Down(h, "cannot read the server's token: " + token.error().message, in, report);
  AgentLaunch launch{*sha, paths_.server_url, in.cluster.name, SshAllocation(h.spec), h.node};
  Status spawned = Spawn(h, SshArgv(Client(in.cluster), h.spec, ShCommand(AgentScript(launch))), "");
  if (!spawned.ok()) return Down(h, spawned.error().message, in, report);
  // The first line of stdin, read by the agent (--token-stdin). A pipe
  // holds 64 KiB, so this never waits; a failure means ssh is gone already,
  // which Reap will tell.
  {
    ScopedSigpipeBlock no_sigpipe;  // ssh may have died already
    (void)fs::WriteAll(h.stdin_fd, *token + "\n");
  }
  h.phase = Host::Phase::kAgent;
  h.copied = after_copy;
  LOG_INFO(kLog, "starting the agent on " << h.spec.ToString() << " (node " << h.node << ", ssh pid " << h.pid
                                          << ", log " << h.log_path << ")");
}

void SshBackend::StartCopy(Host& h, const BackendInput& in, BackendReport& report) {
  h.started_ms = in.now_ms;
  auto sha = BinarySha256();
  if (!sha.ok()) return Down(h, "cannot read the agent binary: " + sha.error().message, in, report);
  Status spawned = Spawn(h, SshArgv(Client(in.cluster), h.spec, ShCommand(CopyScript(*sha, binary_.size))),
                         paths_.lattice_binary);
  if (!spawned.ok()) return Down(h, spawned.error().message, in, report);
  h.phase = Host::Phase::kCopy;
  LOG_INFO(kLog, "copying " << paths_.lattice_binary << " to " << h.spec.ToString() << ":"
                            << RemoteBinaryPath(*sha) << " (" << binary_.size << " bytes)");
}

void SshBackend::Reap(Host& h, const BackendInput& in, BackendReport& report) {
  if (h.pid <= 0) return;
  int status = 0;
  pid_t r = ::waitpid(h.pid, &status, WNOHANG);
  if (r == 0 || (r < 0 && errno == EINTR)) return;
  const int code = r < 0 ? 255 : ExitCodeOf(status);
  h.pid = -1;
  h.CloseStdin();
  const std::string output = OutputSince(h.log_path, h.log_offset);
  std::string why = SshExitReason(output, code);
  if (why == "Host key verification failed.") {
    const std::string name = h.spec.port == 22 ? h.spec.host : "[" + h.spec.host + "]:" + std::to_string(h.spec.port);
    why += " (its key is not the one in " + KnownHosts() + "; if it was changed on purpose: ssh-keygen -R " + name +
           " -f " + KnownHosts() + ")";
  }
  if (h.phase == Host::Phase::kCopy) {
    if (code != 0) return Down(h, "copying the agent binary failed: " + why, in, report);
    ++h.copies;
    LOG_INFO(kLog, "copied the agent binary to " << h.spec.ToString() << " in " << (in.now_ms - h.started_ms)
                                                 << " ms");
    return Start(h, in, report);
  }
  if (NeedsCopy(output, code)) {
    if (!h.copied) return StartCopy(h, in, report);
    return Down(h, why + " after it was copied", in, report);
  }
  Down(h, why, in, report);
}

BackendReport SshBackend::Step(const BackendInput& in) {
  BackendReport report;
  SyncHosts(in);
  std::set<std::string> ready;  // listed ready and not stopping
  for (const auto& n : in.demand.nodes)
    if (!n.stopping) ready.insert(n.id);
  Json hosts = Json::array();
  bool fast = false;
  for (auto& hp : hosts_) {
    Host& h = *hp;
    Reap(h, in, report);
    if (h.pid <= 0 && h.phase == Host::Phase::kIdle && in.now_ms >= h.retry_at_ms) Start(h, in, report);
    const bool listed = ready.count(h.node) > 0;
    if (h.phase == Host::Phase::kAgent && listed && !h.registered)
      h.registered = OutputSince(h.log_path, h.log_offset).find(kRegisteredLine + h.node + " ") != std::string::npos ||
                     in.now_ms - h.started_ms >= kReadyTrustMs;
    const bool was_ready = h.ready;
    h.ready = h.phase == Host::Phase::kAgent && h.registered && listed;
    if (h.ready && !was_ready)
      LOG_INFO(kLog, "the agent on " << h.spec.ToString() << " runs as node " << h.node);
    h.ever_ready = h.ever_ready || h.ready;
    hosts.push_back(HostStatus(h, in.now_ms));
    const bool settling = h.phase == Host::Phase::kCopy ||
                          (h.phase == Host::Phase::kAgent && !h.ready && in.now_ms - h.started_ms < kFastForMs) ||
                          (h.phase == Host::Phase::kIdle && h.retry_at_ms - in.now_ms < 1000);
    if (settling) fast = true;
  }
  interval_ms_ = fast || !leaving_.empty() ? kFastIntervalMs : 1000;
  std::string binary = binary_.sha256.empty() ? "" : "lattice-" + binary_.sha256.substr(0, 16);
  report.status = Json{{"hosts", hosts}, {"known_hosts", KnownHosts()}, {"binary", binary}};
  return report;
}

Json SshBackend::HostStatus(const Host& h, int64_t now_ms) const {
  Json j{{"host", h.spec.ToString()}, {"node", h.node}, {"restarts", h.restarts}, {"copies", h.copies},
         {"log", h.log_path}};
  if (h.pid > 0) j["pid"] = h.pid;
  if (h.phase == Host::Phase::kIdle && h.was_down) {
    j["state"] = "down";
    j["reason"] = h.reason;
    j["retry_in_ms"] = std::max<int64_t>(0, h.retry_at_ms - now_ms);
    return j;
  }
  if (h.ready) {
    j["state"] = "running";
    j["reason"] = "";
  } else {
    j["state"] = "starting";
    j["reason"] = h.phase == Host::Phase::kCopy ? "copying the agent binary to the host"
                  : h.registered                ? "connected, but the server does not list the node as ready"
                                                : "waiting for the agent to register";
  }
  if (!h.reason.empty()) j["last_failure"] = h.reason;
  return j;
}

void SshBackend::Shutdown(bool deleted) {
  std::vector<Host*> live;
  for (auto* list : {&hosts_, &leaving_})
    for (auto& h : *list) {
      h->CloseStdin();  // the agent sees EOF and stops by itself
      if (h->pid <= 0) continue;
      if (h->phase == Host::Phase::kCopy) KillGroup(h->pid);
      live.push_back(h.get());
    }
  if (!live.empty())
    LOG_INFO(kLog, "stopping the agents on " << live.size() << " host(s)" << (deleted ? " (cluster deleted)" : ""));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopGraceMs);
  while (!live.empty()) {
    std::erase_if(live, [](Host* h) {
      int status = 0;
      if (::waitpid(h->pid, &status, WNOHANG) != h->pid) return false;
      h->pid = -1;
      return true;
    });
    if (live.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (Host* h : live) {
    LOG_WARN(kLog, "the connection to " << h->spec.ToString() << " did not end within " << kStopGraceMs / 1000
                                        << " s: killing it");
    KillGroup(h->pid);
    ReapBlocking(h->pid);
    h->pid = -1;
  }
  hosts_.clear();
  leaving_.clear();
}

}  // namespace lattice
