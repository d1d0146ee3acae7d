// ExtractSnapshot against snapshots CreateSnapshot would never write:
// hostile names, symlink tricks, lying manifests, corrupt, missing and
// truncated chunks.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include "snapshot/chunk_codec.h"
#include "snapshot/chunker.h"
#include "snapshot/sha256.h"
#include "snapshot/snapshot.h"
#include "snapshot/test_util.h"

namespace lattice::snapshot {
namespace {

namespace fs = std::filesystem;
using testing::CraftSnapshot;
using testing::CraftTar;
using testing::ListTree;
using testing::Packed;
using testing::PackTar;
using testing::RawEntry;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

Status Extract(const Packed& p, const fs::path& dest, const ExtractOptions& options = {}) {
  return ExtractSnapshot(p.manifest, p.Source(), dest, options);
}

Result<SnapshotInfo> Inspect(const Packed& p, const ExtractOptions& options = {}) {
  return InspectSnapshot(p.manifest, p.Source(), options);
}

void ExpectRefused(const Packed& p, const fs::path& dest, const char* why) {
  const Status st = Extract(p, dest);
  ASSERT_FALSE(st.ok()) << why;
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << st.error().message;
  const auto info = Inspect(p);
  ASSERT_FALSE(info.ok()) << why;
  EXPECT_EQ(info.error().code, ErrorCode::kInvalidArgument) << info.error().message;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

TEST(ExtractSnapshot, DotDotEntryIsRefusedAndWritesNothingOutside) {
  TempDir tmp;
  ExpectRefused(CraftSnapshot({RawEntry::File("ok.txt", "ok"), RawEntry::File("../evil", "pwned")}),
                tmp / "ws", "../evil");
  ExpectRefused(CraftSnapshot({RawEntry::File("a/../../evil2", "pwned")}), tmp / "ws2", "a/../..");
  EXPECT_FALSE(fs::exists(tmp / "evil"));
  EXPECT_FALSE(fs::exists(tmp / "evil2"));
}

TEST(ExtractSnapshot, AbsolutePathEntryIsRefused) {
  TempDir tmp;
  const std::string target = (tmp / "abs_evil").string();
  ExpectRefused(CraftSnapshot({RawEntry::File(target, "pwned")}), tmp / "ws", "absolute");
  EXPECT_FALSE(fs::exists(target));
}

TEST(ExtractSnapshot, WritingThroughSymlinkIsRefused) {
  TempDir tmp;
  fs::create_directories(tmp / "outside");
  ExpectRefused(CraftSnapshot({RawEntry::Symlink("link", (tmp / "outside").string()),
                               RawEntry::File("link/pwned", "x")}),
                tmp / "ws", "file through absolute symlink");
  ExpectRefused(CraftSnapshot({RawEntry::Symlink("up", "../outside"), RawEntry::Dir("up/pwned")}),
                tmp / "ws2", "dir through relative symlink");
  EXPECT_TRUE(fs::is_empty(tmp / "outside"));
}

TEST(ExtractSnapshot, DuplicateEntryCannotReplaceSymlinkWithFile) {
  TempDir tmp;
  WriteFile(tmp / "victim", "original");
  ExpectRefused(CraftSnapshot({RawEntry::Symlink("f", (tmp / "victim").string()),
                               RawEntry::File("f", "overwritten")}),
                tmp / "ws", "duplicate");
  EXPECT_EQ(ReadFile(tmp / "victim"), "original");
}

TEST(ExtractSnapshot, FileOverImplicitParentDirectoryIsRefusedByBoth) {
  TempDir tmp;
  ExpectRefused(CraftSnapshot({RawEntry::File("a/b", "x"), RawEntry::File("a", "y")}), tmp / "ws",
                "file over implicit dir");
  ExpectRefused(CraftSnapshot({RawEntry::File(std::string(300, 'n'), "x")}), tmp / "ws2",
                "component longer than NAME_MAX");
}

TEST(ExtractSnapshot, DirectoryNamedTwiceOrAfterItsChildrenIsAccepted) {
  TempDir tmp;
  const Packed p =
      CraftSnapshot({RawEntry::File("d/f", "1"), RawEntry::Dir("d"), RawEntry::Dir("d")});
  ASSERT_TRUE(Inspect(p).ok());
  const Status st = Extract(p, tmp / "ws");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(ReadFile(tmp / "ws/d/f"), "1");
}

TEST(ExtractSnapshot, HardLinksAndSpecialFilesAreRefused) {
  TempDir tmp;
  ExpectRefused(CraftSnapshot({RawEntry::File("a", "x"), RawEntry::HardLink("b", "/etc/passwd")}),
                tmp / "ws", "hardlink");
  ExpectRefused(CraftSnapshot({RawEntry::Special("fifo", AE_IFIFO)}), tmp / "ws2", "fifo");
}

TEST(ExtractSnapshot, SymlinkWithoutTargetIsRefusedByBoth) {
  // Inspect used to accept what Extract refused; found by fuzz_archive.
  TempDir tmp;
  ExpectRefused(CraftSnapshot({RawEntry::File("a", "x"), RawEntry::Symlink("empty", "")}),
                tmp / "ws", "symlink with an empty target");
}

TEST(ExtractSnapshot, SymlinkPointingOutsideIsCreatedButNotFollowed) {
  TempDir tmp;
  const Status st = Extract(CraftSnapshot({RawEntry::Symlink("etc", "/etc"), RawEntry::Dir("dir"),
                                           RawEntry::File("dir/f", "1")}),
                            tmp / "ws");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(fs::read_symlink(tmp / "ws/etc"), "/etc");
  EXPECT_EQ(ReadFile(tmp / "ws/dir/f"), "1");
}

TEST(ExtractSnapshot, CreatesMissingParentsAndDestination) {
  TempDir tmp;
  const Status st = Extract(CraftSnapshot({RawEntry::File("./a/b/c.txt", "c")}), tmp / "x/y/ws");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(ReadFile(tmp / "x/y/ws/a/b/c.txt"), "c");
}

TEST(ExtractSnapshot, ManyChunksRoundTrip) {
  TempDir tmp;
  const std::string big = RandomBytes(3 << 20, 1);
  const Packed p = CraftSnapshot({RawEntry::File("big.bin", big), RawEntry::File("small.txt", "s")});
  ASSERT_GT(p.manifest.chunks.size(), 10u);
  const Status st = Extract(p, tmp / "ws");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(ReadFile(tmp / "ws/big.bin"), big);
  EXPECT_EQ(ReadFile(tmp / "ws/small.txt"), "s");
  const auto info = Inspect(p);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->file_count, 2u);
  EXPECT_EQ(info->total_bytes, big.size() + 1);
}

TEST(ExtractSnapshot, GarbageStreamIsInvalidArgumentNotCrash) {
  TempDir tmp;
  for (const std::string& junk :
       {std::string("not an archive at all"), "x" + std::string(700, '\0'), RandomBytes(100000, 2),
        std::string("\x28\xb5\x2f\xfd garbage after zstd magic", 30)}) {
    const Status st = Extract(PackTar(junk, 0, 0), tmp / "ws");
    ASSERT_FALSE(st.ok()) << junk.substr(0, 20);
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << st.error().message;
  }
  // Zero blocks are a tar with no entries: the empty tree.
  EXPECT_TRUE(Extract(PackTar(std::string(1024, '\0'), 0, 0), tmp / "empty").ok());
}

std::vector<RawEntry> SampleEntries() {
  return {RawEntry::File("train.py", std::string(3000, 'p')), RawEntry::Dir("lib"),
          RawEntry::File("lib/util.py", "def f(): pass\n"), RawEntry::Symlink("link", "lib/util.py")};
}

// Every cut and every flipped byte goes through Inspect (in memory, the
// same reader as Extract); a sample of them through Extract as well, since
// each extraction costs a directory.
constexpr size_t kExtractEvery = 41;

TEST(ExtractSnapshot, EveryTruncationOfTheStreamIsRejected) {
  const std::string full = CraftTar(SampleEntries());
  const Packed whole = CraftSnapshot(SampleEntries());
  for (size_t len = 1; len < full.size(); ++len) {
    // The manifest still declares the whole tree's totals, as a real one would.
    const Packed cut = PackTar(full.substr(0, len), whole.manifest.total_bytes,
                               whole.manifest.file_count);
    const auto info = Inspect(cut);
    // Cut inside the two zero blocks that end a tar, every entry is whole:
    // the tree may be accepted.
    if (len >= full.size() - 1024 && info.ok()) continue;
    ASSERT_FALSE(info.ok()) << len;
    EXPECT_EQ(info.error().code, ErrorCode::kInvalidArgument) << len << ": " << info.error().message;
    if (len % kExtractEvery == 0) {
      TempDir tmp;
      const Status st = Extract(cut, tmp / "ws");
      ASSERT_FALSE(st.ok()) << len;
      EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument) << len;
    }
  }
}

TEST(ExtractSnapshot, CorruptedStreamBytesNeverCrash) {
  const std::string full = CraftTar(SampleEntries());
  const Packed whole = CraftSnapshot(SampleEntries());
  for (size_t i = 0; i < full.size(); ++i) {
    std::string bad = full;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    const Packed p = PackTar(bad, whole.manifest.total_bytes, whole.manifest.file_count);
    const auto info = Inspect(p);
    if (!info.ok()) {
      EXPECT_TRUE(info.error().code == ErrorCode::kInvalidArgument ||
                  info.error().code == ErrorCode::kResourceExhausted)
          << i << ": " << info.error().message;
    }
    if (i % kExtractEvery == 0) {
      TempDir tmp;
      const Status st = Extract(p, tmp / "ws");
      EXPECT_EQ(st.ok(), info.ok()) << i;
    }
  }
}

TEST(ExtractSnapshot, CorruptStoredChunkIsRefusedBeforeWriting) {
  TempDir tmp;
  Packed p = CraftSnapshot(SampleEntries());
  ASSERT_EQ(p.manifest.chunks.size(), 1u);
  std::string& stored = p.blobs.begin()->second;
  stored[stored.size() / 2] ^= 1;
  const Status st = Extract(p, tmp / "ws");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(st.error().message.find("is corrupt"), std::string::npos) << st.error().message;
  EXPECT_TRUE(ListTree(tmp / "ws").empty());
}

TEST(ExtractSnapshot, MissingChunkKeepsTheSourcesError) {
  TempDir tmp;
  Packed p = CraftSnapshot(SampleEntries());
  p.blobs.clear();
  const Status st = Extract(p, tmp / "ws");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound) << st.error().message;
  EXPECT_NE(st.error().message.find(p.manifest.chunks[0].sha256), std::string::npos);
}

