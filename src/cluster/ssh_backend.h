// The ssh backend: machines you own, reached with OpenSSH's client. For each
// host of the cluster the server copies this program there (checked by its
// SHA-256, copied again only when it changed), starts `lattice agent` over
// an ssh connection that stays open (the agent gets --exit-on-stdin-close,
// so it dies with the connection, and its token on stdin, never on a
// command line), and starts it again with a backoff when it ends. Host keys
// are checked against the cluster's own known_hosts file (trust on first
// use, then strict).
//
// Each host has at most one ssh child at a time (copying the binary, or
// the agent's connection), in its own process group, its stderr and stdout
// appended to <state_dir>/ssh-<node>.log; Step() only reaps and starts
// them, so it never waits on a host. When a connection ends, the host's
// node is reported down with what ssh (or the agent's wrapper script)
// said, and the host is retried after SshBackoff's delay.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cluster/backend.h"
#include "cluster/ssh_remote.h"

namespace lattice {

struct SshPaths {
  std::string lattice_binary;  // copied to the hosts
  std::string server_url;      // where the agents dial back
  std::string token_file;      // the server's token, sent on the agent's stdin
  std::string state_dir;       // the cluster's directory: known_hosts, ssh logs
  std::string ssh_program = "ssh";  // tests put a fake client here
};

class SshBackend final : public ClusterBackend {
 public:
  explicit SshBackend(SshPaths paths);
  ~SshBackend() override;  // kills what Shutdown did not end
  BackendReport Step(const BackendInput& in) override;
  // Both cases end the agents: closing their connections' stdin stops them
  // (gracefully), and after 10 s the ssh clients still there are killed. An
  // agent left running without its supervising connection would be seen by
  // no one; the next server starts its own.
  void Shutdown(bool deleted) override;
  // 1 s, and 0.2 s while a host is between states (copying, waiting for
  // its agent, about to be retried), so a start is not a chain of 1 s waits.
  int64_t IntervalMs() const override { return interval_ms_; }

  static constexpr int64_t kStopGraceMs = 10'000;

 private:
  struct Host;
  struct LocalBinary {
    std::string path;
    int64_t mtime_ns = -1;
    uint64_t size = 0;
    std::string sha256;  // hex
  };

  void SyncHosts(const BackendInput& in);
  void Reap(Host& h, const BackendInput& in, BackendReport& report);
  void Start(Host& h, const BackendInput& in, BackendReport& report);
  void StartCopy(Host& h, const BackendInput& in, BackendReport& report);
  void Down(Host& h, const std::string& why, const BackendInput& in, BackendReport& report);
  // Spawns ssh for the host; stdin_file empty: a pipe, kept in h.stdin_fd.
  Status Spawn(Host& h, const std::vector<std::string>& argv, const std::string& stdin_file);
  Result<std::string> BinarySha256();
  SshClientOptions Client(const Cluster& cluster) const;
  Json HostStatus(const Host& h, int64_t now_ms) const;
  std::string KnownHosts() const { return paths_.state_dir + "/known_hosts"; }

  SshPaths paths_;
  LocalBinary binary_;
  std::vector<std::unique_ptr<Host>> hosts_;    // in the cluster's order
  std::vector<std::unique_ptr<Host>> leaving_;  // removed from the cluster, connection closing
  int64_t interval_ms_ = 1000;  // the runner's thread only, like Step
};

}  // namespace lattice
