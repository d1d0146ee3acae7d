#include "agent/snapshot_fetch.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>

#include "common/fs.h"
#include "common/test_util.h"
#include "net/net_test_util.h"
#include "snapshot/sha256.h"

namespace lattice::agent {
namespace {

using lattice::testing::RandomBytes;

using lattice::testing::TempDir;

// Serves GET /api/v1/blobs/<sha256> from a map, counting requests.
class FakeBlobServer {
 public:
  FakeBlobServer()
      : server_([this](net::HttpRequest req, std::shared_ptr<net::Exchange> ex) {
          const std::string prefix = "/api/v1/blobs/";
          net::HttpResponse r;
          std::lock_guard lock(mu_);
          ++gets_;
          auto it = blobs_.find(req.path.substr(prefix.size()));
          if (req.method != "GET" || req.path.rfind(prefix, 0) != 0 || it == blobs_.end()) {
            r.status = 404;
            r.body = "{}";
          } else {
            r.status = 200;
            r.content_type = "application/octet-stream";
            r.body = it->second;
          }
          ex->Respond(std::move(r));
        }) {}

  void Put(const std::string& sha, std::string data) {
    std::lock_guard lock(mu_);
    blobs_[sha] = std::move(data);
  }
  void Add(const snapshot::Snapshot& snap) {
    for (const auto& c : snap.chunks) Put(c.sha256, c.data);
    Put(snap.sha256, snap.manifest);
  }
  int gets() {
    std::lock_guard lock(mu_);
    return gets_;
  }
  net::Url url() const { return *net::ParseUrl(server_.url()); }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> blobs_;
  int gets_ = 0;
  net::testing::ServerThread server_;
};

class SnapshotFetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) Write("data/part" + std::to_string(i) + ".bin", RandomBytes(400'000, i));
    Write("train.py", "print('hi')\n");
  }
  void Write(const std::string& rel, const std::string& data) {
    ASSERT_TRUE(fs::MakeDirs((dir_ / "code" / rel).parent_path()).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "code" / rel, data).ok());
  }
  snapshot::Snapshot Snap() {
    auto snap = snapshot::CreateSnapshot(dir_ / "code", {});
    EXPECT_TRUE(snap.ok()) << snap.error().message;
    return std::move(snap).value();
  }
  Result<FetchStats> Fetch(const std::string& sha, const std::string& dest) {
    return FetchSnapshot(client_, "/api/v1", dir_ / "cache", sha, dir_ / dest);
  }

  TempDir dir_;
  FakeBlobServer server_;
  net::HttpClient client_{server_.url()};
};

TEST_F(SnapshotFetchTest, FetchesOnceThenFromTheCache) {
  const snapshot::Snapshot snap = Snap();
  server_.Add(snap);
  auto first = Fetch(snap.sha256, "ws1");
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->chunks, snap.chunks.size());
  EXPECT_EQ(first->fetched_chunks, snap.chunks.size());
  EXPECT_EQ(*fs::ReadFile(dir_ / "ws1/data/part1.bin"), RandomBytes(400'000, 1));
  EXPECT_EQ(*fs::ReadFile(dir_ / "ws1/train.py"), "print('hi')\n");

  const int gets = server_.gets();
  auto second = Fetch(snap.sha256, "ws2");
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->fetched_chunks, 0u);
  EXPECT_EQ(second->fetched_bytes, 0u);
  EXPECT_EQ(server_.gets(), gets) << "manifest and chunks came from the cache";
  EXPECT_EQ(*fs::ReadFile(dir_ / "ws2/data/part2.bin"), RandomBytes(400'000, 2));
}

TEST_F(SnapshotFetchTest, AnEditedTreeFetchesOnlyTheNewChunks) {
  const snapshot::Snapshot before = Snap();
  server_.Add(before);
  ASSERT_TRUE(Fetch(before.sha256, "ws1").ok());
  std::string part = RandomBytes(400'000, 0);
  part[200'000] ^= 0x10;
  Write("data/part0.bin", part);
  const snapshot::Snapshot after = Snap();
  server_.Add(after);
  auto r = Fetch(after.sha256, "ws2");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GE(r->fetched_chunks, 1u);
  EXPECT_LE(r->fetched_chunks, 2u);
  EXPECT_EQ(*fs::ReadFile(dir_ / "ws2/data/part0.bin"), part);
}

TEST_F(SnapshotFetchTest, ACorruptCachedChunkIsFetchedAgain) {
  const snapshot::Snapshot snap = Snap();
  server_.Add(snap);
  ASSERT_TRUE(Fetch(snap.sha256, "ws1").ok());
  const auto victim = dir_ / "cache" / snap.chunks[1].sha256;
  std::string bytes = *fs::ReadFile(victim);
  bytes[bytes.size() / 2] ^= 1;  // same size: only the hash tells
  ASSERT_TRUE(fs::WriteFileAtomic(victim, bytes).ok());
  auto r = Fetch(snap.sha256, "ws2");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->fetched_chunks, 1u);
  EXPECT_EQ(*fs::ReadFile(dir_ / "ws2/data/part0.bin"), RandomBytes(400'000, 0));
  EXPECT_EQ(snapshot::Sha256Hex(*fs::ReadFile(victim)), snap.chunks[1].sha256);
}

TEST_F(SnapshotFetchTest, WrongBytesFromTheServerAreRefusedAndNotCached) {
  const snapshot::Snapshot snap = Snap();
  server_.Add(snap);
  std::string flipped = snap.chunks[0].data;
  flipped[flipped.size() / 2] ^= 1;
  for (const auto& [served, why] : {std::pair{flipped, "hashes to"},
                                    std::pair{snap.chunks[0].data + "x", "more than the"}}) {
    server_.Put(snap.chunks[0].sha256, served);
    auto r = Fetch(snap.sha256, "ws");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "cache" / snap.chunks[0].sha256));
  }
}

TEST_F(SnapshotFetchTest, MissingBlobsAndBadIdsAreErrors) {
  const snapshot::Snapshot snap = Snap();
  auto none = Fetch(snap.sha256, "ws");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(none.error().message.find("HTTP 404"), std::string::npos) << none.error().message;

  auto bad = Fetch("../../etc/passwd", "ws");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);

  const std::string junk = "not a manifest\n";
  server_.Put(snapshot::Sha256Hex(junk), junk);
  auto not_manifest = Fetch(snapshot::Sha256Hex(junk), "ws");
  ASSERT_FALSE(not_manifest.ok());
  EXPECT_EQ(not_manifest.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(not_manifest.error().message.find("not a snapshot manifest"), std::string::npos);
}

}  // namespace
}  // namespace lattice::agent
