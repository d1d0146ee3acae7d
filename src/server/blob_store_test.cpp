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

namespace lattice {
namespace {

TEST(BlobStore, PutManyStoresEveryNewBlobAndSkipsKnownOnes) {
  TempDir dir;
  BlobStore blobs(dir.path());
  ASSERT_TRUE(blobs.Init().ok());
  std::vector<std::string> data;
  for (int i = 0; i < 40; ++i) data.push_back(Content(1000 + i));
  ASSERT_TRUE(blobs.Put(snapshot::Sha256Hex(data[0]), data[0]).ok());
  std::vector<std::pair<std::string, std::string_view>> batch;
  for (const std::string& d : data) batch.emplace_back(snapshot::Sha256Hex(d), d);
  batch.push_back(batch[5]);  // named twice
  auto stored = blobs.PutMany(batch);
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(*stored, 39u);
  for (const std::string& d : data) EXPECT_EQ(*blobs.Get(snapshot::Sha256Hex(d)), d);
  // No temporary files are left beside the blobs.
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "sha256")) {
    ++files;
    EXPECT_TRUE(BlobStore::ValidName(e.path().filename().string())) << e.path();
  }
  EXPECT_EQ(files, 40u);
  EXPECT_EQ(*blobs.PutMany(batch), 0u);
}

TEST(BlobStore, PutManyWithOneWrongBlobStoresNothing) {
  TempDir dir;
  BlobStore blobs(dir.path());
  ASSERT_TRUE(blobs.Init().ok());
  const std::string good = Content(500), bad = Content(600);
  auto st = blobs.PutMany({{snapshot::Sha256Hex(good), good}, {snapshot::Sha256Hex(good), bad}});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().field, "body");
  EXPECT_FALSE(blobs.Has(snapshot::Sha256Hex(good)));
  EXPECT_FALSE(blobs.PutMany({{"not-a-name", good}}).ok());
}

TEST(BlobBatch, ParsesRecordsAndRefusesBadFraming) {
  const std::string a = "first blob", b = "second\nblob with a newline";
  const std::string sa = snapshot::Sha256Hex(a), sb = snapshot::Sha256Hex(b);
  const std::string body = sa + " " + std::to_string(a.size()) + "\n" + a + sb + " " +
                           std::to_string(b.size()) + "\n" + b;
  auto parsed = ParseBlobBatch(body);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].first, sa);
  EXPECT_EQ((*parsed)[0].second, a);
  EXPECT_EQ((*parsed)[1].second, b);
  EXPECT_TRUE(ParseBlobBatch(sa + " 0\n").ok()) << "an empty blob";

  for (const std::string& junk :
       {std::string(""), std::string("{}"), sa + " 10\nshort", sa + " 01\nx", sa + " -1\nx", sa + "  1\nx",
        sa + " 1x\nx", sa.substr(1) + " 1\nx", std::string(64, 'A') + " 1\nx", sa + " 1",
        sa + " 99999999999999999999999\nx", body + "trailing"}) {
    auto r = ParseBlobBatch(junk);
    ASSERT_FALSE(r.ok()) << junk;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << junk;
    EXPECT_EQ(r.error().field, "body");
  }
  std::string many;
  for (size_t i = 0; i <= kMaxBatchBlobs; ++i) many += sa + " 0\n";
  auto r = ParseBlobBatch(many);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace lattice
