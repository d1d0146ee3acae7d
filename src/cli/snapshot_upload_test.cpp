#include "cli/snapshot_upload.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

#include "common/fs.h"
#include "common/test_util.h"
#include "net/net_test_util.h"
#include "server/api_util.h"
#include "server/blob_api.h"
#include "server/blob_store.h"

namespace lattice::cli {
namespace {

using lattice::testing::RandomBytes;

using lattice::testing::TempDir;

// The server's blob routes over a real socket, counting what arrives.
class BlobServer {
 public:
  explicit BlobServer(const std::filesystem::path& dir)
      : store_(dir),
        api_(store_),
        server_([this](net::HttpRequest req, std::shared_ptr<net::Exchange> ex) {
          if (req.method == "PUT") ++puts;
          if (req.path == "/api/v1/blobs/batch") ++batches;
          auto p = SplitPath(req.path.substr(std::string("/api/v1/").size()));
          api_.Handle(p, req, *ex);
        }) {
    EXPECT_TRUE(store_.Init().ok());
  }
  std::string url() const { return server_.url(); }
  BlobStore& store() { return store_; }

  std::atomic<int> puts{0};
  std::atomic<int> batches{0};

 private:
  BlobStore store_;
  BlobApi api_;
  net::testing::ServerThread server_;
};

class SnapshotUploadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::MakeDirs(dir_ / "code").ok());
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "code" / ("part" + std::to_string(i) + ".bin"),
                                      RandomBytes(300'000, i))
                      .ok());
    }
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "code" / "train.py", "print('hi')\n").ok());
  }

  snapshot::Snapshot Snap() {
    auto snap = snapshot::CreateSnapshot(dir_ / "code", {});
    EXPECT_TRUE(snap.ok()) << snap.error().message;
    return std::move(snap).value();
  }

  UploadOptions Quiet() {
    UploadOptions o;
    o.out = nullptr;
    o.now_ms = [] { return int64_t{0}; };
    return o;
  }

  TempDir dir_;
  BlobServer server_{dir_ / "blobs"};
  ApiClient client_{Connection{server_.url(), "", false}};
};

TEST_F(SnapshotUploadTest, FirstUploadSendsEverythingThenNothing) {
  const snapshot::Snapshot snap = Snap();
  ASSERT_GT(snap.chunks.size(), 5u);
  auto first = UploadSnapshot(client_, snap, Quiet());
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->chunks, snap.chunks.size());
  EXPECT_EQ(first->new_chunks, snap.chunks.size());
  EXPECT_TRUE(first->manifest_uploaded);
  EXPECT_EQ(first->uploaded_bytes, first->snapshot_bytes);
  EXPECT_EQ(server_.batches.load(), 1) << "a few MiB of chunks go up in one request";
  EXPECT_EQ(server_.puts.load(), 1) << "the manifest";
  EXPECT_TRUE(server_.store().Has(snap.sha256));
  for (const auto& c : snap.chunks) EXPECT_TRUE(server_.store().Has(c.sha256));

  auto again = UploadSnapshot(client_, snap, Quiet());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->new_chunks, 0u);
  EXPECT_FALSE(again->manifest_uploaded);
  EXPECT_EQ(again->uploaded_bytes, 0u);
  EXPECT_EQ(server_.batches.load() + server_.puts.load(), 2) << "nothing sent the second time";
  EXPECT_EQ(UploadSummary(*again, Quiet()), "");
}

TEST_F(SnapshotUploadTest, AfterAnEditOnlyTheEditedChunksAndTheManifestGoUp) {
  const snapshot::Snapshot before = Snap();
  ASSERT_TRUE(UploadSnapshot(client_, before, Quiet()).ok());
  std::string part = RandomBytes(300'000, 2);
  part[150'000] ^= 1;
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "code" / "part2.bin", part).ok());
  const snapshot::Snapshot after = Snap();
  auto r = UploadSnapshot(client_, after, Quiet());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GE(r->new_chunks, 1u);
  EXPECT_LE(r->new_chunks, 2u);
  EXPECT_TRUE(r->manifest_uploaded);
  EXPECT_LT(r->uploaded_bytes, r->snapshot_bytes / 2);
  EXPECT_EQ(UploadSummary(*r, Quiet()),
            "lattice: code " + HumanBytes(r->code_bytes) + " in " + std::to_string(r->chunks) +
                " chunks; uploaded " + HumanBytes(r->uploaded_bytes) + " (" + std::to_string(r->new_chunks) +
                (r->new_chunks == 1 ? " new chunk)\n" : " new chunks)\n"));
}

