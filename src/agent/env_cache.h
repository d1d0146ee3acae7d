// Python environments on a node, built once per content and shared by every
// attempt that needs the same one (issue: environments). An environment is
// named by EnvKey: a hash of what decides its contents. The cache builds it
// in place under an exclusive file lock, so concurrent attempts (threads or
// agent processes on one home) build a new key once, and marks it ready
// only when the build succeeded: a build that failed or was killed half-way
// is never used, and the next caller starts it over.
//
// Layout under the root:
//   <key>/                 the environment (a venv), complete once it holds
//   <key>/.lattice-ready   the ready marker, written last
//   <key>/.lattice-used    its modification time is the last use
//   <key>.lock             flock: exclusive while building or pruning that
//                          key, shared while an attempt uses it
// The shared lock is what "in use" means, across processes: `lattice env
// prune` skips an environment any attempt on the node holds.
// Thread-safe: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace lattice::agent {

struct EnvSpec {
  std::string python_version;  // e.g. "3.11.7" of the interpreter the venv is made from
  std::string platform;        // e.g. "linux-x86_64"
  std::string requirements;    // the requirement text as the run gave it
  bool system_site_packages = false;
  std::string setup;           // a command run once per environment, after the packages
};

// The requirement text as it decides an environment: one requirement per
// line, surrounding blanks and comments ("#" to the end of a line) dropped,
// line continuations joined, blank lines dropped, sorted. So reordering or
// commenting does not make a new environment; a changed pin does.
std::string CanonicalRequirements(const std::string& text);

// Lowercase hex SHA-256 of everything in the spec that decides the contents.
std::string EnvKey(const EnvSpec& spec);

struct EnvEntry {
  std::string key;
  std::filesystem::path path;
  uint64_t size_bytes = 0;     // regular files, not following links
  int64_t last_used_ms = 0;    // wall clock
};

// Fills the directory (which exists and is empty) with the environment; its
// error, with the build's output, is what the caller reports.
using EnvBuilder = std::function<Status(const std::filesystem::path& dir)>;

// A ready environment, held in use (a shared lock on its key) until this
// is destroyed.
class EnvLease final {
 public:
  EnvLease(std::filesystem::path path, bool built, int lock_fd) : path_(std::move(path)), built_(built), fd_(lock_fd) {}
  EnvLease(EnvLease&& o) noexcept : path_(std::move(o.path_)), built_(o.built_), fd_(o.fd_) { o.fd_ = -1; }
  EnvLease& operator=(EnvLease&&) = delete;
  EnvLease(const EnvLease&) = delete;
  ~EnvLease();
  const std::filesystem::path& path() const { return path_; }
  bool built() const { return built_; }  // by this Acquire, rather than found ready

 private:
  std::filesystem::path path_;
  bool built_;
  int fd_;
};

class EnvCache final {
 public:
  explicit EnvCache(std::filesystem::path root) : root_(std::move(root)) {}
  Status Init();

  // The ready environment for key, building it with `build` first if no one
  // has. Blocks while another caller builds the same key.
  Result<EnvLease> Acquire(const std::string& key, const EnvBuilder& build);
  bool IsReady(const std::string& key) const;

  // Ready environments, sorted by key.
  std::vector<EnvEntry> List() const;
  // Removes environments last used before `unused_since_ms` (wall clock;
  // INT64_MAX: all) and what failed or killed builds left, skipping any key
  // being built or held by a lease right now. Returns what it removed.
  Result<std::vector<EnvEntry>> Prune(int64_t unused_since_ms);

 private:
  std::filesystem::path root_;
};

}  // namespace lattice::agent
