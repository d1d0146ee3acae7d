// Finds the files of an attempt's artifacts or checkpoint directory that are
// ready to upload: regular files, complete (no process of the attempt holds
// them open for writing, and unchanged across two scans settle_ms apart),
// each version once. The walk never follows a symbolic link and never leaves
// the root: every directory is opened with openat(O_NOFOLLOW | O_DIRECTORY)
// relative to its parent's descriptor, every entry examined with
// fstatat(AT_SYMLINK_NOFOLLOW). Anything else (links, FIFOs, sockets,
// devices, names the server would refuse, trees over the limits) is left
// out with a warning, given once per path.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace lattice::agent {

// Whether a process of the attempt has the file (device, inode) open for writing.
using OpenForWrite = std::function<bool(dev_t, ino_t)>;

// The (device, inode) of every file that one of pids holds open with
// O_WRONLY or O_RDWR, from <proc_root>/<pid>/fdinfo/<fd> ("flags:", octal)
// and a stat of <proc_root>/<pid>/fd/<fd>. Processes and descriptors that
// vanish while it looks are skipped. (A file written through a shared
// writable mapping after its descriptor was closed is not seen.)
std::set<std::pair<dev_t, ino_t>> FilesOpenForWriting(const std::vector<pid_t>& pids,
                                                      const std::filesystem::path& proc_root = "/proc");

// An OpenForWrite answering from a set made by FilesOpenForWriting.
OpenForWrite OpenForWriteIn(std::set<std::pair<dev_t, ino_t>> files);
// An OpenForWrite that is always false (the attempt has exited).
OpenForWrite NothingOpenForWrite();

// The checkpoint a file belongs to: the first component of its relative
// path ("epoch-3/model.pt" -> "epoch-3"; "last.ckpt" -> "last.ckpt").
std::string TopLevelEntry(const std::string& relative_path);

struct WatchOptions {
  // A version must be seen unchanged for this long, over two scans at least,
  // before it is ready. ScanFinal uses 0.
  int64_t settle_ms = 2000;
  int max_depth = 32;             // directories below the root
  size_t max_files = 100'000;     // regular files examined per scan
  // Prefixes warnings ("artifacts" gives "artifacts/link -> ...: ...").
  std::string label;
};

struct ReadyFile {
  std::string relative_path;  // '/'-separated, no "..", valid per ValidateRelativePath
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;  // permission bits (st_mode & 07777)
  dev_t device = 0;
  ino_t inode = 0;
};

struct ScanResult {
  std::vector<ReadyFile> ready;        // sorted by relative_path
  std::vector<std::string> warnings;   // new ones only: each is given once
};

class DirectoryWatch {
 public:
  DirectoryWatch(std::filesystem::path root, WatchOptions options);

  // Walks the tree; mono_ms is a monotonic time in milliseconds. A missing
  // root gives an empty result (the attempt may not have made it yet).
  ScanResult Scan(const OpenForWrite& busy, int64_t mono_ms);
  // The last scan after the attempt exited: no settle time, so every
  // regular file not open for writing and not returned before is ready.
  ScanResult ScanFinal(const OpenForWrite& busy, int64_t mono_ms);

  // Opens a file that a scan returned, read-only, beneath the root without
  // following links, and checks that it is still that version (device,
  // inode, size, mtime): kFailedPrecondition if it changed, so the caller
  // reads exactly what was found ready. The caller closes the descriptor.
  Result<int> Open(const ReadyFile& file) const;

  // Makes a returned version eligible again (its upload failed).
  void Forget(const std::string& relative_path);

  const std::filesystem::path& root() const { return root_; }

 private:
  struct Version {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    dev_t device = 0;
    ino_t inode = 0;
    bool operator==(const Version&) const = default;
  };
  struct Seen {
    Version version;
    int64_t first_seen_ms = 0;  // when this version was first seen
  };
  struct Walk;

  ScanResult DoScan(const OpenForWrite& busy, int64_t mono_ms, int64_t settle_ms);
  void WalkDirectory(Walk& walk, int dirfd, const std::string& prefix, int depth);
  void Warn(Walk& walk, const std::string& message);
  std::string Shown(const std::string& relative_path) const;
  std::string RootText() const;

  std::filesystem::path root_;
  WatchOptions options_;
  std::map<std::string, Seen> seen_;          // by relative path
  std::map<std::string, Version> returned_;   // by relative path
  std::set<std::string> warned_;
};

}  // namespace lattice::agent
