// Compression and verified decompression of single snapshot chunks (zstd,
// one frame per chunk). Each instance keeps its zstd context and buffer
// between calls; one instance per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "snapshot/manifest.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace lattice::snapshot {

// zstd level of every chunk. Part of the format in practice: another level
// gives other bytes, hence other chunk names, and nothing deduplicates
// against chunks stored before.
inline constexpr int kChunkZstdLevel = 3;

class ChunkCompressor final {
 public:
  ChunkCompressor();
  ~ChunkCompressor();
  ChunkCompressor(const ChunkCompressor&) = delete;
  ChunkCompressor& operator=(const ChunkCompressor&) = delete;

  // One zstd frame with the content size and without checksum or
  // dictionary id: the same raw bytes give the same frame.
  Result<std::string> Compress(std::string_view raw);

 private:
  ZSTD_CCtx_s* cctx_;
};

class ChunkDecoder final {
 public:
  ChunkDecoder();
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  // Checks `stored` against the manifest's entry (size, SHA-256, a single
  // frame that declares and yields exactly raw_size bytes) and returns the
  // raw bytes, valid until the next call. Any mismatch is kInvalidArgument
  // naming the chunk.
  Result<std::string_view> Decode(std::string_view stored, const ManifestChunk& chunk);

 private:
  ZSTD_DCtx_s* dctx_;
  std::string buf_;
};

}  // namespace lattice::snapshot
