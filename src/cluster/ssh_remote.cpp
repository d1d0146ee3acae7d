#include "cluster/ssh_remote.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <string_view>

#include "common/subprocess.h"
#include "common/text.h"

namespace lattice {
namespace {

// ssh expands %-tokens (and, in UserKnownHostsFile, splits at blanks) in
// file options: a path is passed so that it means itself.
std::string SshFileOption(const std::string& path, bool may_split) {
  std::string out;
  for (char c : path) out += c == '%' ? std::string("%%") : std::string(1, c);
  if (may_split && out.find_first_of(" \t\"") != std::string::npos) {
    std::string quoted = "\"";
    for (char c : out) quoted += c == '"' ? std::string("\\\"") : std::string(1, c);
    return quoted + "\"";
  }
  return out;
}

std::string Short(const std::string& sha256) { return sha256.substr(0, 16); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    line = TrimBlanks(line);  // ssh ends its own lines with "\r\n"
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// Lines ssh itself prints when a connection fails or ends. Anything else on
// its stderr is the remote side's: the agent's log (timestamped), a login
// shell's chatter, AgentScript's own lines.
bool IsSshError(const std::string& line) {
  static constexpr std::array<std::string_view, 16> kPrefixes = {
      "ssh: ",                         // connect/resolve errors
      "Timeout, server ",              // ServerAlive keepalives unanswered
      "Connection closed by ",         // sshd dropped it (preauth, MaxStartups)
      "Connection reset by ",          //
      "Connection to ",                // "... closed by remote host."
      "client_loop: ",                 // "send disconnect: Broken pipe"
      "kex_exchange_identification: ",  // not an ssh server, or it hung up
      "banner exchange: ",             //
      "Bad owner or permissions on ",  //
      "Load key ",                     // unreadable or encrypted identity
      "no such identity: ",            //
      "Received disconnect from ",     //
      "Disconnected from ",            //
      "Permission denied",             //
      "Unable to negotiate with ",     //
      "command-line line ",            // a bad -o option
  };
  for (auto p : kPrefixes)
    if (StartsWith(line, p)) return true;
  // "root@10.0.0.5: Permission denied (publickey)."
  return line.find(": Permission denied (") != std::string::npos;
}

}  // namespace

std::vector<std::string> SshArgv(const SshClientOptions& o, const SshHost& host, const std::string& remote_command) {
  std::vector<std::string> argv = {o.program, "-F", "none"};  // no ~/.ssh/config: no ProxyJump, Host aliases, ...
  if (!o.identity.empty()) {
    argv.insert(argv.end(), {"-i", SshFileOption(o.identity, false), "-o", "IdentitiesOnly=yes"});
  }
  argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + SshFileOption(o.known_hosts, true),
                           "-o", "GlobalKnownHostsFile=/dev/null",
                           "-o", "StrictHostKeyChecking=accept-new",
                           "-o", "BatchMode=yes",
                           "-o", "ConnectTimeout=5",
                           "-o", "ServerAliveInterval=2",
                           "-o", "ServerAliveCountMax=3",
                           "-p", std::to_string(host.port),
                           host.Target(), remote_command});
  return argv;
}

std::string SshNodeId(const SshHost& host) {
  std::string id = host.host + (host.port == 22 ? "" : "-" + std::to_string(host.port));
  for (char& c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) c = '-';
  return id;
}

std::string SshAllocation(const SshHost& host) { return "ssh " + host.ToString(); }

std::string RemoteBinaryPath(const std::string& sha256) { return "$HOME/.lattice/bin/lattice-" + Short(sha256); }

std::string CopyScript(const std::string& sha256, uint64_t size) {
  const std::string n = std::to_string(size);
  std::ostringstream s;
  s << "set -e\n"
    << "umask 077\n"  // ~/.lattice is private, as on the server's machine; the binary gets 755 below
    << "d=\"$HOME/.lattice/bin\"\n"
    << "mkdir -p \"$d\"\n"
    << "t=\"$d/.lattice-" << Short(sha256) << ".$$\"\n"
    << "trap 'rm -f \"$t\"' EXIT\n"
    << "cat > \"$t\"\n"
    << "n=$(wc -c < \"$t\")\n"
    << "if [ \"$n\" -ne " << n << " ]; then\n"
    << "  echo \"" << kVerdictPrefix << "the copy of the agent binary has $n of " << n << " bytes\" >&2\n"
    << "  exit 1\n"
    << "fi\n"
    << "if command -v sha256sum >/dev/null 2>&1; then\n"
    << "  case \"$(sha256sum \"$t\")\" in " << sha256 << "*) ;; *)\n"
    << "    echo \"" << kVerdictPrefix << "the copy of the agent binary has another SHA-256\" >&2\n"
    << "    exit 1 ;;\n"
    << "  esac\n"
    << "fi\n"
    << "chmod 755 \"$t\"\n"
    << "mv -f \"$t\" \"$d/lattice-" << Short(sha256) << "\"\n";
  return s.str();
}

