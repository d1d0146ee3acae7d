// Runs a command to completion and captures what it printed: for the short
// commands the cluster backends call (sbatch, squeue, scancel, ssh). Not for
// user code (agent/launcher does that, with supervision and grace periods).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <signal.h>
#include <vector>

#include "common/result.h"

namespace lattice {

struct CommandSpec {
  std::vector<std::string> argv;  // argv[0] is looked up on PATH
  std::string stdin_data;         // written to its stdin, which is then closed
  std::map<std::string, std::string> env;  // added to (or replacing in) this process's environment
  int64_t timeout_ms = 30'000;    // then SIGKILL (its process group)
  size_t max_output_bytes = 4 << 20;  // per stream; the rest is dropped
};

struct CommandResult {
  int exit_code = -1;  // 128 + signal when killed by one
  bool timed_out = false;
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0 && !timed_out; }
  // For error messages: stderr (or stdout) trimmed, else "exit code N".
  std::string Why() const;
};

// While alive, SIGPIPE is blocked on this thread, and one that arrived is
// discarded when it ends: a write to a pipe whose reader is gone fails with
// EPIPE instead of killing the process (which may not ignore SIGPIPE).
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock();
  ~ScopedSigpipeBlock();
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_, old_;
};

// An error only when the command could not be started at all.
Result<CommandResult> RunCommand(const CommandSpec& spec);

// "sbatch --parsable --array=0-3 ...": the argv as a shell would show it,
// single-quoting words that need it.
std::string ShellJoin(const std::vector<std::string>& argv);
std::string ShellQuote(const std::string& word);

}  // namespace lattice
