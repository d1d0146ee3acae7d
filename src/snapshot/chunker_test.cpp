#include "snapshot/chunker.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot/sha256.h"

namespace lattice::snapshot {
namespace {

using lattice::testing::RandomBytes;

std::vector<std::string> ChunkHashes(std::string_view data) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end : ChunkBoundaries(data)) {
    out.push_back(Sha256Hex(data.substr(start, end - start)));
    start = end;
  }
  return out;
}

// Chunks of `after` whose content is not a chunk of `before`.
size_t NewChunks(std::string_view before, std::string_view after) {
  const auto old = ChunkHashes(before);
  const std::set<std::string> known(old.begin(), old.end());
  size_t fresh = 0;
  for (const std::string& h : ChunkHashes(after)) fresh += known.count(h) == 0;
  return fresh;
}

TEST(Chunker, EmptyInputHasNoChunks) {
  EXPECT_TRUE(ChunkBoundaries("").empty());
  EXPECT_EQ(FirstChunkLength(""), 0u);
}

TEST(Chunker, InputUpToMinimumIsOneChunk) {
  EXPECT_EQ(ChunkBoundaries("x"), std::vector<size_t>{1});
  const std::string min(kMinChunkBytes, 'a');
  EXPECT_EQ(ChunkBoundaries(min), std::vector<size_t>{kMinChunkBytes});
}

TEST(Chunker, SameInputGivesSameBoundaries) {
  const std::string data = RandomBytes(4 << 20, 1);
  EXPECT_EQ(ChunkBoundaries(data), ChunkBoundaries(std::string(data)));
}

TEST(Chunker, BoundariesArePinned) {
  // The cut points are part of the snapshot format: a change here makes
  // every stored chunk useless for deduplication. Update only on purpose.
  const std::string data = RandomBytes(1 << 20, 42);
  const std::vector<size_t> ends = ChunkBoundaries(data);
  std::string joined;
  for (size_t e : ends) joined += std::to_string(e) + ",";
  EXPECT_EQ(joined,
            "87965,154914,255337,282907,371909,440058,525302,617216,696942,775719,862300,938020,"
            "1024271,1048576,");
}

TEST(Chunker, EveryChunkIsWithinMinAndMaxButTheLast) {
  for (const std::string& data : {RandomBytes(8 << 20, 2), std::string(3 << 20, '\0'),
                                  std::string(1 << 20, 'z') + RandomBytes(1 << 20, 3)}) {
    const std::vector<size_t> ends = ChunkBoundaries(data);
    ASSERT_FALSE(ends.empty());
    EXPECT_EQ(ends.back(), data.size());
    size_t start = 0;
    for (size_t i = 0; i < ends.size(); ++i) {
      const size_t len = ends[i] - start;
      EXPECT_LE(len, kMaxChunkBytes);
      if (i + 1 < ends.size()) {
        EXPECT_GE(len, kMinChunkBytes);
      }
      EXPECT_GT(len, 0u);
      start = ends[i];
    }
  }
  // Data without cut points (one repeated byte) is cut at the maximum.
  const std::vector<size_t> zeros = ChunkBoundaries(std::string(kMaxChunkBytes * 2 + 5, '\0'));
  EXPECT_EQ(zeros, (std::vector<size_t>{kMaxChunkBytes, 2 * kMaxChunkBytes, 2 * kMaxChunkBytes + 5}));
}

TEST(Chunker, MeanChunkSizeOnRandomDataIsNearTheAverage) {
  const std::string data = RandomBytes(32 << 20, 4);
  const double mean = static_cast<double>(data.size()) / static_cast<double>(ChunkBoundaries(data).size());
  EXPECT_GT(mean, 0.8 * kAvgChunkBytes);
  EXPECT_LT(mean, 1.4 * kAvgChunkBytes);
}

TEST(Chunker, FirstChunkDependsOnlyOnItsWindow) {
  const std::string data = RandomBytes(2 << 20, 5);
  const size_t first = FirstChunkLength(data);
  EXPECT_EQ(FirstChunkLength(std::string_view(data).substr(0, kMaxChunkBytes)), first);
  std::string changed = data;
  changed[kMaxChunkBytes + 10] ^= 1;
  EXPECT_EQ(FirstChunkLength(changed), first);
}

TEST(Chunker, EditInTheMiddleChangesOnlyNearbyChunks) {
  const std::string data = RandomBytes(16 << 20, 6);
  const size_t total = ChunkHashes(data).size();
  ASSERT_GT(total, 150u);

  std::string edited = data;
  for (size_t i = 0; i < 8; ++i) edited[data.size() / 2 + i] ^= 0x55;  // overwrite
  EXPECT_LE(NewChunks(data, edited), 2u);

  std::string inserted = data;
  inserted.insert(data.size() / 3, "a few inserted bytes");
  EXPECT_LE(NewChunks(data, inserted), 3u);

  std::string removed = data;
  removed.erase(data.size() / 4, 777);
  EXPECT_LE(NewChunks(data, removed), 3u);

  // Appending leaves every earlier chunk but the last.
  EXPECT_LE(NewChunks(data, data + "tail\n"), 2u);
}

}  // namespace
}  // namespace lattice::snapshot
