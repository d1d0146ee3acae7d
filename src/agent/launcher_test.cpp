#include "agent/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace lattice::agent {
namespace {

// A supervisor is forked, not exec'd, so it starts with a copy of every
// descriptor of the agent. Attempts launch on their own threads: one that
// kept another's pipe would hold back that reader's EOF until it ended.
TEST(Launcher, SupervisorKeepsNoDescriptorOfTheAgentButItsOwnPipe) {
  int other[2];
  ASSERT_EQ(pipe2(other, O_CLOEXEC), 0);  // as another attempt's output pipe, mid-launch
  LaunchSpec spec;
  spec.executable = "/bin/sleep";
  spec.argv = {"sleep", "30"};
  spec.cwd = "/";
  spec.grace_ms = 100;
  auto launched = Launch(spec);
  ASSERT_TRUE(launched.ok()) << launched.error().message;
  ::close(other[1]);  // the other attempt's command is done with it
  pollfd p{other[0], POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "the supervisor still holds the other pipe's write end";
  char c;
  EXPECT_EQ(::read(other[0], &c, 1), 0);  // EOF, not a timeout
  ::close(other[0]);
  RequestStop(launched->supervisor);
  int status = 0;
  ASSERT_EQ(::waitpid(launched->supervisor, &status, 0), launched->supervisor);
  ::close(launched->output_fd);
}

TEST(Launcher, CommandOutputAndExitCodeComeBack) {
  LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"sh", "-c", "echo out; echo err >&2; exit 7"};
  spec.cwd = "/";
  auto launched = Launch(spec);
  ASSERT_TRUE(launched.ok());
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(launched->output_fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(launched->output_fd);
  int status = 0;
  ASSERT_EQ(::waitpid(launched->supervisor, &status, 0), launched->supervisor);
  EXPECT_EQ(text, "out\nerr\n");
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

// A rank that ignores SIGTERM (a script checkpointing on preemption) keeps
// its full grace on a stop, but an abort (its gang broke) kills it after the
// short abort grace, also when a stop was already under way.
TEST(Launcher, AbortShortensTheGraceOfARankThatIgnoresSigterm) {
  LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"};
  spec.cwd = "/";
  spec.grace_ms = 60'000;
  spec.abort_grace_ms = 200;
  auto launched = Launch(spec);
  ASSERT_TRUE(launched.ok());
  char buf[16];
  ASSERT_GT(::read(launched->output_fd, buf, sizeof buf), 0);  // the trap is set
  RequestStop(launched->supervisor);
  auto t0 = std::chrono::steady_clock::now();
  RequestAbort(launched->supervisor);
  int status = 0;
  ASSERT_EQ(::waitpid(launched->supervisor, &status, 0), launched->supervisor);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 5000);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGKILL);
  ::close(launched->output_fd);
}

// If the supervisor itself is killed (SIGKILL, the OOM killer), the command
// must not run on unsupervised.
TEST(Launcher, CommandDiesWithAKilledSupervisor) {
  LaunchSpec spec;
  spec.executable = "/bin/sh";
  spec.argv = {"sh", "-c", "echo $$; exec sleep 60"};
  spec.cwd = "/";
  auto launched = Launch(spec);
  ASSERT_TRUE(launched.ok());
  char buf[32] = {0};
  ASSERT_GT(::read(launched->output_fd, buf, sizeof buf - 1), 0);
  const pid_t command = static_cast<pid_t>(std::atoi(buf));
  ASSERT_GT(command, 0);
  ::kill(launched->supervisor, SIGKILL);
  ASSERT_EQ(::waitpid(launched->supervisor, nullptr, 0), launched->supervisor);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    // Gone, or a zombie waiting for init to reap it.
    std::string stat_path = "/proc/" + std::to_string(command) + "/stat";
    FILE* f = std::fopen(stat_path.c_str(), "r");
    if (!f) {
      gone = true;
      break;
    }
    char line[512] = {0};
    size_t n = std::fread(line, 1, sizeof line - 1, f);
    std::fclose(f);
    std::string text(line, n);
    auto close = text.rfind(')');
    gone = close != std::string::npos && text.size() > close + 2 && text[close + 2] == 'Z';
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "the command outlived its supervisor";
  ::close(launched->output_fd);
}

}  // namespace
}  // namespace lattice::agent