TEST_F(SnapshotUploadTest, LargeUploadsGoUpInSeveralBatches) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "code" / ("big" + std::to_string(i) + ".bin"),
                                    RandomBytes(7 << 20, 10 + i))
                    .ok());
  }
  const snapshot::Snapshot snap = Snap();
  auto r = UploadSnapshot(client_, snap, Quiet());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->new_chunks, snap.chunks.size());
  EXPECT_GE(server_.batches.load(), 3);
  for (const auto& c : snap.chunks) EXPECT_TRUE(server_.store().Has(c.sha256));
}

TEST_F(SnapshotUploadTest, ServerErrorsArePassedOnWithContext) {
  snapshot::Snapshot snap = Snap();
  snap.chunks[0].data += "tampered";  // no longer hashes to its name
  auto r = UploadSnapshot(client_, snap, Quiet());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("uploading " + std::to_string(snap.chunks.size()) + " code chunks"),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("not to its name " + snap.chunks[0].sha256), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(server_.store().Has(snap.sha256)) << "the manifest goes last";
}

TEST_F(SnapshotUploadTest, SlowUploadShowsProgressAndASummary) {
  const snapshot::Snapshot snap = Snap();
  std::FILE* out = std::tmpfile();
  ASSERT_NE(out, nullptr);
  UploadOptions o;
  o.out = out;
  int64_t fake = 0;
  o.now_ms = [&] { return fake += 600; };  // every look at the clock: 0.6 s later
  auto r = UploadSnapshot(client_, snap, o);
  ASSERT_TRUE(r.ok());
  std::rewind(out);
  std::string text;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, out)) text.append(buf, n);
  std::fclose(out);
  EXPECT_NE(text.find("lattice: uploading code: "), std::string::npos) << text;
  EXPECT_NE(text.find("%), "), std::string::npos) << text;
  EXPECT_NE(text.find("lattice: code "), std::string::npos) << text;
  EXPECT_NE(text.find(" s\n"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << "not a tty: whole lines";
}

TEST(UploadProgress, SilentForTheFirstSecondThenAtMostOneLinePerSecond) {
  UploadOptions o;
  UploadProgress p(100 << 20, 1000, o);
  EXPECT_EQ(p.Update(1500, 1 << 20), "");
  EXPECT_EQ(p.Update(1999, 2 << 20), "");
  EXPECT_EQ(p.Update(2000, 10 << 20), "lattice: uploading code: 10 MiB of 100 MiB (10%), 10 MiB/s\n");
  EXPECT_EQ(p.Update(2500, 20 << 20), "");
  EXPECT_EQ(p.Update(3000, 50 << 20), "lattice: uploading code: 50 MiB of 100 MiB (50%), 25 MiB/s\n");
  EXPECT_EQ(p.Finish(), "");
}

TEST(UploadProgress, OnATerminalRewritesOneLine) {
  UploadOptions o;
  o.tty = true;
  UploadProgress p(4 << 20, 0, o);
  EXPECT_EQ(p.Finish(), "") << "nothing shown, nothing to end";
  EXPECT_EQ(p.Update(1000, 1 << 20), "\rlattice: uploading code: 1 MiB of 4 MiB (25%), 1 MiB/s\x1b[K");
  EXPECT_EQ(p.Update(1050, 2 << 20), "");
  EXPECT_EQ(p.Update(1100, 2 << 20).substr(0, 1), "\r");
  EXPECT_EQ(p.Finish(), "\n");
}

TEST(UploadSummary, OnlyWhenSomethingWentUpOrItWasSlow) {
  UploadOptions o;
  UploadResult r;
  r.code_bytes = 200 << 20;
  r.chunks = 812;
  EXPECT_EQ(UploadSummary(r, o), "");
  r.elapsed_ms = 1500;
  EXPECT_EQ(UploadSummary(r, o), "lattice: code 200 MiB in 812 chunks; nothing to upload in 1.5 s\n");
  r.elapsed_ms = 200;
  r.new_chunks = 2;
  r.uploaded_bytes = 131'200;
  EXPECT_EQ(UploadSummary(r, o), "lattice: code 200 MiB in 812 chunks; uploaded 128 KiB (2 new chunks)\n");
  r.new_chunks = 0;
  r.manifest_uploaded = true;
  r.uploaded_bytes = 300;
  EXPECT_EQ(UploadSummary(r, o), "lattice: code 200 MiB in 812 chunks; uploaded 300 B (0 new chunks)\n");
}

}  // namespace
}  // namespace lattice::cli
