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
//   <key>.lock             held (flock) while building or pruning that key
// Thread-safe: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
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

class EnvCache final {
 public:
  explicit EnvCache(std::filesystem::path root) : root_(std::move(root)) {}
  Status Init();

  // The ready environment for key, building it with `build` first if no one
  // has. Blocks while another caller builds the same key.
  Result<std::filesystem::path> Acquire(const std::string& key, const EnvBuilder& build);
  bool IsReady(const std::string& key) const;

  // Ready environments, sorted by key.
  std::vector<EnvEntry> List() const;
  // Removes ready environments whose key is not in in_use, and what failed
  // or killed builds left, skipping any key being built right now. Returns
  // what it removed.
  Result<std::vector<EnvEntry>> Prune(const std::set<std::string>& in_use);

 private:
  std::filesystem::path root_;
};

}  // namespace lattice::agent
