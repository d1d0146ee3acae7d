#include "cli/local_daemon.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.h"
#include "common/json.h"
#include "common/token.h"
#include "net/http_client.h"

namespace lattice::cli {
namespace {

struct ServerInfo {
  std::string url;
  pid_t pid = 0;
};

Result<ServerInfo> ReadServerInfo(const std::filesystem::path& home) {
  LATTICE_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(home / "server.json"));
  LATTICE_ASSIGN_OR_RETURN(Json j, ParseJson(text, "server.json"));
  if (!j.is_object() || !j.contains("url") || !j.contains("pid"))
    return Error(ErrorCode::kInvalidArgument, "server.json lacks url or pid");
  return ServerInfo{j["url"].get<std::string>(), j["pid"].get<pid_t>()};
}

// A zombie has exited: it only waits for its parent (init, for a daemon) to
// reap it, which may take a second or more, so it does not count as alive.
bool Alive(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM)) return false;
  auto stat = fs::ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return true;
  size_t close = stat->rfind(')');
  return close == std::string::npos || close + 2 >= stat->size() || (*stat)[close + 2] != 'Z';
}

bool Healthy(const std::string& url, const std::string& token) {
  auto u = net::ParseUrl(url);
  if (!u.ok()) return false;
  net::HttpClient client(*u, token);
  net::ClientRequest req;
  req.target = "/api/v1/health";  // the client adds the base path
  req.timeout = std::chrono::milliseconds(2000);
  auto r = client.Send(req);
  return r.ok() && r->status == 200;
}

// Starts argv detached (own session, reparented to init), output to log.
Status SpawnDetached(const std::vector<std::string>& args, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::string exe = fs::SelfExe();
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return ErrnoError("cannot open " + log.string(), errno);
  pid_t pid = fork();
  if (pid < 0) {
    ::close(log_fd);
    return ErrnoError("cannot fork", errno);
  }
  if (pid == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    int devnull = ::open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  ::close(log_fd);
  int status = 0;
  waitpid(pid, &status, 0);
  return OkStatus();
}

class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

}  // namespace

Result<std::string> EnsureLocalServer(const std::filesystem::path& home, bool start) {
  auto usable = [&]() -> std::string {
    auto info = ReadServerInfo(home);
    if (info.ok() && Alive(info->pid) && Healthy(info->url, ReadToken(home))) return info->url;
    return "";
  };
  if (std::string url = usable(); !url.empty()) return url;
  if (!start)
    return Error(ErrorCode::kUnavailable, "no local server is running under " + home.string() +
                                              " (any lattice command that needs one starts it)");
  LATTICE_RETURN_IF_ERROR(fs::MakeDirs(home, 0700));
  FileLock lock(home / ".start.lock");
  if (std::string url = usable(); !url.empty()) return url;  // another command won the race

  (void)::unlink((home / "server.json").c_str());
  LATTICE_RETURN_IF_ERROR(SpawnDetached({"lattice", "--home", home.string(), "server"}, home / "server.log"));
  std::string url;
  for (int i = 0; i < 1000 && url.empty(); ++i) {  // up to ~10 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    url = usable();
  }
  if (url.empty())
    return Error(ErrorCode::kUnavailable,
                 "the local server did not come up within 10 s; see " + (home / "server.log").string());
  // An agent that outlived its server keeps going: it reconnects by itself.
  auto agent_pid = fs::ReadFile(home / "agent" / "agent.pid");
  if (!agent_pid.ok() || !Alive(std::atoi(agent_pid->c_str()))) {
    LATTICE_RETURN_IF_ERROR(SpawnDetached({"lattice", "--home", home.string(), "--server", url, "agent"},
                                          home / "agent.log"));
  }
  return url;
}

Result<StopReport> StopLocal(const std::filesystem::path& home, int64_t wait_ms) {
  StopReport report;
  auto wait_gone = [&](pid_t pid) {
    for (int64_t waited = 0; waited < wait_ms; waited += 20) {
      if (!Alive(pid)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGKILL);
    return false;
  };
  auto agent_pid_text = fs::ReadFile(home / "agent" / "agent.pid");
  if (agent_pid_text.ok()) {
    pid_t pid = std::atoi(agent_pid_text->c_str());
    if (Alive(pid)) {
      report.agent_was_running = true;
      kill(pid, SIGTERM);
      wait_gone(pid);
    }
  }
  auto info = ReadServerInfo(home);
  if (info.ok() && Alive(info->pid)) {
    report.server_was_running = true;
    kill(info->pid, SIGTERM);
    wait_gone(info->pid);
  }
  return report;
}

}  // namespace lattice::cli
