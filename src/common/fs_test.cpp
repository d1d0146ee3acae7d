#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/test_util.h"

namespace lattice {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

int ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

std::vector<std::string> Names(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Sets the process umask for one test and restores it.
class ScopedUmask final {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(ReadRange, GivesUpToMaxBytesFromTheOffsetAndFewerAtTheEnd) {
  TempDir dir;
  auto path = dir.path() / "f";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "0123456789").ok());
  EXPECT_EQ(*fs::ReadRange(path, 2, 3), "234");
  EXPECT_EQ(*fs::ReadRange(path, 7, 100), "789");
  EXPECT_EQ(*fs::ReadRange(path, 10, 5), "");
  EXPECT_EQ(*fs::ReadRange(path, 50, 5), "");
  auto missing = fs::ReadRange(dir.path() / "none", 0, 5);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("none"));
}

TEST(WriteFileAtomic, NewFile_HasContentAndNoTempLeft) {
  TempDir dir;
  auto path = dir / "a.json";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "{\"x\":1}\n").ok());
  auto back = fs::ReadFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, "{\"x\":1}\n");
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"a.json"});
}

TEST(WriteFileAtomic, ModeIsExactlyWhatWasAsked_RegardlessOfUmask) {
  TempDir dir;
  ScopedUmask umask(077);
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "token", "secret", 0600).ok());
  EXPECT_EQ(ModeOf(dir / "token"), 0600);
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "public", "x", 0644).ok());
  EXPECT_EQ(ModeOf(dir / "public"), 0644);  // umask 077 would have made it 0600
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "default", "x").ok());
  EXPECT_EQ(ModeOf(dir / "default"), 0644);
}

TEST(WriteFileAtomic, Overwrite_ReplacesContentAndMode) {
  TempDir dir;
  auto path = dir / "f";
  ASSERT_TRUE(fs::WriteFileAtomic(path, std::string(100000, 'a'), 0644).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(path, "short", 0600).ok());
  EXPECT_EQ(*fs::ReadFile(path), "short");
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"f"});
}

TEST(WriteFileAtomic, BinaryAndEmptyData_RoundTrip) {
  TempDir dir;
  std::string bin("\0\x01\xff\n\0", 5);
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "bin", bin).ok());
  EXPECT_EQ(*fs::ReadFile(dir / "bin"), bin);
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "empty", "").ok());
  EXPECT_EQ(*fs::ReadFile(dir / "empty"), "");
}

TEST(WriteFileAtomic, MissingDirectory_ErrorNamesPathAndIsNotFound) {
  TempDir dir;
  auto path = dir / "no" / "such" / "f";
  Status st = fs::WriteFileAtomic(path, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(st.error().message, HasSubstr((dir / "no" / "such").string()));
}

TEST(WriteFileAtomic, TargetIsADirectory_FailsAndLeavesNoTemp) {
  TempDir dir;
  std::filesystem::create_directory(dir / "d");
  Status st = fs::WriteFileAtomic(dir / "d", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr((dir / "d").string()));
  EXPECT_EQ(Names(dir.path()), std::vector<std::string>{"d"});
}

TEST(ReadFile, Missing_NotFoundAndNamesThePath) {
  TempDir dir;
  auto path = dir / "missing.txt";
  auto r = fs::ReadFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(r.error().message, HasSubstr("cannot open " + path.string()));
}

TEST(ReadFile, Directory_IoErrorNamesThePath) {
  TempDir dir;
  auto r = fs::ReadFile(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_THAT(r.error().message, HasSubstr("cannot read " + dir.path().string()));
}

TEST(ReadFile, Unreadable_FailedPreconditionNamesThePath) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  TempDir dir;
  auto path = dir / "secret";
  ASSERT_TRUE(fs::WriteFileAtomic(path, "x", 0000).ok());
  auto r = fs::ReadFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message, HasSubstr(path.string()));
}

TEST(ReadFile, LargerThanOneBuffer_ReadsEverything) {
  TempDir dir;
  std::string big;
  for (int i = 0; i < 300000; ++i) big.push_back(static_cast<char>('a' + i % 26));
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "big", big).ok());
  auto r = fs::ReadFile(dir / "big");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), big.size());
  EXPECT_EQ(*r, big);
}

TEST(MakeDirs, Nested_CreatedWithModeAndIdempotent) {
  TempDir dir;
  auto path = dir / "a" / "b" / "c";
  ASSERT_TRUE(fs::MakeDirs(path, 0700).ok());
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ(ModeOf(path), 0700);
  EXPECT_TRUE(fs::MakeDirs(path, 0700).ok());
}

TEST(MakeDirs, PathThroughAFile_ErrorNamesThePath) {
  TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "file", "x").ok());
  Status st = fs::MakeDirs(dir / "file" / "sub");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kIo);
  EXPECT_THAT(st.error().message, HasSubstr("cannot create directory " + (dir / "file" / "sub").string()));
}

TEST(RemoveAll, TreeAndMissingPath_BothOk) {
  TempDir dir;
  ASSERT_TRUE(fs::MakeDirs(dir / "t" / "u").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "t" / "u" / "f", "x").ok());
  EXPECT_TRUE(fs::RemoveAll(dir / "t").ok());
  EXPECT_FALSE(std::filesystem::exists(dir / "t"));
  EXPECT_TRUE(fs::RemoveAll(dir / "never-existed").ok());
}

TEST(AppendToFd, ReturnsSizeAfterEachAppend) {
  TempDir dir;
  auto path = dir / "log";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(*fs::AppendToFd(fd, "hello "), 6u);
  EXPECT_EQ(*fs::AppendToFd(fd, ""), 6u);
  EXPECT_EQ(*fs::AppendToFd(fd, "world"), 11u);
  ::close(fd);
  EXPECT_EQ(*fs::ReadFile(path), "hello world");
}

TEST(WriteAll, BadDescriptor_IoError) {
  Status st = fs::WriteAll(-1, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kIo);
  EXPECT_THAT(st.error().message, HasSubstr("write failed"));
}

TEST(WriteAll, EmptyData_OkWithoutWriting) { EXPECT_TRUE(fs::WriteAll(-1, "").ok()); }

}  // namespace
}  // namespace lattice
