#include "agent/file_watch.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Paths(const ScanResult& r) {
  std::vector<std::string> out;
  for (const ReadyFile& f : r.ready) out.push_back(f.relative_path);
  return out;
}

void Write(const std::filesystem::path& path, const std::string& data) {
  ASSERT_TRUE(fs::MakeDirs(path.parent_path()).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(path, data).ok());
}

// Sets a file's mtime explicitly, so "changed" does not depend on timer granularity.
void SetMtime(const std::filesystem::path& path, int64_t seconds) {
  struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0);
}

class FileWatchTest : public ::testing::Test {
 protected:
  WatchOptions Options(int64_t settle_ms = 1000) {
    WatchOptions o;
    o.settle_ms = settle_ms;
    o.label = "artifacts";
    return o;
  }
  testing::TempDir dir_;
  testing::TempDir outside_;
  OpenForWrite idle_ = NothingOpenForWrite();
};

TEST_F(FileWatchTest, AFileHeldOpenForWritingByAChildIsNotReadyUntilClosed) {
  const std::filesystem::path file = dir_ / "model.pt";
  int opened[2], close_it[2], closed[2];
  ASSERT_EQ(::pipe(opened), 0);
  ASSERT_EQ(::pipe(close_it), 0);
  ASSERT_EQ(::pipe(closed), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(close_it[1]);  // so the parent's close is an end of file here
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ::write(fd, "weights", 7) != 7) ::_exit(1);
    char b = 1;
    if (::write(opened[1], &b, 1) != 1) ::_exit(1);
    if (::read(close_it[0], &b, 1) != 1) ::_exit(1);  // hold it open until told
    ::close(fd);
    if (::write(closed[1], &b, 1) != 1) ::_exit(1);
    if (::read(close_it[0], &b, 1) < 0) ::_exit(1);  // stay alive until the end
    ::_exit(0);
  }
  char b = 0;
  ASSERT_EQ(::read(opened[0], &b, 1), 1);
  DirectoryWatch watch(dir_.path(), Options(1000));
  auto busy = [&] { return OpenForWriteIn(FilesOpenForWriting({child})); };
  EXPECT_THAT(Paths(watch.Scan(busy(), 0)), IsEmpty());
  EXPECT_THAT(Paths(watch.Scan(busy(), 5000)), IsEmpty());  // settled, but still open
  EXPECT_THAT(Paths(watch.ScanFinal(busy(), 6000)), IsEmpty());
  ASSERT_EQ(::write(close_it[1], &b, 1), 1);
  ASSERT_EQ(::read(closed[0], &b, 1), 1);
  const ScanResult after = watch.Scan(busy(), 7000);
  for (int fd : {opened[0], opened[1], close_it[0], close_it[1], closed[0], closed[1]}) ::close(fd);
  ::waitpid(child, nullptr, 0);
  ASSERT_THAT(Paths(after), ElementsAre("model.pt"));
  EXPECT_EQ(after.ready[0].size, 7u);
}

