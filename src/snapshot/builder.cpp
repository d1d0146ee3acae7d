// SnapshotBuilder: tar stream in, chunks and manifest out.
#include <algorithm>
#include <unordered_set>

#include "snapshot/chunk_codec.h"
#include "snapshot/chunker.h"
#include "snapshot/sha256.h"
#include "snapshot/snapshot.h"

namespace lattice::snapshot {

struct SnapshotBuilder::State {
  ChunkCompressor compressor;
  std::string pending;  // stream bytes not cut yet
  Manifest manifest;
  std::vector<Chunk> chunks;
  std::unordered_set<std::string> stored;  // names in `chunks`
  uint64_t stream_bytes = 0;

  Status Emit(std::string_view raw) {
    LATTICE_ASSIGN_OR_RETURN(std::string data, compressor.Compress(raw));
    ManifestChunk entry{Sha256Hex(data), data.size(), raw.size()};
    if (stored.insert(entry.sha256).second) chunks.push_back(Chunk{entry.sha256, std::move(data)});
    manifest.chunks.push_back(std::move(entry));
    stream_bytes += raw.size();
    return OkStatus();
  }

  // Cuts every chunk whose end is final: while a whole window is buffered
  // (or, at the end, while anything is).
  Status Cut(bool final) {
    size_t at = 0;
    while (pending.size() - at >= (final ? 1 : kMaxChunkBytes)) {
      const std::string_view rest = std::string_view(pending).substr(at);
      const size_t len = FirstChunkLength(rest);
      LATTICE_RETURN_IF_ERROR(Emit(rest.substr(0, len)));
      at += len;
    }
    pending.erase(0, at);
    return OkStatus();
  }
};

SnapshotBuilder::SnapshotBuilder() : state_(std::make_unique<State>()) {}
SnapshotBuilder::~SnapshotBuilder() = default;

Status SnapshotBuilder::Append(std::string_view bytes) {
  state_->pending.append(bytes);
  // Cutting only once two windows are buffered moves each byte at most
  // once when the cut prefix is erased.
  if (state_->pending.size() < 2 * kMaxChunkBytes) return OkStatus();
  return state_->Cut(/*final=*/false);
}

Result<Snapshot> SnapshotBuilder::Finish(uint64_t total_bytes, size_t file_count) {
  LATTICE_RETURN_IF_ERROR(state_->Cut(/*final=*/true));
  Snapshot snap;
  state_->manifest.total_bytes = total_bytes;
  state_->manifest.file_count = file_count;
  snap.manifest = FormatManifest(state_->manifest);
  snap.sha256 = Sha256Hex(snap.manifest);
  snap.chunks = std::move(state_->chunks);
  snap.total_bytes = total_bytes;
  snap.file_count = file_count;
  snap.chunk_count = state_->manifest.chunks.size();
  snap.stream_bytes = state_->stream_bytes;
  state_ = std::make_unique<State>();
  return snap;
}

}  // namespace lattice::snapshot