std::string AgentScript(const AgentLaunch& a) {
  const std::string verdict = kVerdictPrefix;
  std::ostringstream s;
  s << "b=\"" << RemoteBinaryPath(a.sha256) << "\"\n"
    << "h=\"$HOME/.lattice/agents/" << a.node_id << "\"\n"
    // The name carries the hash; the content is checked too (a binary
    // changed in place, a disk error), where the host has sha256sum.
    << "if [ ! -x \"$b\" ]; then\n"
    << "  echo \"" << verdict << "the agent binary $b is missing\" >&2; exit " << kNeedsCopyExit << "\n"
    << "fi\n"
    << "if command -v sha256sum >/dev/null 2>&1; then\n"
    << "  case \"$(sha256sum \"$b\")\" in " << a.sha256 << "*) ;; *)\n"
    << "    echo \"" << verdict << "the agent binary $b differs\" >&2; exit " << kNeedsCopyExit << " ;;\n"
    << "  esac\n"
    << "fi\n"
    // The agent's home holds its spool (logs, metrics): private. Only the
    // directories: the agent itself and what it runs keep the login's umask.
    << "(umask 077; mkdir -p \"$h\") || { echo \"" << verdict << "cannot create $h\" >&2; exit 1; }\n"
    << "if [ -r \"$h/agent.pid\" ]; then\n"
    << "  o=$(cat \"$h/agent.pid\")\n"
    << "  case \"$(ps -o args= -p \"$o\" 2>/dev/null) \" in *\" agent \"*\" --node-id " << a.node_id << " \"*)\n"
    << "    echo \"lattice-ssh note: stopping pid $o, this node's agent from an earlier connection\" >&2\n"
    << "    kill \"$o\" 2>/dev/null\n"
    << "    i=0\n"
    << "    while kill -0 \"$o\" 2>/dev/null && [ \"$i\" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done\n"
    << "    kill -9 \"$o\" 2>/dev/null ;;\n"
    << "  esac\n"
    << "fi\n"
    << "\"$b\" agent --server " << ShellQuote(a.server_url) << " --token-stdin --exit-on-stdin-close"
    << " --cluster " << ShellQuote(a.cluster) << " --allocation " << ShellQuote(a.allocation)
    << " --node-id " << a.node_id << " --agent-home \"$h\"\n"
    << "s=$?\n"
    << "if [ \"$s\" -gt 128 ]; then\n"
    << "  echo \"" << verdict << "the agent was killed by signal $((s - 128))\" >&2\n"
    << "else\n"
    << "  echo \"" << verdict << "the agent exited with code $s\" >&2\n"
    << "fi\n"
    << "exit \"$s\"\n";
  return s.str();
}

std::string ShCommand(const std::string& script) { return "sh -c " + ShellQuote(script); }

bool NeedsCopy(const std::string& output, int exit_code) {
  if (exit_code != kNeedsCopyExit) return false;
  for (const auto& line : Lines(output))
    if (StartsWith(line, std::string(kVerdictPrefix) + "the agent binary ")) return true;
  return false;
}

std::string SshExitReason(const std::string& output, int exit_code) {
  const auto lines = Lines(output);
  // A changed host key: ssh's banner around it is long; this line says it.
  for (const auto& line : lines)
    if (line == "Host key verification failed.") return line;
  const std::string verdict = kVerdictPrefix;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (StartsWith(*it, verdict)) return it->substr(verdict.size());
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    if (IsSshError(*it)) return *it;
  if (exit_code == 255) return "ssh failed (exit code 255) without saying why";
  if (exit_code > 128) return "ssh was killed by signal " + std::to_string(exit_code - 128);
  return "ssh exited with code " + std::to_string(exit_code);
}

int64_t SshBackoff::Next(int64_t ran_ms) {
  if (ran_ms >= kResetAfterMs) next_ms_ = kFirstMs;
  const int64_t delay = next_ms_;
  next_ms_ = std::min(next_ms_ * 2, kMaxMs);
  return delay;
}

}  // namespace lattice
