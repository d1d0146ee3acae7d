// SshBackend against a fake ssh client: a script that runs the remote
// command locally, with a HOME of its own per target (each "host" has its
// own ~/.lattice), and a fake lattice binary whose `agent` records its token
// and runs until its stdin ends. The real client against real sshd servers
// is tests/test_ssh_cluster_e2e.py's.
#include "cluster/ssh_backend.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice {
namespace {

namespace stdfs = std::filesystem;
const std::string kToken = "tok-5f3e9a8b7c6d";

void WriteExecutable(const stdfs::path& path, const std::string& text) {
  ASSERT_TRUE(fs::WriteFileAtomic(path, text, 0755).ok());
}

std::string Read(const stdfs::path& path) {
  auto r = fs::ReadFile(path);
  return r.ok() ? *r : std::string();
}

class SshBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stdfs::create_directories(tmp_ / "state");
    // ssh OPTIONS... TARGET COMMAND: the last two words matter here.
    WriteExecutable(tmp_ / "ssh", "#!/bin/sh\n"
                                  "for a; do prev=$target; target=$last; last=$a; done\n"
                                  "echo \"$*\" >> " + (tmp_ / "calls").string() + "\n"
                                  "if [ -e " + (tmp_ / "refuse").string() + " ]; then\n"
                                  "  echo \"ssh: connect to host $target port 22: Connection refused\" >&2; exit 255\n"
                                  "fi\n"
                                  "mkdir -p " + (tmp_ / "hosts").string() + "/$target\n"
                                  "HOME=" + (tmp_ / "hosts").string() + "/$target exec sh -c \"$last\"\n");
    WriteExecutable(tmp_ / "lattice", FakeAgent("v1"));
    ASSERT_TRUE(fs::WriteFileAtomic(tmp_ / "token", kToken + "\n", 0600).ok());
    SshPaths paths;
    paths.lattice_binary = (tmp_ / "lattice").string();
    paths.server_url = "http://127.0.0.1:1";
    paths.token_file = (tmp_ / "token").string();
    paths.state_dir = (tmp_ / "state").string();
    paths.ssh_program = (tmp_ / "ssh").string();
    backend_ = std::make_unique<SshBackend>(paths);
    in_.cluster.name = "lab";
    in_.cluster.backend = "ssh";
    for (auto [user, host] : {std::pair{"root", "hosta"}, std::pair{"ubuntu", "hostb"}}) {
      SshHost h;
      h.user = user;
      h.host = host;
      in_.cluster.hosts.push_back(h);
    }
    in_.now_ms = 1'000'000;
  }

  static std::string FakeAgent(const std::string& version, bool announce = true) {
    return "#!/bin/sh\n# " + version + "\n"
           "[ \"$1\" = agent ] || exit 2\n"
           "for a; do [ \"$prev\" = --agent-home ] && home=$a; [ \"$prev\" = --node-id ] && node=$a; prev=$a; done\n"
           "echo $$ > \"$home/agent.pid\"\n"
           "read -r token; echo \"$token\" > \"$home/token-seen\"\n"
           + std::string(announce ? "" : "false && ") +
           "echo \"2025-01-01T00:00:00.000Z INFO agent: registered as node $node with 1 CPUs\" >&2\n"
           "echo \"$*\" > \"$home/args\"\n"
           "while read -r line; do :; done\n"
           "echo stopped > \"$home/stopped\"\n";
  }

  stdfs::path AgentHome(const std::string& target, const std::string& node) {
    return tmp_ / "hosts" / target / ".lattice" / "agents" / node;
  }

  // Steps (virtual time moves 100 ms a round, real time 20 ms) until
  // `done` holds for the last status; collects every node reported down.
  Json StepUntil(const std::function<bool(const Json&)>& done, int rounds = 500) {
    Json status;
    for (int i = 0; i < rounds; ++i) {
      BackendReport r = backend_->Step(in_);
      for (auto& d : r.nodes_down) downs_.push_back(d);
      status = r.status;
      if (done(status)) return status;
      in_.now_ms += 100;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "gave up waiting; last status: " << status.dump();
    return status;
  }

  static const Json& HostOf(const Json& status, const std::string& node) {
    for (const auto& h : status["hosts"])
      if (h["node"] == node) return h;
    static const Json none = Json::object();
    return none;
  }

  static bool Both(const Json& s, const std::string& state) {
    return s["hosts"].size() == 2 && s["hosts"][0]["state"] == state && s["hosts"][1]["state"] == state;
  }

  void SetReady(std::vector<std::string> nodes) {
    in_.demand.nodes.clear();
    for (auto& n : nodes) in_.demand.nodes.push_back(ClusterNodeView{n, "", false, false});
  }

  testing::TempDir tmp_dir_;
  stdfs::path tmp_ = tmp_dir_.path();
  std::unique_ptr<SshBackend> backend_;
  BackendInput in_;
  std::vector<std::pair<std::string, std::string>> downs_;
};

