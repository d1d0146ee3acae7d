#include "snapshot/chunk_codec.h"

#include <zstd.h>

#include <utility>

#include "snapshot/sha256.h"

namespace lattice::snapshot {

static_assert(ZSTD_COMPRESSBOUND(kMaxManifestChunkRaw) <= kMaxManifestChunkCompressed,
              "a manifest must be able to declare any chunk the compressor writes");

ChunkCompressor::ChunkCompressor() : cctx_(ZSTD_createCCtx()) {}
ChunkCompressor::~ChunkCompressor() { ZSTD_freeCCtx(cctx_); }

Result<std::string> ChunkCompressor::Compress(std::string_view raw) {
  if (cctx_ == nullptr) return Error(ErrorCode::kInternal, "cannot create a zstd context");
  ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
  // Set explicitly rather than relying on defaults: these decide the bytes.
  for (const auto& [param, value] : {std::pair{ZSTD_c_compressionLevel, kChunkZstdLevel},
                                    std::pair{ZSTD_c_checksumFlag, 0},
                                    std::pair{ZSTD_c_contentSizeFlag, 1},
                                    std::pair{ZSTD_c_dictIDFlag, 0}}) {
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, param, value))) {
      return Error(ErrorCode::kInternal, "cannot set a zstd parameter");
    }
  }
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compress2(cctx_, out.data(), out.size(), raw.data(), raw.size());
  if (ZSTD_isError(n)) {
    return Error(ErrorCode::kInternal, std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out.resize(n);
  return out;
}

ChunkDecoder::ChunkDecoder() : dctx_(ZSTD_createDCtx()) {}
ChunkDecoder::~ChunkDecoder() { ZSTD_freeDCtx(dctx_); }

Result<std::string_view> ChunkDecoder::Decode(std::string_view stored, const ManifestChunk& chunk) {
  if (dctx_ == nullptr) return Error(ErrorCode::kInternal, "cannot create a zstd context");
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "snapshot chunk " + chunk.sha256 + " " + why);
  };
  if (stored.size() != chunk.compressed_size) {
    return bad("is " + std::to_string(stored.size()) + " bytes, the manifest says " +
               std::to_string(chunk.compressed_size));
  }
  if (const std::string actual = Sha256Hex(stored); actual != chunk.sha256) {
    return bad("is corrupt: its content hashes to " + actual);
  }
  // One frame, which announces its size: the buffer is sized from the
  // manifest (bounded by the parser), never from the frame.
  if (ZSTD_getFrameContentSize(stored.data(), stored.size()) != chunk.raw_size ||
      ZSTD_findFrameCompressedSize(stored.data(), stored.size()) != stored.size()) {
    return bad("is not one zstd frame of " + std::to_string(chunk.raw_size) + " bytes");
  }
  buf_.resize(static_cast<size_t>(chunk.raw_size));
  const size_t n = ZSTD_decompressDCtx(dctx_, buf_.data(), buf_.size(), stored.data(), stored.size());
  if (ZSTD_isError(n) || n != chunk.raw_size) {
    return bad(std::string("does not decompress: ") + (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short"));
  }
  return std::string_view(buf_);
}

}  // namespace lattice::snapshot
