// Code snapshots: `lattice run dir/train.py` packs dir into a deterministic
// tar stream (CreateSnapshot, on the CLI), cut into content-defined chunks
// (chunker.h), each compressed on its own and stored as a blob named by its
// SHA-256; a manifest (manifest.h) lists the chunks, and its SHA-256 is the
// snapshot's id. The CLI uploads only the chunks the server lacks, so a
// small edit to a large tree uploads a few chunks and a new manifest. The
// agent fetches the chunks its cache lacks and unpacks them into a fresh
// workspace per attempt (ExtractSnapshot). Edits to dir after submission
// cannot change the run.
//
// What goes in: regular files, directories and symlinks (never followed),
// minus `.git` at any level and whatever .gitignore / .latticeignore files
// at any level exclude (both use gitignore syntax; the .latticeignore of a
// directory takes precedence over its .gitignore). Other file types
// (sockets, FIFOs, devices) are skipped.
//
// Determinism: entries are sorted by name, mtime is 0, owner is 0:0 with no
// names, and modes are normalised as git does (0755 if the owner may execute
// the file, else 0644; directories 0755); chunks are cut by content and
// compressed at a fixed zstd level, so the same content gives the same
// manifest and id on any machine and umask (given the same zstd version:
// another one may compress differently, which costs deduplication, not
// correctness).
//
// All functions are thread-safe and touch no process-wide state (no chdir).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/units.h"  // HumanBytes, used in messages
#include "snapshot/manifest.h"

namespace lattice::snapshot {

struct SnapshotOptions {
  // Sum of regular file sizes (uncompressed).
  uint64_t max_total_bytes = 256ull << 20;
  // Regular files plus symlinks; directories have a separate cap of the
  // same size.
  size_t max_files = 100000;
};

// One stored chunk: a zstd frame holding a piece of the tar stream.
struct Chunk {
  std::string sha256;  // hex SHA-256 of `data`: its blob name
  std::string data;    // the compressed bytes
};

struct Snapshot {
  std::string sha256;    // hex SHA-256 of `manifest`: the snapshot's id
  std::string manifest;  // the manifest text (manifest.h)
  // Every distinct chunk once, in stream order; the manifest may list one
  // several times. Their sum is about the compressed size of the tree: the
  // only copy of the contents held in memory.
  std::vector<Chunk> chunks;
  uint64_t total_bytes = 0;  // sum of regular file sizes
  size_t file_count = 0;     // regular files plus symlinks
  size_t chunk_count = 0;    // chunks in the manifest, repeats included
  uint64_t stream_bytes = 0; // length of the uncompressed tar stream
};

// Snapshots `dir`. Sizes are summed from metadata before any content is
// read, so an oversized tree fails fast with kResourceExhausted and a message
// naming the largest files and directories. A file or directory that cannot
// be read fails the snapshot with an error naming it.
Result<Snapshot> CreateSnapshot(const std::filesystem::path& dir,
                                const SnapshotOptions& options);

// Cuts a tar stream into chunks as it arrives, compresses each (zstd level
// 3, no checksum, content size recorded) and writes the manifest: how
// CreateSnapshot packs, and how tests and fuzzers pack hand-made streams.
// Holds at most about two maximum-size chunks of the stream besides the
// compressed chunks. One instance per stream; not thread-safe.
class SnapshotBuilder final {
 public:
  SnapshotBuilder();
  ~SnapshotBuilder();
  SnapshotBuilder(const SnapshotBuilder&) = delete;
  SnapshotBuilder& operator=(const SnapshotBuilder&) = delete;

  Status Append(std::string_view bytes);
  // The totals go into the manifest as they are (extraction checks them).
  Result<Snapshot> Finish(uint64_t total_bytes, size_t file_count);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

struct ExtractOptions {
  // Bounds on what a snapshot may expand to; the defaults match what
  // CreateSnapshot produces with default options.
  uint64_t max_total_bytes = SnapshotOptions{}.max_total_bytes;
  size_t max_files = SnapshotOptions{}.max_files;
};

// The stored (compressed) bytes of one chunk of the manifest, from wherever
// the caller keeps them (the server's blob store, the agent's cache). Its
// errors are passed on as they are (kNotFound for a missing chunk, say).
// Called once per chunk of the manifest, in order; the bytes are checked
// against the manifest (size, SHA-256, decompressed size) before use.
using ChunkSource = std::function<Result<std::string>(const ManifestChunk& chunk)>;

// Unpacks a snapshot into `dest` (created if missing; a symlink in dest's own
// path is resolved first), one chunk in memory at a time. Entries with an
// absolute path, a ".." component, a type other than file/directory/symlink,
// or a path through a symlink are refused with kInvalidArgument; so is a
// chunk that does not match the manifest, a corrupt or truncated stream, and
// a tree whose file count or size differs from the manifest's. Totals over
// the options' limits are kResourceExhausted, before any chunk is read when
// the manifest declares them; so is a stream (the sum of the chunks' raw
// sizes) longer than those limits allow for files and tar headers. On error, dest may hold a partial tree:
// callers extract into a fresh directory and discard it on failure.
Status ExtractSnapshot(const Manifest& manifest, const ChunkSource& source,
                       const std::filesystem::path& dest, const ExtractOptions& options = {});

struct SnapshotInfo {
  uint64_t total_bytes = 0;
  size_t file_count = 0;
};

// Checks a snapshot the way ExtractSnapshot would, reading every chunk but
// writing nothing: lets the server reject a bad upload once instead of on
// every attempt.
Result<SnapshotInfo> InspectSnapshot(const Manifest& manifest, const ChunkSource& source,
                                     const ExtractOptions& options = {});


}  // namespace lattice::snapshot