TEST_F(SshBackendTest, CopiesOnceStartsSupervisesRestartsAndStopsTheAgents) {
  // Both agents start (after one copy each) with the token on stdin.
  StepUntil([&](const Json&) {
    return stdfs::exists(AgentHome("root@hosta", "hosta") / "token-seen") &&
           stdfs::exists(AgentHome("ubuntu@hostb", "hostb") / "token-seen");
  });
  EXPECT_EQ(Read(AgentHome("root@hosta", "hosta") / "token-seen"), kToken + "\n");
  std::string args = Read(AgentHome("root@hosta", "hosta") / "args");
  EXPECT_NE(args.find("--cluster lab --allocation ssh root@hosta --node-id hosta --agent-home "), std::string::npos)
      << args;
  Json s = StepUntil([](const Json& s) { return Both(s, "starting"); });
  EXPECT_EQ(HostOf(s, "hosta")["copies"], 1);
  EXPECT_EQ(HostOf(s, "hostb")["copies"], 1);
  EXPECT_EQ(HostOf(s, "hostb")["host"], "ubuntu@hostb");
  std::string binary = s["binary"];
  EXPECT_TRUE(stdfs::exists(tmp_ / "hosts" / "root@hosta" / ".lattice" / "bin" / binary));
  SetReady({"hosta", "hostb"});
  s = StepUntil([](const Json& s) { return Both(s, "running"); });
  EXPECT_TRUE(downs_.empty());

  // The agent is killed: down with why, then started again after 1 s, not copied again.
  pid_t pid = std::stoi(Read(AgentHome("root@hosta", "hosta") / "agent.pid"));
  ::kill(pid, SIGKILL);
  s = StepUntil([](const Json& s) { return HostOf(s, "hosta")["state"] == "down"; });
  ASSERT_EQ(downs_.size(), 1u);
  EXPECT_EQ(downs_[0], (std::pair<std::string, std::string>{"hosta", "the agent was killed by signal 9"}));
  EXPECT_EQ(HostOf(s, "hosta")["reason"], "the agent was killed by signal 9");
  EXPECT_LE(HostOf(s, "hosta")["retry_in_ms"].get<int64_t>(), 1000);
  EXPECT_EQ(HostOf(s, "hostb")["state"], "running");  // the others go on
  SetReady({"hostb"});                                 // the server took it down
  s = StepUntil([&](const Json& s) {
    return HostOf(s, "hosta")["state"] == "starting" && HostOf(s, "hosta").contains("pid") &&
           Read(AgentHome("root@hosta", "hosta") / "agent.pid") != std::to_string(pid) + "\n";
  });
  EXPECT_EQ(HostOf(s, "hosta")["restarts"], 1);
  EXPECT_EQ(HostOf(s, "hosta")["copies"], 1);
  EXPECT_EQ(HostOf(s, "hosta")["last_failure"], "the agent was killed by signal 9");
  SetReady({"hosta", "hostb"});
  StepUntil([](const Json& s) { return Both(s, "running"); });

  // Unreachable: ssh's own words, and the delay doubles.
  downs_.clear();
  std::ofstream(tmp_ / "refuse").put('x');
  pid = std::stoi(Read(AgentHome("ubuntu@hostb", "hostb") / "agent.pid"));
  ::kill(pid, SIGKILL);
  StepUntil([&](const Json&) { return downs_.size() >= 2; }, 200);
  ASSERT_GE(downs_.size(), 2u);
  EXPECT_EQ(downs_[0].second, "the agent was killed by signal 9");
  EXPECT_EQ(downs_[1], (std::pair<std::string, std::string>{
                           "hostb", "ssh: connect to host ubuntu@hostb port 22: Connection refused"}));
  s = StepUntil([](const Json&) { return true; });
  EXPECT_GT(HostOf(s, "hostb")["retry_in_ms"].get<int64_t>(), 1000);  // 2 s after the second failure
  stdfs::remove(tmp_ / "refuse");
  SetReady({"hosta"});
  StepUntil([&](const Json& s) { return HostOf(s, "hostb")["state"] != "down" && HostOf(s, "hostb").contains("pid"); },
            400);

  // A new binary is copied again, once; the old one's connection is left alone.
  WriteExecutable(tmp_ / "lattice", FakeAgent("v2"));
  pid = std::stoi(Read(AgentHome("root@hosta", "hosta") / "agent.pid"));
  ::kill(pid, SIGKILL);
  s = StepUntil([&](const Json& s) { return HostOf(s, "hosta")["copies"] == 2 && HostOf(s, "hosta").contains("pid"); });
  EXPECT_NE(s["binary"], binary);
  EXPECT_EQ(HostOf(s, "hostb")["copies"], 1);

  // The token is on no command line, in no log, in no status.
  EXPECT_EQ(Read(tmp_ / "calls").find(kToken), std::string::npos);
  EXPECT_NE(Read(tmp_ / "calls").find("-F none"), std::string::npos);
  for (const auto& f : stdfs::directory_iterator(tmp_ / "state"))
    EXPECT_EQ(Read(f.path()).find(kToken), std::string::npos) << f.path();
  EXPECT_EQ(s.dump().find(kToken), std::string::npos);

  // Shutdown: stdin closes, every agent stops by itself, quickly.
  StepUntil([&](const Json&) {
    return stdfs::exists(AgentHome("root@hosta", "hosta") / "token-seen") &&
           Read(AgentHome("ubuntu@hostb", "hostb") / "token-seen") == kToken + "\n";
  });
  stdfs::remove(AgentHome("root@hosta", "hosta") / "stopped");
  stdfs::remove(AgentHome("ubuntu@hostb", "hostb") / "stopped");
  auto t0 = std::chrono::steady_clock::now();
  backend_->Shutdown(true);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(Read(AgentHome("root@hosta", "hosta") / "stopped"), "stopped\n");
  EXPECT_EQ(Read(AgentHome("ubuntu@hostb", "hostb") / "stopped"), "stopped\n");
}

