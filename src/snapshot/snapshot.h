// Code snapshots: `lattice run dir/train.py` packs dir into a deterministic,
// content-addressed tar.zst (CreateSnapshot, on the CLI); the server stores
// it once by sha256; the agent unpacks it into a fresh workspace per attempt
// (ExtractSnapshot). Edits to dir after submission cannot change the run.
//
// What goes in: regular files, directories and symlinks (never followed),
// minus `.git` at any level and whatever .gitignore / .latticeignore files
// at any level exclude (both use gitignore syntax; the .latticeignore of a
// directory takes precedence over its .gitignore). Other file types
// (sockets, FIFOs, devices) are skipped.
//
// Determinism: entries are sorted by name, mtime is 0, owner is 0:0 with no
// names, and modes are normalised as git does (0755 if the owner may execute
// the file, else 0644; directories 0755), so the same content gives the same
// sha256 on any machine and umask.
//
// All functions are thread-safe and touch no process-wide state (no chdir).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/units.h"  // HumanBytes, used in messages

namespace lattice::snapshot {

struct SnapshotOptions {
  // Sum of regular file sizes (uncompressed).
  uint64_t max_total_bytes = 256ull << 20;
  // Regular files plus symlinks; directories have a separate cap of the
  // same size.
  size_t max_files = 100000;
};

struct Snapshot {
  std::string sha256;   // hex SHA-256 of `archive`
  std::string archive;  // pax tar, zstd-compressed
  uint64_t total_bytes = 0;  // sum of regular file sizes
  size_t file_count = 0;     // regular files plus symlinks
};

// Snapshots `dir`. Sizes are summed from metadata before any content is
// read, so an oversized tree fails fast with kResourceExhausted and a message
// naming the largest files and directories. A file or directory that cannot
// be read fails the snapshot with an error naming it.
Result<Snapshot> CreateSnapshot(const std::filesystem::path& dir,
                                const SnapshotOptions& options);

struct ExtractOptions {
  // Bounds on what an archive may expand to; the defaults match what
  // CreateSnapshot produces with default options.
  uint64_t max_total_bytes = SnapshotOptions{}.max_total_bytes;
  size_t max_files = SnapshotOptions{}.max_files;
  // If set, the archive must hash to this (hex SHA-256) or nothing is
  // written. Truncation is caught without it, but the zstd frames carry no
  // checksum, so a corrupted download could otherwise extract as altered
  // file contents.
  std::string expected_sha256;
};

// Unpacks a snapshot into `dest` (created if missing; a symlink in dest's own
// path is resolved first). Entries with an absolute path, a ".." component,
// a type other than file/directory/symlink, or a path through a symlink are
// refused with kInvalidArgument; so is a corrupt or truncated archive. On
// error, dest may hold a partial tree: callers extract into a fresh
// directory and discard it on failure.
Status ExtractSnapshot(std::string_view archive, const std::filesystem::path& dest,
                       const ExtractOptions& options = {});

struct SnapshotInfo {
  uint64_t total_bytes = 0;
  size_t file_count = 0;
};

// Checks an archive the way ExtractSnapshot would, without writing anything:
// lets the server reject a bad upload once instead of on every attempt.
Result<SnapshotInfo> InspectSnapshot(std::string_view archive,
                                     const ExtractOptions& options = {});


}  // namespace lattice::snapshot
