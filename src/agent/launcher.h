// Starts one rank: a small supervisor process (forked, not exec'd) that puts
// the user's command in its own process group, forwards a cancel as SIGTERM
// to that group and escalates to SIGKILL after the grace period, kills what
// is left of the group when the command exits, and — because it asks the
// kernel for a signal when the agent dies — does the same if the agent is
// killed, so no user process outlives its agent. The supervisor exits with
// the command's exit code (128+N for a signal N).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace lattice::agent {

struct LaunchSpec {
  std::string executable;  // absolute path, resolved by the caller
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "K=V"
  std::string cwd;
  int64_t grace_ms = 30'000;
  int64_t abort_grace_ms = 1'000;  // RequestAbort's grace (capped by grace_ms)
};

struct Launched {
  pid_t supervisor = -1;
  int output_fd = -1;  // read end: the command's stdout and stderr, merged
};

// Forks the supervisor. Safe to call from a multi-threaded process: after
// fork only async-signal-safe calls run.
Result<Launched> Launch(const LaunchSpec& spec);

// Asks the supervisor to stop the command (SIGTERM, then SIGKILL after grace).
void RequestStop(pid_t supervisor);
// The same with the short abort grace: for ranks whose gang broke, which
// would otherwise wait in a collective until killed. Shortens a stop already
// under way.
void RequestAbort(pid_t supervisor);

// Resolves a program name like "python3" against PATH; absolute and
// relative paths with '/' are returned as they are if executable.
Result<std::string> ResolveExecutable(const std::string& name, const std::string& path_env);

}  // namespace lattice::agent