TEST_F(SshBackendTest, ANodeListedReadyRunsOnlyOnceTheAgentOfThisConnectionRegistered) {
  WriteExecutable(tmp_ / "lattice", FakeAgent("quiet", false));
  SetReady({"hosta", "hostb"});  // say, agents of connections that died unseen, back after a cut
  StepUntil([&](const Json&) {
    return stdfs::exists(AgentHome("root@hosta", "hosta") / "token-seen") &&
           stdfs::exists(AgentHome("ubuntu@hostb", "hostb") / "token-seen");
  });
  const int64_t connected = in_.now_ms;
  Json s = StepUntil([](const Json& s) { return Both(s, "running"); });
  EXPECT_GE(in_.now_ms - connected, 8000);  // the agents never said so: listed 10 s into the connection
  in_.demand.nodes[0].stopping = true;
  s = StepUntil([](const Json&) { return true; });
  EXPECT_EQ(HostOf(s, "hosta")["state"], "starting");
  EXPECT_EQ(HostOf(s, "hostb")["state"], "running");
  backend_->Shutdown(true);
}

TEST_F(SshBackendTest, AnAgentOfAnEarlierConnectionStillRunningIsStoppedFirst) {
  // A host cut off keeps its agent (its sshd has not noticed the dead
  // connection, so the agent's stdin stays open); here, one we hold open.
  stdfs::path home = AgentHome("root@hosta", "hosta");
  stdfs::create_directories(home);
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  std::string script = (tmp_ / "lattice").string();
  pid_t old = ::fork();
  if (old == 0) {
    ::dup2(in[0], 0);
    ::close(in[1]);
    ::execl("/bin/sh", "sh", script.c_str(), "agent", "--server", "http://x", "--node-id", "hosta", "--agent-home",
            home.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  // Reaped at once, as its parent would (the script waits for it to be gone, a zombie is not).
  int status = 0;
  std::thread reaper([&] { ::waitpid(old, &status, 0); });
  for (int i = 0; i < 200 && Read(home / "agent.pid") != std::to_string(old) + "\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(Read(home / "agent.pid"), std::to_string(old) + "\n");
  StepUntil([&](const Json&) {
    return stdfs::exists(home / "token-seen") && Read(home / "agent.pid") != std::to_string(old) + "\n";
  });
  reaper.join();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_NE(Read(tmp_ / "state" / "ssh-hosta.log").find("lattice-ssh note: stopping pid " + std::to_string(old)),
            std::string::npos);
  ::close(in[1]);
  backend_->Shutdown(true);
}

TEST_F(SshBackendTest, AHostLeavingTheClusterHasItsAgentStopped) {
  StepUntil([&](const Json&) { return stdfs::exists(AgentHome("ubuntu@hostb", "hostb") / "token-seen"); });
  in_.cluster.hosts.pop_back();
  Json s = StepUntil([&](const Json&) { return stdfs::exists(AgentHome("ubuntu@hostb", "hostb") / "stopped"); });
  EXPECT_EQ(s["hosts"].size(), 1u);
  backend_->Shutdown(false);
}

TEST_F(SshBackendTest, AMissingIdentityOrTokenIsTheReason) {
  in_.cluster.identity = (tmp_ / "no-such-key").string();
  Json s = StepUntil([](const Json& s) { return Both(s, "down"); });
  EXPECT_EQ(HostOf(s, "hosta")["reason"],
            "the identity file " + in_.cluster.identity + " cannot be read: No such file or directory");
  EXPECT_EQ(downs_.size(), 2u);  // reported once each, though the server may not know them
  in_.cluster.identity.clear();
  stdfs::remove(tmp_ / "token");
  s = StepUntil([](const Json& s) { return Both(s, "down") && s["hosts"][0]["restarts"] == 1; });
  EXPECT_NE(HostOf(s, "hosta")["reason"].get<std::string>().find("cannot read the server's token"),
            std::string::npos);
  EXPECT_EQ(downs_.size(), 2u);  // never registered: not reported again
  backend_->Shutdown(true);
}

}  // namespace
}  // namespace lattice
