#include "snapshot/snapshot.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clocale>
#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "snapshot/chunker.h"
#include "snapshot/sha256.h"
#include "snapshot/test_util.h"

namespace lattice::snapshot {
namespace {

using lattice::testing::RandomBytes;

namespace fs = std::filesystem;
using testing::ListTree;
using testing::Packed;
using testing::PackedFrom;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

Snapshot MustSnapshot(const fs::path& dir, const SnapshotOptions& options = {}) {
  Result<Snapshot> snap = CreateSnapshot(dir, options);
  EXPECT_TRUE(snap.ok()) << (snap.ok() ? "" : snap.error().message);
  return snap.ok() ? std::move(snap).value() : Snapshot{};
}

// Snapshots `src` and extracts it into a fresh directory; returns its tree.
std::set<std::string> RoundTripTree(const fs::path& src, const TempDir& out) {
  const Packed p = PackedFrom(MustSnapshot(src));
  const Status st = ExtractSnapshot(p.manifest, p.Source(), out / "ws");
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
  return ListTree(out / "ws");
}

TEST(Sha256Hex, MatchesKnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Snapshot, RoundTripKeepsNestedDirsExecBitOddNamesAndSymlinks) {
  TempDir src, out;
  WriteFile(src / "train.py", "print('hi')\n");
  WriteFile(src / "run.sh", "#!/bin/sh\necho ok\n", 0755);
  WriteFile(src / "pkg/sub/deep/mod.py", "x = 1\n");
  WriteFile(src / "données ünï/名前 with space.txt", "unicode\n");
  WriteFile(src / (std::string(150, 'l') + ".txt"), "long name needs a pax header\n");
  fs::create_directories(src / "empty");
  fs::create_symlink("pkg/sub", src / "link_to_dir");
  fs::create_symlink("../../etc/passwd", src / "escape");  // stored as-is, never followed
  fs::create_symlink("/nonexistent/abs", src / "dangling");

  EXPECT_EQ(RoundTripTree(src.path(), out),
            (std::set<std::string>{"train.py", "run.sh", "pkg/", "pkg/sub/", "pkg/sub/deep/",
                                   "pkg/sub/deep/mod.py", "données ünï/",
                                   "données ünï/名前 with space.txt",
                                   std::string(150, 'l') + ".txt", "empty/", "link_to_dir",
                                   "escape", "dangling"}));
  const fs::path ws = out / "ws";
  EXPECT_EQ(ReadFile(ws / "pkg/sub/deep/mod.py"), "x = 1\n");
  EXPECT_EQ(ReadFile(ws / "données ünï/名前 with space.txt"), "unicode\n");
  struct stat st;
  ASSERT_EQ(::stat((ws / "run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ASSERT_EQ(::stat((ws / "train.py").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(fs::read_symlink(ws / "escape"), "../../etc/passwd");
  EXPECT_EQ(fs::read_symlink(ws / "dangling"), "/nonexistent/abs");
  EXPECT_TRUE(fs::is_symlink(ws / "link_to_dir"));
}

TEST(Snapshot, CountsFilesAndBytes) {
  TempDir src;
  WriteFile(src / "a.py", "12345");
  WriteFile(src / "d/b.py", "123");
  fs::create_symlink("a.py", src / "l");
  const Snapshot snap = MustSnapshot(src.path());
  EXPECT_EQ(snap.file_count, 3u);
  EXPECT_EQ(snap.total_bytes, 8u);
  EXPECT_EQ(snap.sha256, Sha256Hex(snap.manifest));
  const Packed p = PackedFrom(snap);
  EXPECT_EQ(p.manifest.file_count, 3u);
  EXPECT_EQ(p.manifest.total_bytes, 8u);
  EXPECT_EQ(snap.chunk_count, p.manifest.chunks.size());
  EXPECT_EQ(snap.stream_bytes, p.manifest.StreamBytes());
  Result<SnapshotInfo> info = InspectSnapshot(p.manifest, p.Source());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->file_count, 3u);
  EXPECT_EQ(info->total_bytes, 8u);
}

TEST(Snapshot, SkipsGitDirAndHonoursNestedGitignoreAndLatticeignore) {
  TempDir src, out;
  WriteFile(src / ".git/HEAD", "ref: refs/heads/main\n");
  WriteFile(src / "sub/.git", "gitdir: ../.git/modules/sub\n");  // submodule pointer
  WriteFile(src / ".gitignore", "*.log\nbuild/\n");
  WriteFile(src / ".latticeignore", "data/\n");
  WriteFile(src / "train.py", "");
  WriteFile(src / "run.log", "");
  WriteFile(src / "build/out.o", "");
  WriteFile(src / "data/train.bin", "");
  WriteFile(src / "sub/.gitignore", "!keep.log\n/local.txt\n");
  WriteFile(src / "sub/.latticeignore", "secret.txt\n");
  WriteFile(src / "sub/keep.log", "");
  WriteFile(src / "sub/other.log", "");
  WriteFile(src / "sub/local.txt", "");
  WriteFile(src / "sub/deep/local.txt", "");
  WriteFile(src / "sub/deep/secret.txt", "");

  EXPECT_EQ(RoundTripTree(src.path(), out),
            (std::set<std::string>{".gitignore", ".latticeignore", "train.py", "sub/",
                                   "sub/.gitignore", "sub/.latticeignore", "sub/keep.log",
                                   "sub/deep/", "sub/deep/local.txt"}));
}

TEST(Snapshot, NegationReincludesButNotInsideExcludedDirectory) {
  TempDir src, out;
  WriteFile(src / ".gitignore", "*.bin\n!model.bin\ncache/\n!cache/keep.txt\n");
  WriteFile(src / "weights.bin", "");
  WriteFile(src / "model.bin", "");
  WriteFile(src / "cache/keep.txt", "");
  EXPECT_EQ(RoundTripTree(src.path(), out),
            (std::set<std::string>{".gitignore", "model.bin"}));
}

TEST(Snapshot, LatticeignoreCanReincludeWhatGitignoreExcludes) {
  TempDir src, out;
  WriteFile(src / ".gitignore", "*.csv\n");
  WriteFile(src / ".latticeignore", "!labels.csv\n");
  WriteFile(src / "labels.csv", "");
  WriteFile(src / "big.csv", "");
  EXPECT_EQ(RoundTripTree(src.path(), out),
            (std::set<std::string>{".gitignore", ".latticeignore", "labels.csv"}));
}

// Builds the same logical tree with different creation order, mtimes and
// umask-style permission bits.
void BuildTree(const fs::path& root, bool variant) {
  const mode_t file_mode = variant ? 0664 : 0600;
  const mode_t exec_mode = variant ? 0775 : 0700;
  if (variant) {
    WriteFile(root / "z.py", "z\n", file_mode);
    WriteFile(root / "a/b.py", "b\n", file_mode);
    WriteFile(root / "run.sh", "#!/bin/sh\n", exec_mode);
  } else {
    WriteFile(root / "run.sh", "#!/bin/sh\n", exec_mode);
    WriteFile(root / "a/b.py", "b\n", file_mode);
    WriteFile(root / "z.py", "z\n", file_mode);
  }
  ::chmod((root / "a").c_str(), variant ? 0775 : 0700);
  fs::create_symlink("a/b.py", root / "link");
  fs::last_write_time(root / "z.py", fs::file_time_type::clock::now() -
                                         std::chrono::hours(variant ? 1000 : 1));
}

TEST(Snapshot, SameContentGivesSameSha256WhateverOrderTimesOrUmask) {
  TempDir one, two;
  BuildTree(one.path(), false);
  BuildTree(two.path(), true);
  const Snapshot a = MustSnapshot(one.path());
  const Snapshot b = MustSnapshot(two.path());
  EXPECT_EQ(a.sha256, b.sha256);
  EXPECT_EQ(a.manifest, b.manifest);
  EXPECT_EQ(MustSnapshot(one.path()).sha256, a.sha256);

  WriteFile(two / "z.py", "changed\n");
  EXPECT_NE(MustSnapshot(two.path()).sha256, a.sha256);
  ::chmod((one / "z.py").c_str(), 0755);
  EXPECT_NE(MustSnapshot(one.path()).sha256, a.sha256) << "exec bit is content";
}

TEST(Snapshot, Sha256DoesNotDependOnLocale) {
  TempDir src;
  WriteFile(src / "données/名前.py", "x\n");
  const std::string saved = std::setlocale(LC_ALL, nullptr);
  std::setlocale(LC_ALL, "C");
  const Snapshot c = MustSnapshot(src.path());
  if (std::setlocale(LC_ALL, "C.UTF-8") == nullptr) GTEST_SKIP() << "no C.UTF-8 locale";
  const Snapshot utf8 = MustSnapshot(src.path());
  std::setlocale(LC_ALL, saved.c_str());
  EXPECT_EQ(c.sha256, utf8.sha256);
}

TEST(Snapshot, OverSizeLimitNamesLargestFilesAndDirectoriesBeforeReading) {
  TempDir src;
  WriteFile(src / "train.py", "print(1)\n");
  // Sparse files: the size check must come from metadata, not reading.
  WriteFile(src / "data/train.bin", "");
  fs::resize_file(src / "data/train.bin", 1288490189ull);  // 1.2 GiB
  WriteFile(src / "ckpt/last.pt", "");
  fs::resize_file(src / "ckpt/last.pt", 80ull << 20);
  Result<Snapshot> snap = CreateSnapshot(src.path(), SnapshotOptions{});
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.error().code, ErrorCode::kResourceExhausted);
  const std::string& msg = snap.error().message;
  EXPECT_NE(msg.find("code directory " + src.path().string() + " is 1.3 GiB"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("over the 256 MiB snapshot limit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("largest files: data/train.bin (1.2 GiB), ckpt/last.pt (80 MiB)"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find("largest directories: data/ (1.2 GiB), ckpt/ (80 MiB)"),
            std::string::npos) << msg;
  EXPECT_NE(msg.find(".latticeignore (same syntax as .gitignore)"), std::string::npos) << msg;
}

TEST(Snapshot, ExactlyAtSizeLimitIsAccepted) {
  TempDir src;
  WriteFile(src / "a", std::string(100, 'x'));
  SnapshotOptions options;
  options.max_total_bytes = 100;
  EXPECT_TRUE(CreateSnapshot(src.path(), options).ok());
  options.max_total_bytes = 99;
  EXPECT_FALSE(CreateSnapshot(src.path(), options).ok());
}

TEST(Snapshot, TooManyFilesNamesTheBusiestDirectory) {
  TempDir src;
  for (int i = 0; i < 6; ++i) WriteFile(src / ("node_modules/m" + std::to_string(i)), "");
  WriteFile(src / "train.py", "");
  SnapshotOptions options;
  options.max_files = 4;
  Result<Snapshot> snap = CreateSnapshot(src.path(), options);
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(snap.error().message.find("more than 4 files"), std::string::npos);
  EXPECT_NE(snap.error().message.find("node_modules/"), std::string::npos)
      << snap.error().message;
}

TEST(Snapshot, MissingDirectoryIsNotFound) {
  Result<Snapshot> snap = CreateSnapshot("/nonexistent/lattice/code", SnapshotOptions{});
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.error().code, ErrorCode::kNotFound);
  EXPECT_NE(snap.error().message.find("/nonexistent/lattice/code"), std::string::npos);
}

// Root can read anything, so the check runs in a child that drops to nobody.
TEST(Snapshot, UnreadableFileFailsWithErrorNamingIt) {
  TempDir src;
  WriteFile(src / "ok.py", "");
  WriteFile(src / "secret/key.pem", "k", 0000);
  ::chmod(src.path().c_str(), 0755);
  ::chmod((src / "secret").c_str(), 0755);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(2);
    Result<Snapshot> snap = CreateSnapshot(src.path(), SnapshotOptions{});
    const bool named = !snap.ok() &&
                       snap.error().message.find("secret/key.pem") != std::string::npos &&
                       snap.error().message.find("Permission denied") != std::string::npos;
    ::_exit(named ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Snapshot, EmptyDirectoryRoundTrips) {
  TempDir src, out;
  const Snapshot snap = MustSnapshot(src.path());
  EXPECT_EQ(snap.file_count, 0u);
  const Packed p = PackedFrom(snap);
  ASSERT_TRUE(ExtractSnapshot(p.manifest, p.Source(), out / "ws").ok());
  EXPECT_TRUE(ListTree(out / "ws").empty());
}

// The point of chunking: after a small edit, most chunks are already stored.
TEST(Snapshot, EditingOneFileOfALargeTreeChangesFewChunks) {
  TempDir src, out;
  for (int i = 0; i < 12; ++i) {
    WriteFile(src / ("data/part" + std::to_string(i) + ".bin"), RandomBytes(700'000 + i * 1000, i));
  }
  WriteFile(src / "README.txt", "one line\n");
  const Snapshot before = MustSnapshot(src.path());
  ASSERT_GT(before.chunks.size(), 80u);

  std::string middle = ReadFile(src / "data/part5.bin");
  for (int i = 0; i < 16; ++i) middle[middle.size() / 2 + i] ^= 0x3c;
  WriteFile(src / "data/part5.bin", middle);
  const Snapshot edited = MustSnapshot(src.path());

  std::set<std::string> stored;
  for (const Chunk& c : before.chunks) stored.insert(c.sha256);
  uint64_t new_bytes = 0;
  size_t new_chunks = 0;
  for (const Chunk& c : edited.chunks) {
    if (stored.count(c.sha256)) continue;
    ++new_chunks;
    new_bytes += c.data.size();
  }
  EXPECT_NE(edited.sha256, before.sha256);
  EXPECT_LE(new_chunks, 2u);
  EXPECT_LE(new_bytes, 2 * kMaxChunkBytes + 1024);

  // A line appended to a small file at the start of the stream: its tar
  // header changes (size, checksum), and only the chunk holding it.
  WriteFile(src / "README.txt", "one line\ntwo lines\n");
  const Snapshot appended = MustSnapshot(src.path());
  for (const Chunk& c : edited.chunks) stored.insert(c.sha256);
  new_chunks = 0;
  for (const Chunk& c : appended.chunks) new_chunks += stored.count(c.sha256) == 0;
  EXPECT_LE(new_chunks, 2u);

  const Packed p = PackedFrom(appended);
  ASSERT_TRUE(ExtractSnapshot(p.manifest, p.Source(), out / "ws").ok());
  EXPECT_EQ(ReadFile(out / "ws/data/part5.bin"), middle);
  EXPECT_EQ(ReadFile(out / "ws/README.txt"), "one line\ntwo lines\n");
}

TEST(Snapshot, ChunksAreDistinctAndNamedByTheirContent) {
  TempDir src;
  // Identical content twice: the second copy's chunks are the first's.
  const std::string blob = RandomBytes(1 << 20, 99);
  WriteFile(src / "a.bin", blob);
  WriteFile(src / "b.bin", blob);
  const Snapshot snap = MustSnapshot(src.path());
  std::set<std::string> names;
  uint64_t stored = 0;
  for (const Chunk& c : snap.chunks) {
    EXPECT_EQ(Sha256Hex(c.data), c.sha256);
    EXPECT_TRUE(names.insert(c.sha256).second) << "listed twice: " << c.sha256;
    stored += c.data.size();
  }
  EXPECT_LT(snap.chunks.size(), snap.chunk_count);
  EXPECT_LT(stored, blob.size() * 3 / 2) << "the second copy should mostly deduplicate";
  EXPECT_EQ(PackedFrom(snap).manifest.DistinctChunks().size(), snap.chunks.size());
}

}  // namespace
}  // namespace lattice::snapshot
