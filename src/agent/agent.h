// The agent: registers this node with the server, long-polls it for work,
// starts each attempt's ranks through the launcher (after restoring its
// newest checkpoint; one process, one per GPU, or torchrun, and for a
// multi-node gang once node rank 0's port is known), captures their output
// (prefixed with the rank when there are several) and its metrics into an on-disk
// spool and ships them to the server, uploads its artifacts and checkpoints,
// and reports exits. The spool makes it restart-safe: after either side
// restarts, the agent resends from the offset the server has, so no log
// byte or metric point is lost or duplicated.
//
// Threads: the sync thread (register, long poll, start/stop attempts), one
// thread per attempt (fetches the code, restores the checkpoint, gets the
// Python environment, launches, then pipes -> spool and reaps the
// supervisors), the shipper thread (spools -> server, exit reports), the
// collector thread (metrics files, event files, system metrics, complete
// files: agent/collector) and the uploader thread (blobs, then their
// records). Shared attempt state is guarded by Agent::mu_.
#pragma once

#include <filesystem>
#include <string>

#include "agent/inventory.h"
#include "common/result.h"

namespace lattice::agent {

struct AgentOptions {
  std::string server_url;
  std::string token;
  std::filesystem::path home;  // spool, caches, node id
  InventoryOptions inventory;
  int64_t sync_wait_ms = 2000;
  std::string node_id;  // empty: read from (or create in) home
  std::string address;  // where other nodes reach this one; empty: the address used toward the server
  std::string default_python;  // empty: venv beside the binary, else python3
  std::string uv;  // uv for building environments; empty: beside the Python, else PATH, else pip
  int64_t default_grace_ms = 30'000;  // for runs that did not set --grace
  int64_t system_metrics_interval_ms = 5000;  // CPU, memory and GPU samples; 0: off
  // An exited attempt's exit is reported once its files are uploaded, or
  // after this long.
  int64_t final_upload_timeout_ms = 120'000;
  // Clusters (model/cluster.h): the cluster this node belongs to (empty:
  // local) and what started it (e.g. "slurm job 4711"), told at registration.
  std::string cluster;
  std::string allocation;
  // Stop after running nothing for this long (0: never). A Slurm
  // allocation's agent uses it so the allocation ends when the work does,
  // even when the server is gone.
  int64_t idle_exit_ms = 0;
  // Stop when stdin reaches its end: an agent started over ssh dies with
  // the connection that supervises it instead of living on unseen.
  bool exit_on_stdin_close = false;
};

// Runs until SIGTERM/SIGINT; returns the process exit code.
int RunAgent(const AgentOptions& options);

}  // namespace lattice::agent