TEST_F(FileWatchTest, FilesOpenForWritingSeesWritersButNotReaders) {
  Write(dir_ / "r", "x");
  Write(dir_ / "w", "x");
  Write(dir_ / "rw", "x");
  const int r = ::open((dir_ / "r").c_str(), O_RDONLY | O_CLOEXEC);
  const int w = ::open((dir_ / "w").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  const int rw = ::open((dir_ / "rw").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  ASSERT_GE(rw, 0);
  const auto files = FilesOpenForWriting({::getpid(), 999'999'999});  // the second is no process
  auto key = [&](const char* name) {
    struct stat st {};
    EXPECT_EQ(::stat((dir_ / name).c_str(), &st), 0);
    return std::make_pair(st.st_dev, st.st_ino);
  };
  EXPECT_EQ(files.count(key("r")), 0u);
  EXPECT_EQ(files.count(key("w")), 1u);
  EXPECT_EQ(files.count(key("rw")), 1u);
  ::close(r);
  ::close(w);
  ::close(rw);
}

TEST_F(FileWatchTest, AFileThatChangedBetweenScansIsNotReady) {
  Write(dir_ / "log.txt", "one");
  DirectoryWatch watch(dir_.path(), Options(1000));
  EXPECT_THAT(Paths(watch.Scan(idle_, 0)), IsEmpty());
  Write(dir_ / "log.txt", "one two");
  EXPECT_THAT(Paths(watch.Scan(idle_, 2000)), IsEmpty());  // changed: the clock restarts
  EXPECT_THAT(Paths(watch.Scan(idle_, 2500)), IsEmpty());  // unchanged, but for under settle_ms
  EXPECT_THAT(Paths(watch.Scan(idle_, 3000)), ElementsAre("log.txt"));
}

TEST_F(FileWatchTest, ASymlinkToEtcPasswdAndOneToASiblingAreBothRefusedAndNeverRead) {
  Write(dir_ / "real.txt", "data");
  std::filesystem::create_symlink("/etc/passwd", dir_ / "link");
  std::filesystem::create_symlink("real.txt", dir_ / "alias");
  std::filesystem::create_symlink(outside_.path(), dir_ / "outdir");
  Write(outside_ / "secret", "s");
  DirectoryWatch watch(dir_.path(), Options(0));
  const ScanResult first = watch.Scan(idle_, 0);
  EXPECT_THAT(Paths(first), ElementsAre("real.txt"));
  EXPECT_THAT(first.warnings,
              ::testing::UnorderedElementsAre(
                  "artifacts/link -> /etc/passwd: symbolic links are not uploaded (it leads outside the directory)",
                  "artifacts/alias -> real.txt: symbolic links are not uploaded (only regular files are uploaded)",
                  "artifacts/outdir -> " + outside_.path().string() +
                      ": symbolic links are not uploaded (it leads outside the directory)"));
  const ScanResult second = watch.ScanFinal(idle_, 10);
  EXPECT_THAT(second.warnings, IsEmpty());  // once per path
  EXPECT_THAT(Paths(second), IsEmpty());
}

TEST_F(FileWatchTest, ADirectoryReplacedBySymlinkBetweenScansIsNotFollowed) {
  Write(dir_ / "ckpt/a.bin", "a");
  Write(outside_ / "b.bin", "secret");
  DirectoryWatch watch(dir_.path(), Options(1000));
  EXPECT_THAT(Paths(watch.Scan(idle_, 0)), IsEmpty());
  std::filesystem::rename(dir_ / "ckpt", dir_ / "old");
  std::filesystem::create_symlink(outside_.path(), dir_ / "ckpt");
  const ScanResult r = watch.Scan(idle_, 5000);
  for (const std::string& p : Paths(r)) EXPECT_EQ(p.find("ckpt"), std::string::npos) << p;
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("artifacts/ckpt -> "));
  const ScanResult last = watch.ScanFinal(idle_, 6000);
  EXPECT_THAT(Paths(last), ElementsAre("old/a.bin"));
}

TEST_F(FileWatchTest, ARootThatIsASymlinkIsNotFollowed) {
  std::filesystem::create_symlink(outside_.path(), dir_ / "root");
  Write(outside_ / "x", "x");
  DirectoryWatch watch(dir_ / "root", Options(0));
  const ScanResult r = watch.ScanFinal(idle_, 0);
  EXPECT_THAT(Paths(r), IsEmpty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("symbolic links are not followed"));
}

TEST_F(FileWatchTest, TheSameVersionIsReturnedOnce) {
  Write(dir_ / "a.txt", "a");
  DirectoryWatch watch(dir_.path(), Options(1000));
  EXPECT_THAT(Paths(watch.Scan(idle_, 0)), IsEmpty());
  EXPECT_THAT(Paths(watch.Scan(idle_, 1000)), ElementsAre("a.txt"));
  EXPECT_THAT(Paths(watch.Scan(idle_, 2000)), IsEmpty());
  EXPECT_THAT(Paths(watch.ScanFinal(idle_, 3000)), IsEmpty());
}

TEST_F(FileWatchTest, ARewrittenFileIsReturnedAgain) {
  Write(dir_ / "last.ckpt", "v1");
  SetMtime(dir_ / "last.ckpt", 1'000'000);
  DirectoryWatch watch(dir_.path(), Options(0));
  ScanResult r = watch.Scan(idle_, 0);
  ASSERT_THAT(Paths(r), ElementsAre("last.ckpt"));
  EXPECT_EQ(r.ready[0].size, 2u);
  EXPECT_EQ(r.ready[0].mtime_ns, 1'000'000LL * 1'000'000'000);
  Write(dir_ / "last.ckpt", "v2 longer");  // a new inode too (written atomically)
  r = watch.Scan(idle_, 10);
  ASSERT_THAT(Paths(r), ElementsAre("last.ckpt"));
  EXPECT_EQ(r.ready[0].size, 9u);
  // Rewritten in place, same size: only the mtime differs.
  {
    const int fd = ::open((dir_ / "last.ckpt").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "V", 1, 0), 1);
    ::close(fd);
  }
  SetMtime(dir_ / "last.ckpt", 2'000'000);
  EXPECT_THAT(Paths(watch.Scan(idle_, 20)), ElementsAre("last.ckpt"));
}

TEST_F(FileWatchTest, NestedDirectoriesGiveSlashSeparatedRelativePaths) {
  Write(dir_ / "epoch-1/model/weights.bin", "w");
  Write(dir_ / "epoch-1/optim.bin", "o");
  Write(dir_ / "top.txt", "t");
  ASSERT_TRUE(fs::MakeDirs(dir_ / "empty/dir").ok());
  DirectoryWatch watch(dir_.path(), Options(0));
  const ScanResult r = watch.Scan(idle_, 0);
  EXPECT_THAT(Paths(r), ElementsAre("epoch-1/model/weights.bin", "epoch-1/optim.bin", "top.txt"));
  EXPECT_THAT(r.warnings, IsEmpty());
  EXPECT_EQ(TopLevelEntry(r.ready[0].relative_path), "epoch-1");
  EXPECT_EQ(TopLevelEntry("top.txt"), "top.txt");
  EXPECT_EQ(r.ready[2].mode, 0644u);
}

TEST_F(FileWatchTest, ScanFinalReturnsAFileSeenForTheFirstTime) {
  DirectoryWatch watch(dir_.path(), Options(60'000));
  EXPECT_THAT(Paths(watch.Scan(idle_, 0)), IsEmpty());
  Write(dir_ / "final.txt", "f");
  EXPECT_THAT(Paths(watch.Scan(idle_, 1)), IsEmpty());
  EXPECT_THAT(Paths(watch.ScanFinal(idle_, 2)), ElementsAre("final.txt"));
}

TEST_F(FileWatchTest, FifosSocketsAndBadNamesAreRefusedWithAWarning) {
  ASSERT_EQ(::mkfifo((dir_ / "pipe").c_str(), 0644), 0);
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock_path = (dir_ / "sock").string();
  ASSERT_LT(sock_path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock_path.c_str(), sock_path.size() + 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  Write(dir_ / "new\nline", "x");
  Write(dir_ / "bad\xff", "x");
  Write(dir_ / "bad\xff-dir/inner", "x");
  Write(dir_ / "ok.txt", "x");
  DirectoryWatch watch(dir_.path(), Options(0));
  const ScanResult r = watch.Scan(idle_, 0);
  ::close(sock);
  EXPECT_THAT(Paths(r), ElementsAre("ok.txt"));
  EXPECT_THAT(r.warnings,
              ::testing::UnorderedElementsAre(
                  "artifacts/pipe: a FIFO is not uploaded (only regular files are uploaded)",
                  "artifacts/sock: a socket is not uploaded (only regular files are uploaded)",
                  HasSubstr("artifacts/new\\x0aline: not uploaded, the name cannot be stored (contains a control"),
                  HasSubstr("bad\\xff: not uploaded, the name cannot be stored (is not valid UTF-8"),
                  HasSubstr("bad\\xff-dir: not uploaded, the name cannot be stored (is not valid UTF-8")));
  EXPECT_THAT(watch.Scan(idle_, 1).warnings, IsEmpty());
}

TEST_F(FileWatchTest, DepthAndFileCountLimitsLeaveTheRestOutWithAWarning) {
  Write(dir_ / "a/b/c/deep.txt", "d");
  Write(dir_ / "a/shallow.txt", "s");
  WatchOptions o = Options(0);
  o.max_depth = 2;
  DirectoryWatch deep(dir_.path(), o);
  ScanResult r = deep.Scan(idle_, 0);
  EXPECT_THAT(Paths(r), ElementsAre("a/shallow.txt"));
  EXPECT_THAT(r.warnings, ElementsAre("artifacts/a/b/c: not uploaded, deeper than 2 directories"));

  for (int i = 0; i < 5; ++i) Write(dir_ / ("f" + std::to_string(i)), "x");
  o = Options(0);
  o.max_files = 3;
  DirectoryWatch many(dir_.path(), o);
  r = many.Scan(idle_, 0);
  EXPECT_EQ(r.ready.size(), 3u);
  EXPECT_THAT(r.warnings, ElementsAre("artifacts: more than 3 files; the rest are not uploaded"));
  // A truncated scan forgets nothing: what was returned is not returned again.
  r = many.Scan(idle_, 1);
  EXPECT_THAT(Paths(r), IsEmpty());
}

TEST_F(FileWatchTest, AMissingRootIsEmptyWithoutWarnings) {
  DirectoryWatch watch(dir_ / "not-yet", Options(0));
  const ScanResult r = watch.ScanFinal(idle_, 0);
  EXPECT_THAT(r.ready, IsEmpty());
  EXPECT_THAT(r.warnings, IsEmpty());
}

TEST_F(FileWatchTest, OpenGivesTheVersionFoundReadyAndRefusesAChangedOne) {
  Write(dir_ / "d/f.txt", "hello");
  DirectoryWatch watch(dir_.path(), Options(0));
  ScanResult r = watch.Scan(idle_, 0);
  ASSERT_EQ(r.ready.size(), 1u);
  Result<int> fd = watch.Open(r.ready[0]);
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  char buf[16] = {0};
  EXPECT_EQ(::read(*fd, buf, sizeof buf), 5);
  ::close(*fd);
  Write(dir_ / "d/f.txt", "changed");
  fd = watch.Open(r.ready[0]);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().code, ErrorCode::kFailedPrecondition);
  // Swapped for a link to a file outside: refused, not followed.
  Write(outside_ / "f.txt", "hello");
  std::filesystem::remove(dir_ / "d/f.txt");
  std::filesystem::create_symlink(outside_ / "f.txt", dir_ / "d/f.txt");
  EXPECT_FALSE(watch.Open(r.ready[0]).ok());
}

TEST_F(FileWatchTest, ForgetMakesAReturnedVersionReadyAgain) {
  Write(dir_ / "a.txt", "a");
  DirectoryWatch watch(dir_.path(), Options(0));
  EXPECT_THAT(Paths(watch.Scan(idle_, 0)), ElementsAre("a.txt"));
  watch.Forget("a.txt");
  EXPECT_THAT(Paths(watch.Scan(idle_, 1)), ElementsAre("a.txt"));
}

TEST_F(FileWatchTest, ADeletedAndRecreatedFileIsNew) {
  Write(dir_ / "a.txt", "a");
  DirectoryWatch watch(dir_.path(), Options(0));
  EXPECT_THAT(Paths(watch.Scan(idle_, 0)), ElementsAre("a.txt"));
  std::filesystem::remove(dir_ / "a.txt");
  EXPECT_THAT(Paths(watch.Scan(idle_, 1)), IsEmpty());
  Write(dir_ / "a.txt", "b");
  EXPECT_THAT(Paths(watch.Scan(idle_, 2)), ElementsAre("a.txt"));
}

}  // namespace
}  // namespace lattice::agent
