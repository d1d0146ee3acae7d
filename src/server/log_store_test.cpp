#include "server/log_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(logs_->Init().ok()); }

  uint64_t AppendOk(int64_t attempt, uint64_t offset, std::string_view data) {
    auto r = logs_->Append(attempt, offset, data);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : 0;
  }

  std::string ReadAll(int64_t attempt) {
    auto r = logs_->Read(attempt, 0, 1 << 30);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : "";
  }

  TempDir dir_;
  std::filesystem::path log_dir_ = dir_ / "server" / "logs";
  std::unique_ptr<LogStore> logs_ = std::make_unique<LogStore>(log_dir_);
};

TEST_F(LogStoreTest, Init_CreatesTheDirectory) { EXPECT_TRUE(std::filesystem::is_directory(log_dir_)); }

TEST_F(LogStoreTest, Appends_ReturnLengthAndConcatenate) {
  EXPECT_EQ(AppendOk(1, 0, "hello "), 6u);
  EXPECT_EQ(AppendOk(1, 6, "world\n"), 12u);
  EXPECT_EQ(logs_->Length(1), 12u);
  EXPECT_EQ(ReadAll(1), "hello world\n");
  EXPECT_EQ(*fs::ReadFile(log_dir_ / "1.log"), "hello world\n");
}

TEST_F(LogStoreTest, ReplayOfStoredBytes_IsIdempotent) {
  AppendOk(1, 0, "abcdef");
  EXPECT_EQ(AppendOk(1, 0, "abcdef"), 6u);
  EXPECT_EQ(AppendOk(1, 2, "cd"), 6u);
  EXPECT_EQ(AppendOk(1, 6, ""), 6u);
  EXPECT_EQ(ReadAll(1), "abcdef");
}

TEST_F(LogStoreTest, OverlappingReplay_AppendsOnlyTheNewSuffix) {
  AppendOk(1, 0, "abcdef");
  EXPECT_EQ(AppendOk(1, 4, "efGHI"), 9u);
  EXPECT_EQ(ReadAll(1), "abcdefGHI");
}

TEST_F(LogStoreTest, Gap_RefusedWithCurrentLengthAndNothingWritten) {
  AppendOk(1, 0, "abc");
  auto r = logs_->Append(1, 5, "xyz");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_THAT(r.error().message, HasSubstr("log offset 5 is past the end"));
  EXPECT_THAT(r.error().message, HasSubstr("the server has 3 bytes"));
  EXPECT_EQ(logs_->Length(1), 3u);
  EXPECT_EQ(ReadAll(1), "abc");
}

TEST_F(LogStoreTest, GapOnANewLog_Refused) {
  auto r = logs_->Append(9, 1, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("the server has 0 bytes"));
}

TEST_F(LogStoreTest, AttemptsAreSeparate) {
  AppendOk(1, 0, "one");
  AppendOk(2, 0, "two!");
  EXPECT_EQ(ReadAll(1), "one");
  EXPECT_EQ(ReadAll(2), "two!");
  EXPECT_EQ(logs_->Length(3), 0u);
}

TEST_F(LogStoreTest, BinaryBytes_KeptExactly) {
  std::string bin("\0\x01\xfe\xff\r\n\x1b[31m", 11);
  AppendOk(1, 0, bin);
  EXPECT_EQ(ReadAll(1), bin);
}

TEST_F(LogStoreTest, Read_RangesAndLimits) {
  AppendOk(1, 0, "0123456789");
  EXPECT_EQ(*logs_->Read(1, 0, 4), "0123");
  EXPECT_EQ(*logs_->Read(1, 4, 4), "4567");
  EXPECT_EQ(*logs_->Read(1, 8, 100), "89");
  EXPECT_EQ(*logs_->Read(1, 10, 100), "");
  EXPECT_EQ(*logs_->Read(1, 1000, 100), "");
  EXPECT_EQ(*logs_->Read(1, 0, 0), "");
  EXPECT_EQ(*logs_->Read(77, 0, 100), "");  // never written
}

TEST_F(LogStoreTest, NewInstance_SeesStoredLengthAndContinues) {
  AppendOk(5, 0, "before restart\n");
  logs_ = std::make_unique<LogStore>(log_dir_);
  ASSERT_TRUE(logs_->Init().ok());
  EXPECT_EQ(logs_->Length(5), 15u);
  EXPECT_EQ(AppendOk(5, 0, "before restart\n"), 15u);  // agent replays its spool
  EXPECT_EQ(AppendOk(5, 15, "after\n"), 21u);
  EXPECT_EQ(ReadAll(5), "before restart\nafter\n");
  EXPECT_FALSE(logs_->Append(5, 30, "x").ok());
}

TEST_F(LogStoreTest, Close_ThenAppendReopensAtTheRightLength) {
  AppendOk(1, 0, "abc");
  logs_->Close(1);
  logs_->Close(1);   // twice is harmless
  logs_->Close(99);  // never opened
  EXPECT_EQ(logs_->Length(1), 3u);
  EXPECT_EQ(AppendOk(1, 3, "def"), 6u);
  EXPECT_EQ(ReadAll(1), "abcdef");
}

TEST_F(LogStoreTest, ManyAttempts_BeyondTheDescriptorCacheStayCorrect) {
  // More logs than descriptors kept open: evicted ones must reopen correctly.
  constexpr int kAttempts = 300;
  for (int round = 0; round < 3; ++round) {
    for (int64_t id = 1; id <= kAttempts; ++id) {
      std::string line = std::to_string(id) + ":" + std::to_string(round) + "\n";
      uint64_t offset = logs_->Length(id);
      ASSERT_EQ(AppendOk(id, offset, line), offset + line.size());
    }
  }
  for (int64_t id : {int64_t{1}, int64_t{128}, int64_t{300}}) {
    std::string s = std::to_string(id);
    EXPECT_EQ(ReadAll(id), s + ":0\n" + s + ":1\n" + s + ":2\n");
  }
}

TEST_F(LogStoreTest, LogFilesArePrivate) {
  AppendOk(1, 0, "secret output");
  struct stat st {};
  ASSERT_EQ(::stat((log_dir_ / "1.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

TEST(LogStore, UnusableDirectory_AppendErrorNamesThePath) {
  TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir / "file", "x").ok());
  LogStore logs(dir / "file" / "logs");  // a path through a regular file
  EXPECT_FALSE(logs.Init().ok());
  auto r = logs.Append(1, 0, "x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr((dir / "file" / "logs" / "1.log").string()));
  EXPECT_EQ(logs.Length(1), 0u);
}

}  // namespace
}  // namespace lattice
