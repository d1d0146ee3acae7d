// The ssh backend's pure part (see ssh_backend.h): the ssh command lines,
// the shell scripts it runs on a host (copy the agent binary, start the
// agent), node ids, why an ssh connection ended, and the restart backoff.
// No I/O, so all of it is tested without a host.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/cluster.h"

namespace lattice {

struct SshClientOptions {
  std::string program = "ssh";  // looked up on PATH (tests put a fake one first)
  std::string identity;         // -i FILE; empty: ssh's own defaults
  std::string known_hosts;      // the cluster's own UserKnownHostsFile
};

// `ssh OPTIONS [-i ID] -p PORT [user@]host REMOTE_COMMAND`. Host keys are
// learnt on first use, then checked; BatchMode, so ssh never prompts for a
// password or passphrase; keepalives end a connection to a vanished host
// within ~6 s (ServerAliveInterval 2 x ServerAliveCountMax 3).
std::vector<std::string> SshArgv(const SshClientOptions& options, const SshHost& host,
                                 const std::string& remote_command);

// The node id of a host's agent: its name, plus "-PORT" when the port is
// not 22, in [A-Za-z0-9._-] (anything else becomes '-').
std::string SshNodeId(const SshHost& host);

// What the agent gets told it was started by: "ssh root@10.0.0.5".
std::string SshAllocation(const SshHost& host);

// Where the binary with this SHA-256 (hex) lives on a host, for a POSIX
// shell inside double quotes: "$HOME/.lattice/bin/lattice-<16 hex>".
std::string RemoteBinaryPath(const std::string& sha256);

// Copies the binary from stdin to RemoteBinaryPath(sha256): into a
// temporary file, checked (size, and SHA-256 where the host has
// sha256sum), then renamed, so a cut connection never leaves a truncated
// binary under the final name.
std::string CopyScript(const std::string& sha256, uint64_t size);

struct AgentLaunch {
  std::string sha256;  // of the binary
  std::string server_url;
  std::string cluster;
  std::string allocation;
  std::string node_id;
};

// Exit code of AgentScript when the binary is missing or differs: the
// backend copies it and starts again.
inline constexpr int kNeedsCopyExit = 97;
// Prefix of the lines AgentScript writes to stderr about the agent's fate.
inline constexpr const char* kVerdictPrefix = "lattice-ssh: ";

// Checks the binary (else exits kNeedsCopyExit), stops an agent of an
// earlier connection that still runs (a host cut off keeps its agent: its
// ssh session has not noticed yet), runs the agent with its token on stdin
// and --exit-on-stdin-close, then says how the agent ended ("lattice-ssh:
// the agent exited with code N" / "... was killed by signal N"). It never
// reads stdin itself: the first line there is the token, for the agent.
std::string AgentScript(const AgentLaunch& launch);

// The remote command that runs `script` with sh, whatever the login shell.
std::string ShCommand(const std::string& script);

// exit_code: ssh's, 128 + N when it was killed by signal N.
// Whether AgentScript said the binary must be copied first.
bool NeedsCopy(const std::string& output, int exit_code);
// Why a connection ended, from what ssh and AgentScript printed (the
// agent's own log lines, which start with a timestamp, are skipped):
// "Host key verification failed.", AgentScript's verdict, ssh's last
// error line ("ssh: connect to host h port 22: Connection refused",
// "Timeout, server h not responding."), else its exit code.
std::string SshExitReason(const std::string& output, int exit_code);

// Restart delays: 1 s, doubling to 30 s; back to 1 s after a connection
// that lasted a minute (a host that works again is not punished for an
// old failure).
class SshBackoff {
 public:
  static constexpr int64_t kFirstMs = 1000;
  static constexpr int64_t kMaxMs = 30'000;
  static constexpr int64_t kResetAfterMs = 60'000;
  // The delay before the next start, after a connection that lasted ran_ms.
  int64_t Next(int64_t ran_ms);

 private:
  int64_t next_ms_ = kFirstMs;
};

}  // namespace lattice