TEST(ExtractSnapshot, ChunkThatIsNotAZstdFrameOfTheDeclaredSizeIsRefused) {
  TempDir tmp;
  const Packed good = CraftSnapshot(SampleEntries());
  // A chunk whose hash and size match the manifest but whose bytes are no
  // zstd frame, or a frame of another size.
  ChunkCompressor compressor;
  const std::string raw = CraftTar(SampleEntries());
  for (const std::string& stored :
       {std::string("plain bytes, hashed honestly"), *compressor.Compress(raw + "x"),
        *compressor.Compress(raw) + *compressor.Compress("trailing frame")}) {
    Packed p = good;
    p.blobs.clear();
    p.manifest.chunks = {ManifestChunk{Sha256Hex(stored), stored.size(), raw.size()}};
    p.blobs[p.manifest.chunks[0].sha256] = stored;
    const Status st = Extract(p, tmp / "ws");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(st.error().message.find("is not one zstd frame"), std::string::npos)
        << st.error().message;
  }
}

TEST(ExtractSnapshot, ManifestWhoseTotalsDisagreeWithTheTreeIsRefused) {
  TempDir tmp;
  Packed p = CraftSnapshot(SampleEntries());
  ASSERT_TRUE(Inspect(p).ok());
  p.manifest.file_count += 1;
  ExpectRefused(p, tmp / "ws", "file count");
  p.manifest.file_count -= 1;
  p.manifest.total_bytes -= 1;
  ExpectRefused(p, tmp / "ws2", "total bytes");
}

