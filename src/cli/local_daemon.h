// The local server and agent the CLI starts on first use, in the background
// under LATTICE_HOME (DESIGN.md: "with neither a server configured nor one
// running, the first command starts a local server and agent").
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace lattice::cli {

// The URL of a healthy local server; starts server and agent when none runs
// and start is true (serialised by a lock file, so racing commands start one).
Result<std::string> EnsureLocalServer(const std::filesystem::path& home, bool start);

struct StopReport {
  bool server_was_running = false;
  bool agent_was_running = false;
};
// SIGTERM to the agent (its ranks get their grace period), then the server;
// SIGKILL after the wait runs out.
Result<StopReport> StopLocal(const std::filesystem::path& home, int64_t wait_ms);

}  // namespace lattice::cli
