#include "server/blob_store.h"

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"
#include "server/blob_api.h"
#include "snapshot/sha256.h"

namespace lattice {
namespace {

using testing::TempDir;

std::string Content(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 7 + i / 251);
  return s;
}

TEST(BlobStore, ChunkedUploadPublishesTheBlobOnlyWhenAllBytesHashToItsName) {
  TempDir dir;
  BlobStore blobs(dir.path());
  ASSERT_TRUE(blobs.Init().ok());
  const std::string data = Content(3000);
  const std::string sha = snapshot::Sha256Hex(data);
  auto first = blobs.AppendChunk(sha, 0, data.size(), std::string_view(data).substr(0, 1000));
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->received, 1000u);
  EXPECT_FALSE(first->complete);
  EXPECT_FALSE(blobs.Has(sha));
  EXPECT_EQ(blobs.Received(sha), 1000u);
  auto last = blobs.AppendChunk(sha, 1000, data.size(), std::string_view(data).substr(1000));
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_TRUE(last->complete);
  EXPECT_EQ(*blobs.Get(sha), data);
}

TEST(BlobStore, AnUploadResumesAfterARestartFromWhatWasAcknowledged) {
  TempDir dir;
  const std::string data = Content(5000);
  const std::string sha = snapshot::Sha256Hex(data);
  {
    BlobStore blobs(dir.path());
    ASSERT_TRUE(blobs.Init().ok());
    ASSERT_TRUE(blobs.AppendChunk(sha, 0, data.size(), std::string_view(data).substr(0, 2000)).ok());
  }
  BlobStore restarted(dir.path());  // a new server process: the running hash is rebuilt from disk
  ASSERT_TRUE(restarted.Init().ok());
  EXPECT_EQ(restarted.Received(sha), 2000u);
  auto rest = restarted.AppendChunk(sha, 2000, data.size(), std::string_view(data).substr(2000));
  ASSERT_TRUE(rest.ok()) << rest.error().message;
  EXPECT_TRUE(rest->complete);
  EXPECT_EQ(*restarted.Get(sha), data);
}

TEST(BlobStore, AChunkAtTheWrongOffsetIsRefusedAndChangesNothing) {
  TempDir dir;
  BlobStore blobs(dir.path());
  ASSERT_TRUE(blobs.Init().ok());
  const std::string data = Content(100);
  const std::string sha = snapshot::Sha256Hex(data);
  ASSERT_TRUE(blobs.AppendChunk(sha, 0, 100, std::string_view(data).substr(0, 40)).ok());
  auto gap = blobs.AppendChunk(sha, 60, 100, std::string_view(data).substr(60));
  ASSERT_FALSE(gap.ok());
  EXPECT_EQ(gap.error().code, ErrorCode::kFailedPrecondition);
  auto again = blobs.AppendChunk(sha, 0, 100, std::string_view(data).substr(0, 40));  // a replay
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(blobs.Received(sha), 40u);
  auto past = blobs.AppendChunk(sha, 40, 50, std::string_view(data).substr(40));
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(blobs.Received(sha), 40u);
}

TEST(BlobStore, ContentThatDoesNotHashToTheNameIsDiscarded) {
  TempDir dir;
  BlobStore blobs(dir.path());
  ASSERT_TRUE(blobs.Init().ok());
  const std::string sha = snapshot::Sha256Hex("the real content");
  auto r = blobs.AppendChunk(sha, 0, 5, "other");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(blobs.Has(sha));
  EXPECT_EQ(blobs.Received(sha), 0u);  // a fresh start is possible
}

TEST(BlobStore, AStoredBlobAnswersChunksAsComplete) {
  TempDir dir;
  BlobStore blobs(dir.path());
  ASSERT_TRUE(blobs.Init().ok());
  const std::string data = "shared checkpoint";
  const std::string sha = snapshot::Sha256Hex(data);
  ASSERT_TRUE(blobs.Put(sha, data).ok());
  auto r = blobs.AppendChunk(sha, 0, data.size(), data);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(*blobs.Size(sha), data.size());
}

TEST(ParseByteRange, OpenAndClosedRangesAndTheirLimits) {
  EXPECT_FALSE(ParseByteRange("", 100)->has_value());
  EXPECT_EQ(**ParseByteRange("bytes=10-", 100), std::make_pair(uint64_t{10}, uint64_t{99}));
  EXPECT_EQ(**ParseByteRange("bytes=10-19", 100), std::make_pair(uint64_t{10}, uint64_t{19}));
  EXPECT_EQ(**ParseByteRange("bytes=0-1000", 100), std::make_pair(uint64_t{0}, uint64_t{99}));
  for (const char* bad : {"bytes=100-", "bytes=5-4", "bytes=-5", "bytes=1-2,4-5", "items=1-", "bytes=x-", "bytes=1-y"})
    EXPECT_FALSE(ParseByteRange(bad, 100).ok()) << bad;
  EXPECT_FALSE(ParseByteRange("bytes=0-", 0).ok());
}

}  // namespace
}  // namespace lattice
