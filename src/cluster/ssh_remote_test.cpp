#include "cluster/ssh_remote.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace lattice {
namespace {

SshHost Host(std::string user, std::string host, int port = 22) {
  SshHost h;
  h.user = std::move(user);
  h.host = std::move(host);
  h.port = port;
  return h;
}

const std::string kSha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

TEST(SshArgv, CarriesEveryOptionThePortAndTheTargetThenTheCommand) {
  SshClientOptions o;
  o.identity = "/keys/id_ed25519";
  o.known_hosts = "/home/lattice/clusters/gpu/known_hosts";
  auto argv = SshArgv(o, Host("root", "10.0.0.5"), "uptime");
  std::vector<std::string> want = {"ssh", "-F", "none", "-i", "/keys/id_ed25519", "-o", "IdentitiesOnly=yes",
                                   "-o", "UserKnownHostsFile=/home/lattice/clusters/gpu/known_hosts",
                                   "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=accept-new",
                                   "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "ServerAliveInterval=2",
                                   "-o", "ServerAliveCountMax=3", "-p", "22", "root@10.0.0.5", "uptime"};
  EXPECT_EQ(argv, want);
}

TEST(SshArgv, WithoutIdentityLeavesKeysToSshAndWithoutUserTheTargetIsTheHost) {
  SshClientOptions o;
  o.program = "/opt/fake/ssh";
  o.known_hosts = "/k";
  auto argv = SshArgv(o, Host("", "gpu1.example.com", 2222), "true");
  EXPECT_EQ(argv.front(), "/opt/fake/ssh");
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "-i"), 0);
  EXPECT_EQ(std::count(argv.begin(), argv.end(), "IdentitiesOnly=yes"), 0);
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv[argv.size() - 4], "-p");
  EXPECT_EQ(argv[argv.size() - 3], "2222");
  EXPECT_EQ(argv[argv.size() - 2], "gpu1.example.com");
  EXPECT_EQ(argv.back(), "true");
}

TEST(SshArgv, FilePathsMeanThemselvesToSsh) {
  SshClientOptions o;
  o.identity = "/keys/100%/id";
  o.known_hosts = "/state dir/known_hosts";
  auto argv = SshArgv(o, Host("u", "h"), "true");
  EXPECT_NE(std::find(argv.begin(), argv.end(), "/keys/100%%/id"), argv.end());
  // UserKnownHostsFile takes several files separated by blanks: quoted.
  EXPECT_NE(std::find(argv.begin(), argv.end(), "UserKnownHostsFile=\"/state dir/known_hosts\""), argv.end());
}

TEST(SshNodeId, IsTheHostPlusAPortOtherThan22InSafeCharacters) {
  EXPECT_EQ(SshNodeId(Host("root", "10.77.3.11")), "10.77.3.11");
  EXPECT_EQ(SshNodeId(Host("root", "gpu-1.lab_a", 2222)), "gpu-1.lab_a-2222");
  EXPECT_EQ(SshNodeId(Host("", "fe80::1%eth0")), "fe80--1-eth0");
  EXPECT_EQ(SshNodeId(Host("x", "a b/c")), "a-b-c");
  EXPECT_EQ(SshAllocation(Host("root", "10.0.0.5", 2222)), "ssh root@10.0.0.5:2222");
}

TEST(RemoteScripts, NameTheBinaryByItsHashAndQuoteWhatTheUserGave) {
  EXPECT_EQ(RemoteBinaryPath(kSha), "$HOME/.lattice/bin/lattice-0123456789abcdef");
  AgentLaunch a{kSha, "http://10.0.0.1:8470", "gpu", "ssh root@10.0.0.5", "10.0.0.5"};
  std::string s = AgentScript(a);
  EXPECT_NE(s.find("b=\"$HOME/.lattice/bin/lattice-0123456789abcdef\""), std::string::npos) << s;
  EXPECT_NE(s.find("case \"$(sha256sum \"$b\")\" in " + kSha + "*)"), std::string::npos) << s;
  EXPECT_NE(s.find("\"$b\" agent --server http://10.0.0.1:8470 --token-stdin --exit-on-stdin-close --cluster gpu "
                   "--allocation 'ssh root@10.0.0.5' --node-id 10.0.0.5 --agent-home \"$h\""),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("exit 97"), std::string::npos);
  // The token is the first line of stdin, for the agent: nothing before it reads stdin.
  EXPECT_EQ(s.find("read "), std::string::npos);
  std::string c = CopyScript(kSha, 12345);
  EXPECT_NE(c.find("-ne 12345"), std::string::npos) << c;
  EXPECT_NE(c.find("mv -f \"$t\" \"$d/lattice-0123456789abcdef\""), std::string::npos) << c;
  EXPECT_EQ(ShCommand("echo 'hi'"), "sh -c 'echo '\\''hi'\\'''");
}

