// The manifest of a chunked snapshot (format v2): the list of chunks whose
// decompressed bytes, concatenated, are the snapshot's tar stream. It is
// stored as a blob like the chunks, and its SHA-256 is the snapshot's id.
//
// Text, one item per line, every line ending in '\n':
//
//   lattice-snapshot-v2
//   files <regular files plus symlinks>
//   bytes <sum of regular file sizes>
//   chunks <N>
//   <sha256> <compressed size> <raw size>      (N lines, in stream order)
//
// <sha256> is 64 lowercase hex digits, the SHA-256 of the chunk's stored
// (zstd-compressed) bytes, which is also its blob name; sizes are decimal
// without sign or leading zeros. A chunk may be listed more than once.
// Everything is canonical: FormatManifest(ParseManifest(t)) == t for every
// accepted t, so one tree has exactly one manifest and one id.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "snapshot/chunker.h"

namespace lattice::snapshot {

inline constexpr std::string_view kManifestMagic = "lattice-snapshot-v2";

struct ManifestChunk {
  std::string sha256;            // of the compressed bytes: the blob name
  uint64_t compressed_size = 0;  // bytes of the blob
  uint64_t raw_size = 0;         // bytes it decompresses to

  bool operator==(const ManifestChunk&) const = default;
};

struct Manifest {
  uint64_t file_count = 0;   // regular files plus symlinks
  uint64_t total_bytes = 0;  // sum of regular file sizes
  std::vector<ManifestChunk> chunks;

  // Sum of raw sizes: the length of the tar stream.
  uint64_t StreamBytes() const;
  // Each chunk name once, in first-use order.
  std::vector<std::string> DistinctChunks() const;

  bool operator==(const Manifest&) const = default;
};

struct ManifestLimits {
  // Enough for 256 MiB of files plus the tar headers of 100,000 files and
  // as many directories, cut at the 16 KiB minimum chunk size.
  size_t max_chunks = 100'000;
};

// Largest raw size a manifest may declare for one chunk (the chunker's
// maximum) and largest compressed size (zstd's bound for it, rounded up).
inline constexpr uint64_t kMaxManifestChunkRaw = kMaxChunkBytes;
inline constexpr uint64_t kMaxManifestChunkCompressed = kMaxManifestChunkRaw + (4 << 10);

std::string FormatManifest(const Manifest& manifest);

// Parses manifest text. Anything else (an old single-archive snapshot,
// garbage, a truncated or over-long manifest) is kInvalidArgument with a
// message that says what and where ("snapshot manifest line 5: ...");
// over max_chunks is kResourceExhausted.
Result<Manifest> ParseManifest(std::string_view text, const ManifestLimits& limits = {});

}  // namespace lattice::snapshot
