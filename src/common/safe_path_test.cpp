#include "common/safe_path.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice {
namespace {

std::string Why(std::string_view path) {
  const Status s = ValidateRelativePath(path);
  if (s.ok()) return "ok";
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  return s.error().message;
}

bool Mentions(std::string_view path, const std::string& word) {
  const std::string why = Why(path);
  const bool found = why.find(word) != std::string::npos;
  if (!found) ADD_FAILURE() << "for " << ::testing::PrintToString(std::string(path)) << ": " << why;
  return found;
}

TEST(ValidateRelativePath, AcceptsPlainNestedAndUnicodeNames) {
  EXPECT_EQ(Why("model.pt"), "ok");
  EXPECT_EQ(Why("checkpoints/epoch-3/model.pt"), "ok");
  EXPECT_EQ(Why(".hidden/..dots/a..b/..."), "ok");
  EXPECT_EQ(Why("résumé/日本語.txt"), "ok");
  EXPECT_EQ(Why(std::string(255, 'a') + "/b"), "ok");
}

TEST(ValidateRelativePath, RefusesEachBadShapeWithAMessageNamingIt) {
  EXPECT_TRUE(Mentions("", "empty"));
  EXPECT_TRUE(Mentions("/etc/passwd", "absolute"));
  EXPECT_TRUE(Mentions("..", "'..'"));
  EXPECT_TRUE(Mentions("a/../../b", "'..'"));
  EXPECT_TRUE(Mentions("a/..", "'..'"));
  EXPECT_TRUE(Mentions("./a", "'.'"));
  EXPECT_TRUE(Mentions("a/./b", "'.'"));
  EXPECT_TRUE(Mentions("a//b", "empty component"));
  EXPECT_TRUE(Mentions("a/", "ends with"));
  EXPECT_TRUE(Mentions("a\\..\\b", "backslash"));
  EXPECT_TRUE(Mentions(std::string_view("a\0b", 3), "NUL"));
  EXPECT_TRUE(Mentions("a\nb", "control character"));
  EXPECT_TRUE(Mentions("a\x7f", "control character"));
  EXPECT_TRUE(Mentions("bad\xff", "UTF-8"));
  EXPECT_TRUE(Mentions("\xc0\xaf", "UTF-8"));          // overlong '/'
  EXPECT_TRUE(Mentions("\xed\xa0\x80", "UTF-8"));      // surrogate
  EXPECT_TRUE(Mentions("\xe6\x97", "UTF-8"));          // truncated
  EXPECT_TRUE(Mentions(std::string(256, 'a'), "component of 256 bytes"));
  std::string long_path;
  while (long_path.size() <= 4096) long_path += "abcdefgh/";
  long_path += "x";
  EXPECT_TRUE(Mentions(long_path, "over the limit of 4096"));
}

TEST(ValidateRelativePath, ErrorMessagesEscapeWhatTheyQuote) {
  const std::string why = Why("a\n/../b");
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  EXPECT_NE(why.find("\\x0a"), std::string::npos) << why;
  // Valid UTF-8 is shown as it is; invalid bytes are escaped, so the message
  // itself is always valid UTF-8.
  EXPECT_NE(Why("日本/./x").find("\"日本/./x\""), std::string::npos);
  const std::string bad = Why("a/\xff");
  EXPECT_NE(bad.find("a/\\xff"), std::string::npos) << bad;
  EXPECT_TRUE(IsValidUtf8(bad));
  // A long path is cut at a character boundary.
  std::string long_name;
  while (long_name.size() < 300) long_name += "é";
  const std::string cut = Why(long_name);
  EXPECT_TRUE(IsValidUtf8(cut)) << cut;
}

class OpenBeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dirfd_ = ::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dirfd_, 0);
  }
  void TearDown() override { ::close(dirfd_); }
  std::string Read(const std::string& rel) {
    auto r = fs::ReadFile(dir_ / rel);
    return r.ok() ? *r : "<" + r.error().message + ">";
  }
  testing::TempDir dir_;
  testing::TempDir outside_;
  int dirfd_ = -1;
};

