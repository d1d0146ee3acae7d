#include "agent/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace
}  // namespace lattice::agent
