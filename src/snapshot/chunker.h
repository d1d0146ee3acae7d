// Content-defined chunking (FastCDC: a gear rolling hash with normalised
// chunking), used to cut a snapshot's tar stream into chunks that survive
// edits: a cut point depends only on the bytes just before it, so an edit
// moves or replaces the chunks around it and leaves the others as they were.
// That is what lets `lattice run` upload only the chunks the server lacks.
//
// Sizes (fixed: they are part of the snapshot format, since other sizes cut
// other chunks and would defeat deduplication against stored snapshots):
//   - no chunk is shorter than kMinChunkBytes (16 KiB) except the last;
//   - none is longer than kMaxChunkBytes (256 KiB);
//   - on random data the mean is about 64 KiB (kAvgChunkBytes). Between min
//     and avg a cut needs 18 hash bits to be zero, after avg 14 (FastCDC's
//     "normalisation level 2"), which keeps most chunks near the mean.
//
// The gear table comes from splitmix64 with a fixed seed; see chunker.cpp.
// Pure functions: no I/O, no state, thread-safe.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace lattice::snapshot {

inline constexpr size_t kMinChunkBytes = 16 << 10;
inline constexpr size_t kAvgChunkBytes = 64 << 10;
inline constexpr size_t kMaxChunkBytes = 256 << 10;

// Length of the first chunk of `data`: data.size() when that is at most
// kMinChunkBytes, else a content-defined cut in (kMinChunkBytes,
// kMaxChunkBytes], or min(data.size(), kMaxChunkBytes) when none is found.
// Depends only on data's first kMaxChunkBytes bytes, so a stream can be cut
// as it arrives: once kMaxChunkBytes bytes are buffered, the first cut is
// final.
size_t FirstChunkLength(std::string_view data);

// End offsets of the chunks of `data`, in order (the last is data.size());
// empty for empty data. The same as applying FirstChunkLength repeatedly.
std::vector<size_t> ChunkBoundaries(std::string_view data);

}  // namespace lattice::snapshot