TEST_F(OpenBeneathTest, CreatesParentsAndWritesInsideTheDirectory) {
  Result<int> fd = OpenBeneath(dirfd_, "a/b/c.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644, true);
  ASSERT_TRUE(fd.ok()) << fd.error().message;
  ASSERT_TRUE(fs::WriteAll(*fd, "hello").ok());
  ::close(*fd);
  EXPECT_EQ(Read("a/b/c.txt"), "hello");
}

TEST_F(OpenBeneathTest, WithoutCreateParentsAMissingDirectoryIsNotFound) {
  Result<int> fd = OpenBeneath(dirfd_, "missing/c.txt", O_WRONLY | O_CREAT, 0644, false);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().code, ErrorCode::kNotFound) << fd.error().message;
}

TEST_F(OpenBeneathTest, RefusesInvalidPathsBeforeTouchingTheDisk) {
  const std::string escape = "../" + dir_.path().filename().string() + "-escaped";
  for (const std::string& bad : {escape, std::string("/etc/passwd"), "a/../" + escape, std::string()}) {
    Result<int> fd = OpenBeneath(dirfd_, bad, O_WRONLY | O_CREAT, 0644, true);
    ASSERT_FALSE(fd.ok()) << bad;
    EXPECT_EQ(fd.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path().string() + "-escaped"));
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(OpenBeneathTest, APlantedSymlinkAsTheFileIsNeverFollowed) {
  ASSERT_TRUE(fs::WriteFileAtomic(outside_ / "target", "secret").ok());
  std::filesystem::create_symlink(outside_ / "target", dir_ / "out.txt");
  for (bool create_parents : {false, true}) {
    Result<int> fd = OpenBeneath(dirfd_, "out.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644, create_parents);
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.error().message.find("symbolic link"), std::string::npos) << fd.error().message;
  }
  EXPECT_EQ(Read("out.txt"), "secret");  // through the link: untouched
}

TEST_F(OpenBeneathTest, APlantedSymlinkAsAParentDirectoryIsNeverFollowed) {
  std::filesystem::create_symlink(outside_.path(), dir_ / "sub");
  for (bool create_parents : {false, true}) {
    Result<int> fd =
        OpenBeneath(dirfd_, "sub/new.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644, create_parents);
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.error().message.find("symbolic link"), std::string::npos) << fd.error().message;
  }
  EXPECT_FALSE(std::filesystem::exists(outside_ / "new.txt"));
}

TEST_F(OpenBeneathTest, ASymlinkToASiblingInsideIsRefusedToo) {
  ASSERT_TRUE(fs::MakeDirs(dir_ / "real").ok());
  std::filesystem::create_symlink("real", dir_ / "alias");
  Result<int> fd = OpenBeneath(dirfd_, "alias/f", O_WRONLY | O_CREAT, 0644, true);
  EXPECT_FALSE(fd.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ / "real" / "f"));
}

TEST_F(OpenBeneathTest, AFileInTheWayOfAParentIsAnError) {
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "plain", "x").ok());
  Result<int> fd = OpenBeneath(dirfd_, "plain/f", O_WRONLY | O_CREAT, 0644, true);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("plain"), std::string::npos) << fd.error().message;
}

TEST_F(OpenBeneathTest, OpensExistingFilesForReading) {
  ASSERT_TRUE(fs::MakeDirs(dir_ / "d").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "d/f", "data").ok());
  for (bool create_parents : {false, true}) {
    Result<int> fd = OpenBeneath(dirfd_, "d/f", O_RDONLY, 0, create_parents);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    char buf[8] = {0};
    EXPECT_EQ(::read(*fd, buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "data");
    ::close(*fd);
  }
}

}  // namespace
}  // namespace lattice
