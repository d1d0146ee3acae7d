// `lattice server`: opens the store under LATTICE_HOME, serves the API and
// runs the reconciler until SIGTERM/SIGINT.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace lattice {

struct ServerOptions {
  std::filesystem::path home;
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port (written to <home>/server.json)
  bool require_token = false;  // forced on for non-loopback addresses
  int64_t node_timeout_ms = 6000;
  // The built web UI (web_ui.h); empty: look beside the executable.
  std::string web_dir;
};

bool IsLoopback(const std::string& address);

// Returns the process exit code.
int RunServer(const ServerOptions& options);

}  // namespace lattice
