#include "agent/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <linux/close_range.h>

namespace lattice::agent {
namespace {

int64_t MonoMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void WriteStr(int fd, const char* s) {
  ssize_t ignored = ::write(fd, s, std::strlen(s));
  (void)ignored;
}

// Runs in the forked child of a possibly multi-threaded parent: only
// async-signal-safe calls from here on, no allocation.
[[noreturn]] void SupervisorMain(const char* exe, char* const* argv, char* const* envp, const char* cwd,
                                 int64_t grace_ms, int64_t abort_grace_ms, int out_fd, pid_t agent_pid) {
  // A fork copies every descriptor of the agent, including the write ends of
  // output pipes other threads are launching with right now: holding one
  // would keep that attempt's reader from seeing EOF until this supervisor
  // ends. Keep only our own pipe (and stdio).
  if (out_fd > 3) close_range(3, static_cast<unsigned>(out_fd) - 1, 0);
  close_range(static_cast<unsigned>(out_fd) + 1, ~0U, 0);
  setsid();
  // SIGHUP when the agent dies; checked once more below to close the race
  // with the agent dying before prctl.
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  bool agent_gone = getppid() != agent_pid;
  const pid_t supervisor = getpid();

  pid_t child = fork();
  if (child < 0) {
    WriteStr(out_fd, "lattice: cannot fork the command\n");
    _exit(126);
  }
  if (child == 0) {
    // Should the supervisor itself be killed (SIGKILL, OOM killer), the
    // command must not live on unsupervised: a stray rank of a gang that
    // runs again elsewhere would train a stale copy.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != supervisor) _exit(137);
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    close_range(3, ~0U, 0);  // no agent descriptor leaks into the command
    if (chdir(cwd) != 0) {
      WriteStr(2, "lattice: cannot enter the workspace directory\n");
      _exit(126);
    }
    execve(exe, argv, envp);
    int err = errno;
    WriteStr(2, "lattice: cannot execute ");
    WriteStr(2, exe);
    WriteStr(2, ": ");
    const char* why = strerrordesc_np(err);  // a static table: no locale, no allocation
    WriteStr(2, why ? why : "error");
    WriteStr(2, "\n");
    _exit(err == ENOENT ? 127 : 126);
  }
  setpgid(child, child);  // both sides set it: no race with our kill(-child)
  close(out_fd);

  int exit_code = -1;
  bool stopping = false;
  int64_t kill_at = 0;
  auto begin_stop = [&](int64_t grace) {
    if (stopping) {
      if (MonoMs() + grace < kill_at) kill_at = MonoMs() + grace;  // an abort shortens a stop
      return;
    }
    stopping = true;
    kill(-child, SIGTERM);
    kill_at = MonoMs() + grace;
  };
  if (agent_gone) begin_stop(grace_ms);
  for (;;) {
    siginfo_t info;
    int sig;
    if (stopping) {
      int64_t left = kill_at - MonoMs();
      if (left <= 0) {
        kill(-child, SIGKILL);
        kill_at = INT64_MAX / 2;
        left = 1000;
      }
      timespec ts{static_cast<time_t>(left / 1000), static_cast<long>((left % 1000) * 1'000'000)};
      sig = sigtimedwait(&set, &info, &ts);
    } else {
      sig = sigwaitinfo(&set, &info);
    }
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) begin_stop(grace_ms);
    if (sig == SIGUSR1) begin_stop(abort_grace_ms < grace_ms ? abort_grace_ms : grace_ms);
    // Reap everything: the command and any orphan we adopted as subreaper.
    for (;;) {
      int status = 0;
      pid_t p = waitpid(-1, &status, WNOHANG);
      if (p <= 0) break;
      if (p == child) {
        exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        kill(-child, SIGKILL);  // what the command left behind in its group
      }
    }
    if (exit_code >= 0) {
      // Wait (briefly) for adopted orphans so none outlives us.
      for (int i = 0; i < 50; ++i) {
        int status = 0;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p < 0) break;  // no children left
        if (p == 0) {
          timespec nap{0, 10'000'000};
          nanosleep(&nap, nullptr);
        }
      }
      _exit(exit_code);
    }
  }
}

}  // namespace

Result<Launched> Launch(const LaunchSpec& spec) {
  // Everything the child needs is built before fork.
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("cannot create output pipe", errno);
  pid_t agent_pid = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return ErrnoError("cannot fork", err);
  }
  if (pid == 0) {
    close(fds[0]);
    // The write end must survive exec in the command: drop CLOEXEC on it
    // (dup2 onto 1 and 2 clears it there; the original is closed by the
    // supervisor after fork).
    SupervisorMain(spec.executable.c_str(), argv.data(), envp.data(), spec.cwd.c_str(), spec.grace_ms,
                   spec.abort_grace_ms, fds[1], agent_pid);
  }
  close(fds[1]);
  return Launched{pid, fds[0]};
}

void RequestStop(pid_t supervisor) {
  if (supervisor > 0) kill(supervisor, SIGTERM);
}

void RequestAbort(pid_t supervisor) {
  if (supervisor > 0) kill(supervisor, SIGUSR1);
}

Result<std::string> ResolveExecutable(const std::string& name, const std::string& path_env) {
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) == 0) return name;
    return ErrnoError("cannot execute " + name, errno);
  }
  size_t i = 0;
  while (i <= path_env.size()) {
    size_t j = path_env.find(':', i);
    if (j == std::string::npos) j = path_env.size();
    std::string candidate = j > i ? path_env.substr(i, j - i) : std::string(".");
    candidate.append("/").append(name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    i = j + 1;
  }
  return Error(ErrorCode::kNotFound, name + ": not found on PATH (" + path_env + ")");
}

}  // namespace lattice::agent