TEST(SshExitReason, PicksTheHostKeyFailureOutOfSshsBanner) {
  std::string out =
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
      "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
      "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
      "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\r\n"
      "Offending ED25519 key in /s/known_hosts:1\r\n"
      "Host key for 10.77.3.12 has changed and you have requested strict checking.\r\n"
      "Host key verification failed.\r\n";
  EXPECT_EQ(SshExitReason(out, 255), "Host key verification failed.");
}

TEST(SshExitReason, SaysWhatSshSaidAboutTheConnection) {
  EXPECT_EQ(SshExitReason("ssh: connect to host 10.77.3.12 port 22: Connection refused\r\n", 255),
            "ssh: connect to host 10.77.3.12 port 22: Connection refused");
  EXPECT_EQ(SshExitReason("Warning: Permanently added '10.0.0.5' (ED25519) to the list of known hosts.\r\n"
                          "root@10.0.0.5: Permission denied (publickey).\r\n",
                          255),
            "root@10.0.0.5: Permission denied (publickey).");
  // The agent logged before the connection died: its lines are not ssh's.
  EXPECT_EQ(SshExitReason("2025-01-01T00:00:00.000Z INFO agent: connect to 10.0.0.1:8470: Connection refused\n"
                          "Timeout, server 10.77.3.11 not responding.\r\n"
                          "2025-01-01T00:00:01.000Z INFO agent: retrying\n",
                          255),
            "Timeout, server 10.77.3.11 not responding.");
}

TEST(SshExitReason, PrefersTheWrappersVerdictAboutTheAgent) {
  std::string out =
      "lattice-ssh note: stopping pid 77, this node's agent from an earlier connection\n"
      "2025-01-01T00:00:00.000Z INFO agent: registered\n"
      "lattice-ssh: the agent was killed by signal 9\n";
  EXPECT_EQ(SshExitReason(out, 137), "the agent was killed by signal 9");
  EXPECT_EQ(SshExitReason("lattice-ssh: the agent exited with code 3\n", 3), "the agent exited with code 3");
}

TEST(SshExitReason, FallsBackToTheExitCode) {
  EXPECT_EQ(SshExitReason("", 255), "ssh failed (exit code 255) without saying why");
  EXPECT_EQ(SshExitReason("some login banner\n", 137), "ssh was killed by signal 9");
  EXPECT_EQ(SshExitReason("2025-01-01T00:00:00.000Z agent log\n", 2), "ssh exited with code 2");
}

TEST(NeedsCopy, OnlyWhenTheScriptSaidSoWithItsExitCode) {
  EXPECT_TRUE(NeedsCopy("lattice-ssh: the agent binary /root/.lattice/bin/lattice-0123 is missing\n", 97));
  EXPECT_TRUE(NeedsCopy("lattice-ssh: the agent binary /root/.lattice/bin/lattice-0123 differs\n", 97));
  EXPECT_FALSE(NeedsCopy("lattice-ssh: the agent exited with code 97\n", 97));
  EXPECT_FALSE(NeedsCopy("lattice-ssh: the agent binary /x is missing\n", 1));
}

TEST(SshBackoff, DoublesToThirtySecondsAndResetsAfterAMinuteOfRunning) {
  SshBackoff b;
  std::vector<int64_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(b.Next(100));
  EXPECT_EQ(got, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 30000, 30000}));
  EXPECT_EQ(b.Next(60'000), 1000);
  EXPECT_EQ(b.Next(59'999), 2000);
}

}  // namespace
}  // namespace lattice