TEST(ExtractSnapshot, TrailingChunksAreVerifiedToo) {
  TempDir tmp;
  Packed p = CraftSnapshot(SampleEntries());
  const std::string junk = "never decompressed";
  p.manifest.chunks.push_back(ManifestChunk{Sha256Hex(junk), junk.size(), 100});
  p.blobs[Sha256Hex(junk)] = junk;
  ExpectRefused(p, tmp / "ws", "trailing chunk that is no zstd frame");
}

TEST(ExtractSnapshot, DeclaredExpansionBeyondLimitIsRefusedBeforeReading) {
  TempDir tmp;
  const Packed p = CraftSnapshot({RawEntry::File("zeros", std::string(1 << 20, '\0'))});
  ExtractOptions options;
  options.max_total_bytes = 1000;
  int reads = 0;
  const ChunkSource counting = [&](const ManifestChunk& c) {
    ++reads;
    return p.Source()(c);
  };
  const Status st = ExtractSnapshot(p.manifest, counting, tmp / "ws", options);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(reads, 0);
  EXPECT_FALSE(fs::exists(tmp / "ws/zeros"));
}

TEST(ExtractSnapshot, StreamLongerThanTheLimitsAllowIsRefusedBeforeReading) {
  TempDir tmp;
  Packed p = CraftSnapshot(SampleEntries());
  // Trailing chunks that would decompress to far more than any tree within
  // the limits needs: each would have to be read and checked.
  for (int i = 0; i < 20; ++i) {
    p.manifest.chunks.push_back(ManifestChunk{std::string(64, 'f'), 100, kMaxChunkBytes});
  }
  ExtractOptions options;
  options.max_total_bytes = 1 << 20;
  options.max_files = 10;
  int reads = 0;
  const ChunkSource counting = [&](const ManifestChunk& c) {
    ++reads;
    return p.Source()(c);
  };
  const auto info = InspectSnapshot(p.manifest, counting, options);
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(info.error().message.find("the most its limits allow"), std::string::npos);
  EXPECT_EQ(reads, 0);
}

TEST(ExtractSnapshot, UndeclaredExpansionBeyondLimitIsResourceExhausted) {
  TempDir tmp;
  const std::string tar = CraftTar({RawEntry::File("zeros", std::string(1 << 20, '\0'))});
  ExtractOptions options;
  options.max_total_bytes = 1000;
  const Status st = Extract(PackTar(tar, 10, 1), tmp / "ws", options);  // the manifest lies
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kResourceExhausted);
  EXPECT_FALSE(fs::exists(tmp / "ws/zeros"));
}

TEST(ExtractSnapshot, DirectoryFloodIsResourceExhausted) {
  TempDir tmp;
  ExtractOptions options;
  options.max_files = 2;
  const Status st = Extract(
      CraftSnapshot({RawEntry::Dir("a"), RawEntry::Dir("b"), RawEntry::Dir("c")}), tmp / "ws",
      options);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(st.error().message.find("more than 2 directories"), std::string::npos);
}

}  // namespace
}  // namespace lattice::snapshot
