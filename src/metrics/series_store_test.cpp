#include "metrics/series_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "common/fs.h"
#include "common/test_util.h"
#include "metrics/downsample.h"

namespace lattice::metrics {
namespace {

namespace fsys = std::filesystem;
constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

std::vector<Point> Points(int64_t first_step, size_t n, double scale = 1) {
  std::vector<Point> v;
  for (size_t i = 0; i < n; ++i) {
    const int64_t step = first_step + static_cast<int64_t>(i);
    v.push_back({step, 1e9 + static_cast<double>(step), std::sin(static_cast<double>(step)) * scale});
  }
  return v;
}

bool SameBits(const Point& a, const Point& b) { return std::memcmp(&a, &b, sizeof(Point)) == 0; }

void ExpectSameBits(const std::vector<Point>& a, const std::vector<Point>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(SameBits(a[i], b[i])) << "point " << i;
}

SeriesQuery All() { return SeriesQuery{.max_points = std::numeric_limits<size_t>::max()}; }

std::vector<Point> ReadAll(MetricsStore& store, const std::string& exp, const std::string& key) {
  auto r = store.Read(exp, key, All());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r->points : std::vector<Point>{};
}

uint64_t FileSize(const fsys::path& p) { return fsys::file_size(p); }

MetricsStoreOptions NoSync() { return MetricsStoreOptions{.fsync = false}; }

TEST(MetricsStore, AppendThenReadGivesThePointsBackBitExactIncludingNaNAndInfinities) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), {});
  ASSERT_TRUE(store.Init().ok());
  double payload_nan;
  const uint64_t bits = 0xfff8000000001234ull;
  std::memcpy(&payload_nan, &bits, 8);
  const std::vector<Point> pts = {{1, 10, kNaN}, {2, 11, kInf}, {3, 12, -kInf}, {4, 13, -0.0}, {5, 14, payload_nan},
                                  {6, 15, 1e-310}};
  auto r = store.Append("1", 1, 0, 100, {{"train/loss", pts}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 100u);
  EXPECT_EQ(store.AcceptedLength("1", 1), 100u);
  ExpectSameBits(ReadAll(store, "1", "train/loss"), pts);

  MetricsStore reopened(dir.path(), {});
  ExpectSameBits(ReadAll(reopened, "1", "train/loss"), pts);
  EXPECT_TRUE(fsys::exists(dir.path() / "1" / "train%2Floss.series"));
}

TEST(MetricsStore, AppendWithAStaleFromIsRefusedAndChangesNothing) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  ASSERT_TRUE(store.Append("3", 7, 0, 50, {{"a", Points(0, 10)}}).ok());
  const std::string state = *fs::ReadFile(dir.path() / "3" / "ingest.state");
  for (uint64_t from : {0u, 10u, 51u}) {
    auto r = store.Append("3", 7, from, from + 50, {{"a", Points(10, 10)}, {"b", Points(0, 3)}});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(r.error().message.find("accepted up to byte 50"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(store.AcceptedLength("3", 7), 50u);
  EXPECT_EQ(ReadAll(store, "3", "a").size(), 10u);
  EXPECT_EQ(store.Read("3", "b", All()).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*fs::ReadFile(dir.path() / "3" / "ingest.state"), state);
  EXPECT_FALSE(fsys::exists(dir.path() / "3" / "b.series"));
  // Attempts have separate streams.
  EXPECT_EQ(store.AcceptedLength("3", 8), 0u);
  EXPECT_TRUE(store.Append("3", 8, 0, 5, {{"a", Points(10, 1)}}).ok());
  EXPECT_EQ(ReadAll(store, "3", "a").size(), 11u);
}

TEST(MetricsStore, ReplayingTheSameRangeAfterARestartIsRefusedSoNothingIsDuplicated) {
  testing::TempDir dir;
  const std::vector<SeriesBatch> batch = {{"loss", Points(0, 100)}, {"acc", Points(0, 100)}};
  {
    MetricsStore store(dir.path(), {});
    ASSERT_TRUE(store.Append("1", 1, 0, 4000, batch).ok());
  }
  MetricsStore store(dir.path(), {});
  EXPECT_EQ(store.AcceptedLength("1", 1), 4000u);
  auto again = store.Append("1", 1, 0, 4000, batch);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(store, "1", "loss").size(), 100u);
  // The sender resumes at the accepted length.
  ASSERT_TRUE(store.Append("1", 1, 4000, 4100, {{"loss", Points(100, 5)}}).ok());
  EXPECT_EQ(ReadAll(store, "1", "loss").size(), 105u);
  EXPECT_EQ(*store.Append("1", 1, 4100, 4100, {}), 4100u);  // an empty append is a no-op
}

TEST(MetricsStore, ReopenAfterACrashDropsUncommittedAndTornRecordsAndOrphanFiles) {
  testing::TempDir dir;
  const auto pts = Points(0, 2500);
  {
    MetricsStore store(dir.path(), {});
    ASSERT_TRUE(store.Append("9", 1, 0, 1000, {{"loss", pts}, {"lr", Points(0, 3)}}).ok());
  }
  // A crash after writing points but before the commit: whole records plus a
  // torn one, and a series file for a key no commit names.
  const fsys::path series = dir.path() / "9" / "loss.series";
  {
    int fd = ::open(series.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    const auto extra = Points(2500, 10, 1000);
    ASSERT_TRUE(fs::WriteAll(fd, std::string_view(reinterpret_cast<const char*>(extra.data()), 240)).ok());
    ASSERT_TRUE(fs::WriteAll(fd, "torn-rec").ok());
    ::close(fd);
  }
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "9" / "new.series", std::string(48, 'x')).ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "9" / "ingest.state.tmp", "{").ok());
  EXPECT_EQ(FileSize(series), 2500 * 24 + 240 + 8);

  MetricsStore store(dir.path(), {});
  auto sums = store.Summaries("9");
  ASSERT_EQ(sums.size(), 2u);
  EXPECT_EQ(sums[0].key, "loss");
  EXPECT_EQ(sums[0].count, 2500u);
  EXPECT_TRUE(SameBits(sums[0].last, pts.back()));
  EXPECT_LE(sums[0].max, 1.0);  // the uncommitted points had values up to 1000
  EXPECT_EQ(sums[1].key, "lr");
  EXPECT_EQ(FileSize(series), 2500u * 24);
  EXPECT_FALSE(fsys::exists(dir.path() / "9" / "new.series"));
  EXPECT_FALSE(fsys::exists(dir.path() / "9" / "ingest.state.tmp"));
  ExpectSameBits(ReadAll(store, "9", "loss"), pts);
  // The agent resends the unacknowledged points; they land once.
  ASSERT_TRUE(store.Append("9", 1, 1000, 1300, {{"loss", Points(2500, 10)}}).ok());
  EXPECT_EQ(store.Summaries("9")[0].count, 2510u);
  EXPECT_EQ(FileSize(series), 2510u * 24);
}

TEST(MetricsStore, AKeyRepeatedInOneBatchIsAppendedInBatchOrder) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), {});
  ASSERT_TRUE(store.Append("1", 1, 0, 3, {{"a", Points(0, 5)}, {"b", Points(0, 2)}, {"a", Points(5, 5)}}).ok());
  ExpectSameBits(ReadAll(store, "1", "a"), Points(0, 10));
  EXPECT_EQ(ReadAll(store, "1", "b").size(), 2u);
}

// Kills a writer process at random moments; after each kill the reopened
// store holds exactly the points of its accepted length (none lost, none
// twice), and at least everything the writer saw acknowledged.
TEST(MetricsStore, AWriterKilledAtRandomMomentsLosesNothingAcknowledgedAndDuplicatesNothing) {
  testing::TempDir dir;
  std::mt19937_64 rng(5);
  for (int round = 0; round < 6; ++round) {
    uint64_t accepted;
    {
      MetricsStore store(dir.path(), NoSync());
      accepted = store.AcceptedLength("1", 1);
    }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      MetricsStore store(dir.path(), NoSync());
      uint64_t off = store.AcceptedLength("1", 1);
      for (;;) {
        // One byte of "stream" per point, so count == accepted length.
        const size_t n = 1 + off % 700;
        auto r = store.Append("1", 1, off, off + n,
                              {{"k", Points(static_cast<int64_t>(off), n)}, {"j", Points(static_cast<int64_t>(off), 1)}});
        if (!r.ok()) ::_exit(3);
        off = *r;
        if (::write(fds[1], &off, sizeof off) != sizeof off) ::_exit(4);
      }
    }
    ::close(fds[1]);
    uint64_t acked = accepted, v;
    const int acks = 20 + static_cast<int>(rng() % 200);
    for (int i = 0; i < acks && ::read(fds[0], &v, sizeof v) == sizeof v; ++i) acked = v;
    ::usleep(static_cast<useconds_t>(rng() % 3000));
    ::kill(pid, SIGKILL);
    while (::read(fds[0], &v, sizeof v) == sizeof v) acked = v;
    ::close(fds[0]);
    int status;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;

    MetricsStore store(dir.path(), NoSync());
    const uint64_t now = store.AcceptedLength("1", 1);
    EXPECT_GE(now, acked);
    auto pts = ReadAll(store, "1", "k");
    ASSERT_EQ(pts.size(), now);
    for (size_t i = 0; i < pts.size(); ++i) ASSERT_EQ(pts[i].step, static_cast<int64_t>(i));
    EXPECT_EQ(FileSize(dir.path() / "1" / "k.series"), now * 24);
  }
}

TEST(MetricsStore, SummariesOfLastMinMaxCountAndNaNsSurviveReopen) {
  testing::TempDir dir;
  std::vector<Point> pts = Points(0, 3000);
  pts[10].value = kNaN;
  pts[2000].value = kNaN;
  pts[1500].value = -7;
  pts[2999].value = 5;
  auto check = [&](MetricsStore& store) {
    auto sums = store.Summaries("2");
    ASSERT_EQ(sums.size(), 3u);
    EXPECT_EQ(sums[0].key, "a");
    EXPECT_EQ(sums[0].count, 3000u);
    EXPECT_EQ(sums[0].nan_count, 2u);
    EXPECT_EQ(sums[0].min, -7);
    EXPECT_EQ(sums[0].max, 5);
    EXPECT_TRUE(SameBits(sums[0].last, pts.back()));
    EXPECT_EQ(sums[1].key, "b");
    EXPECT_EQ(sums[1].count, 1u);
    EXPECT_TRUE(std::isnan(sums[1].min) && std::isnan(sums[1].max));
    EXPECT_EQ(sums[1].nan_count, 1u);
    EXPECT_EQ(sums[2].key, "c");
    EXPECT_EQ(sums[2].min, -kInf);
    EXPECT_EQ(sums[2].max, kInf);
  };
  {
    MetricsStore store(dir.path(), NoSync());
    // In two appends, so the summary is built incrementally across a block boundary.
    ASSERT_TRUE(store.Append("2", 1, 0, 10, {{"a", {pts.begin(), pts.begin() + 1100}}, {"b", {{0, 0, kNaN}}}}).ok());
    ASSERT_TRUE(store.Append("2", 1, 10, 20, {{"a", {pts.begin() + 1100, pts.end()}}, {"c", {{0, 0, kInf}, {1, 0, -kInf}}}}).ok());
    check(store);
  }
  MetricsStore reopened(dir.path(), NoSync());
  check(reopened);
  EXPECT_TRUE(reopened.Summaries("404").empty());
}

TEST(MetricsStore, IndexIsRebuiltWhenDeletedStaleOrShortAndReadsAgree) {
  testing::TempDir dir;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<Point> pts;
  for (int i = 0; i < 10 * 1024 + 17; ++i) pts.push_back({i, 0, u(rng)});
  {
    MetricsStore store(dir.path(), NoSync());
    ASSERT_TRUE(store.Append("1", 1, 0, 1, {{"x", pts}}).ok());
  }
  const fsys::path index = dir.path() / "1" / "x.index";
  const uint64_t full = FileSize(index);
  EXPECT_EQ(full, 16u + 10 * 88);
  const auto expect = DownsampleMinMax(pts, 100);
  auto check = [&] {
    MetricsStore store(dir.path(), NoSync());
    auto r = store.Read("1", "x", SeriesQuery{.max_points = 100});
    ASSERT_TRUE(r.ok()) << r.error().message;
    ExpectSameBits(r->points, expect);
    EXPECT_EQ(FileSize(index), full);
  };
  check();
  // Deleted.
  fsys::remove(index);
  check();
  // Short (a lost tail of entries): extended.
  fsys::resize_file(index, 16 + 3 * 88 + 40);
  check();
  // Stale: entries from other data, checksums and all.
  std::string good = *fs::ReadFile(index);
  {
    testing::TempDir other;
    MetricsStore store(other.path(), NoSync());
    auto shifted = pts;
    for (auto& p : shifted) p.value = -p.value;
    ASSERT_TRUE(store.Append("1", 1, 0, 1, {{"x", shifted}}).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(index, *fs::ReadFile(other.path() / "1" / "x.index")).ok());
  }
  check();
  EXPECT_EQ(*fs::ReadFile(index), good);
  // A damaged entry in the middle (its checksum no longer matches).
  std::string damaged = good;
  damaged[16 + 5 * 88 + 40] ^= 0x55;
  ASSERT_TRUE(fs::WriteFileAtomic(index, damaged).ok());
  check();
  EXPECT_EQ(*fs::ReadFile(index), good);
  // Garbage header.
  ASSERT_TRUE(fs::WriteFileAtomic(index, "nonsense").ok());
  check();
  EXPECT_EQ(*fs::ReadFile(index), good);
}

// The heart of the read path: min/max from the block index plus partial
// blocks equals DownsampleMinMax over the raw selected points.
TEST(MetricsStore, MinMaxReadFromTheBlockIndexEqualsDownsamplingTheRawPoints) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(-100, 100);
  std::uniform_int_distribution<int> pick(0, 999);
  std::vector<Point> pts;
  int64_t step = 0;
  for (int i = 0; i < 20 * 1024 + 500; ++i) {
    // Steps mostly rise, sometimes jump back (a resumed attempt re-logs steps).
    step = pick(rng) == 0 ? step - 300 : step + 1;
    double v = u(rng);
    const int r = pick(rng);
    if (r < 8) v = kNaN;
    else if (r < 10) v = kInf;
    else if (r < 12) v = -kInf;
    else if (r < 60) v = std::round(v / 50) * 50;  // ties
    pts.push_back({step, static_cast<double>(i), v});
  }
  // A whole NaN block too.
  for (int i = 4096; i < 5120; ++i) pts[static_cast<size_t>(i)].value = kNaN;
  // Append in uneven pieces.
  uint64_t off = 0;
  for (size_t at = 0; at < pts.size();) {
    const size_t n = std::min<size_t>(pts.size() - at, 1 + static_cast<size_t>(pick(rng)) * 7);
    auto r = store.Append("5", 1, off, off + n, {{"m", {pts.begin() + static_cast<long>(at), pts.begin() + static_cast<long>(at + n)}}});
    ASSERT_TRUE(r.ok()) << r.error().message;
    off += n;
    at += n;
  }
  const std::vector<std::pair<std::optional<int64_t>, std::optional<int64_t>>> ranges = {
      {std::nullopt, std::nullopt}, {1000, std::nullopt}, {std::nullopt, 7000}, {2500, 9000},
      {3000, 3100},                 {-5, 2},              {100000, std::nullopt}};
  for (int pass = 0; pass < 2; ++pass) {
    MetricsStore reopened(dir.path(), NoSync());
    MetricsStore& s = pass == 0 ? store : reopened;
    for (const auto& [lo, hi] : ranges) {
      std::vector<Point> sel;
      for (const Point& p : pts)
        if ((!lo || p.step >= *lo) && (!hi || p.step <= *hi)) sel.push_back(p);
      for (size_t max : {0u, 1u, 2u, 3u, 7u, 50u, 999u, 1000u, 5000u, 100000u}) {
        SeriesQuery q{.max_points = max, .method = DownsampleMethod::kMinMax, .min_step = lo, .max_step = hi};
        auto r = s.Read("5", "m", q);
        ASSERT_TRUE(r.ok()) << r.error().message;
        EXPECT_EQ(r->total, sel.size());
        SCOPED_TRACE("max " + std::to_string(max) + " lo " + std::to_string(lo.value_or(-1)));
        ExpectSameBits(r->points, DownsampleMinMax(sel, max));
        q.method = DownsampleMethod::kLttb;
        auto l = s.Read("5", "m", q);
        ASSERT_TRUE(l.ok());
        ExpectSameBits(l->points, DownsampleLttb(sel, max));
      }
    }
  }
}

TEST(MetricsStore, UnknownExperimentOrKeyIsNotFound) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  EXPECT_EQ(store.Read("1", "x", {}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(store.AcceptedLength("1", 1), 0u);
  EXPECT_FALSE(fsys::exists(dir.path() / "1"));  // lookups create nothing
  ASSERT_TRUE(store.Append("1", 1, 0, 1, {{"x", Points(0, 1)}}).ok());
  EXPECT_EQ(store.Read("1", "y", {}).error().code, ErrorCode::kNotFound);
}

TEST(MetricsStore, InvalidKeysAndBackwardRangesAreRefusedBeforeAnythingIsWritten) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  auto bad = store.Append("1", 1, 0, 10, {{"ok", Points(0, 1)}, {"bad\x01key", Points(0, 1)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("series 1"), std::string::npos);
  EXPECT_EQ(store.Append("1", 1, 10, 5, {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(store.AcceptedLength("1", 1), 0u);
  EXPECT_TRUE(store.Summaries("1").empty());
}

TEST(MetricsStore, OddAndLongKeysGetSafeDistinctFileNames) {
  EXPECT_EQ(MetricsStore::FileStem("train/loss"), "train%2Floss");
  EXPECT_EQ(MetricsStore::FileStem(".."), "..");
  EXPECT_EQ(MetricsStore::FileStem("a b%"), "a%20b%25");
  EXPECT_EQ(MetricsStore::FileStem("é"), "%C3%A9");
  const std::string long1(256, '/'), long2 = std::string(255, '/') + "x";
  EXPECT_LE(MetricsStore::FileStem(long1).size(), 200u);
  EXPECT_NE(MetricsStore::FileStem(long1), MetricsStore::FileStem(long2));

  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  ASSERT_TRUE(store.Append("1", 1, 0, 1, {{long1, Points(0, 2)}, {long2, Points(0, 3)}, {"..", Points(0, 4)}}).ok());
  MetricsStore reopened(dir.path(), NoSync());
  auto sums = reopened.Summaries("1");
  ASSERT_EQ(sums.size(), 3u);
  EXPECT_EQ(ReadAll(reopened, "1", long1).size(), 2u);
  EXPECT_EQ(ReadAll(reopened, "1", long2).size(), 3u);
  EXPECT_EQ(ReadAll(reopened, "1", "..").size(), 4u);
}

TEST(MetricsStore, ManyExperimentsBeyondTheCacheStayCorrect) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), MetricsStoreOptions{.fsync = false, .max_open_experiments = 2});
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 5; ++i) {
      const std::string e = "run/" + std::to_string(i);
      const uint64_t from = store.AcceptedLength(e, 1);
      ASSERT_TRUE(store.Append(e, 1, from, from + 10, {{"k", Points(round * 10, 10)}}).ok());
    }
  for (int i = 0; i < 5; ++i) {
    const std::string e = "run/" + std::to_string(i);
    EXPECT_EQ(store.AcceptedLength(e, 1), 30u);
    EXPECT_EQ(store.Summaries(e)[0].count, 30u);
  }
}

// A FileOps that fails on demand, as a full disk or a dying device would.
class FailingOps final : public FileOps {
 public:
  int writes_until_failure = -1;  // the Nth PWrite from now writes half its bytes, then fails
  int writes_failing_with = ENOSPC;
  bool fail_datasync = false, fail_rename = false, fail_fsync_dir = false;
  int writes = 0;

  Status PWrite(int fd, std::string_view data, uint64_t offset, const fsys::path& path) override {
    ++writes;
    if (writes_until_failure >= 0 && writes_until_failure-- == 0) {
      (void)FileOps::PWrite(fd, data.substr(0, data.size() / 2), offset, path);
      return Error(writes_failing_with == ENOSPC ? ErrorCode::kResourceExhausted : ErrorCode::kIo,
                   "cannot write " + path.string() + ": " + std::strerror(writes_failing_with));
    }
    return FileOps::PWrite(fd, data, offset, path);
  }
  Status DataSync(int fd, const fsys::path& path) override {
    if (fail_datasync) return Error(ErrorCode::kIo, "cannot sync " + path.string() + ": Input/output error");
    return FileOps::DataSync(fd, path);
  }
  Status Sync(int fd, const fsys::path& path) override {
    if (fail_fsync_dir && fsys::is_directory(path))
      return Error(ErrorCode::kIo, "cannot sync " + path.string() + ": Input/output error");
    return FileOps::Sync(fd, path);
  }
  Status Rename(const fsys::path& from, const fsys::path& to) override {
    if (fail_rename) return Error(ErrorCode::kIo, "cannot rename " + from.string() + ": Input/output error");
    return FileOps::Rename(from, to);
  }
};

class MetricsStoreFaults : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(store_.Append("1", 1, 0, 100, {{"a", Points(0, 1500)}, {"b", Points(0, 10)}}).ok());
    state_ = *fs::ReadFile(dir_.path() / "1" / "ingest.state");
  }
  // The committed state is as SetUp left it, in memory and on disk.
  void ExpectUntouched(MetricsStore& store) {
    EXPECT_EQ(store.AcceptedLength("1", 1), 100u);
    auto sums = store.Summaries("1");
    ASSERT_EQ(sums.size(), 2u);
    EXPECT_EQ(sums[0].count, 1500u);
    EXPECT_EQ(sums[1].count, 10u);
    EXPECT_EQ(FileSize(dir_.path() / "1" / "a.series"), 1500u * 24);
    EXPECT_EQ(FileSize(dir_.path() / "1" / "b.series"), 10u * 24);
    EXPECT_EQ(*fs::ReadFile(dir_.path() / "1" / "ingest.state"), state_);
    ExpectSameBits(ReadAll(store, "1", "a"), Points(0, 1500));
  }
  // A retry of the failed append succeeds and lands once; so does a reopen.
  void ExpectCleanRetry() {
    ops_.writes_until_failure = -1;
    ops_.fail_datasync = ops_.fail_rename = ops_.fail_fsync_dir = false;
    auto r = store_.Append("1", 1, 100, 200, Next());
    ASSERT_TRUE(r.ok()) << r.error().message;
    MetricsStore reopened(dir_.path(), {});
    auto sums = reopened.Summaries("1");
    ASSERT_EQ(sums.size(), 3u);
    EXPECT_EQ(sums[0].count, 2500u);
    EXPECT_EQ(sums[2].key, "c");
    auto all = Points(0, 2500);
    ExpectSameBits(ReadAll(reopened, "1", "a"), all);
  }
  static std::vector<SeriesBatch> Next() { return {{"a", Points(1500, 1000)}, {"b", Points(10, 5)}, {"c", Points(0, 5)}}; }

  testing::TempDir dir_;
  FailingOps ops_;
  MetricsStore store_{dir_.path(), MetricsStoreOptions{.file_ops = &ops_}};
  std::string state_;
};

TEST_F(MetricsStoreFaults, FullDiskWhileWritingPointsIsResourceExhaustedAndRollsBack) {
  for (int nth = 0; nth < 3; ++nth) {
    ops_.writes_until_failure = nth;
    auto r = store_.Append("1", 1, 100, 200, Next());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
    EXPECT_NE(r.error().message.find("No space left on device"), std::string::npos) << r.error().message;
    ExpectUntouched(store_);
  }
  ExpectCleanRetry();
}

TEST_F(MetricsStoreFaults, FullDiskWhileWritingTheCommitRecordRollsBack) {
  ops_.writes_until_failure = 3;  // a, b, c, then ingest.state.tmp
  auto r = store_.Append("1", 1, 100, 200, Next());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  ExpectUntouched(store_);
  ExpectCleanRetry();
}

TEST_F(MetricsStoreFaults, AFailedDataSyncIsAnIoErrorAndRollsBack) {
  ops_.fail_datasync = true;
  auto r = store_.Append("1", 1, 100, 200, Next());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_NE(r.error().message.find("cannot sync"), std::string::npos);
  ExpectUntouched(store_);
  ExpectCleanRetry();
}

TEST_F(MetricsStoreFaults, AFailedRenameOfTheCommitRecordRollsBack) {
  ops_.fail_rename = true;
  auto r = store_.Append("1", 1, 100, 200, Next());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  ExpectUntouched(store_);
  MetricsStore reopened(dir_.path(), {});
  ExpectUntouched(reopened);
  ExpectCleanRetry();
}

TEST_F(MetricsStoreFaults, AFailedDirectorySyncAfterTheRenameKeepsTheCommitAndSaysSo) {
  ops_.fail_fsync_dir = true;
  auto r = store_.Append("1", 1, 100, 200, Next());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("may not be durable"), std::string::npos);
  EXPECT_EQ(store_.AcceptedLength("1", 1), 200u);  // a resend is answered with 409 and the new length
  EXPECT_EQ(store_.Summaries("1")[0].count, 2500u);
}

TEST_F(MetricsStoreFaults, IndexWriteFailuresDoNotFailAppendsAndHealLater) {
  // Each append of one key writes the points, the commit record, then the
  // index; from the second append on, the index write (the third) fails.
  uint64_t off = 100;
  for (int i = 0; i < 6; ++i) {
    ops_.writes_until_failure = i == 0 ? -1 : 2;
    ASSERT_TRUE(store_.Append("1", 1, off, off + 1, {{"a", Points(1500 + i * 500, 500)}}).ok());
    off += 1;
    auto r = store_.Read("1", "a", SeriesQuery{.max_points = 64});
    ASSERT_TRUE(r.ok());
    ExpectSameBits(r->points, DownsampleMinMax(Points(0, 2000 + i * 500), 64));
  }
  EXPECT_LT(FileSize(dir_.path() / "1" / "a.index"), 16u + 4 * 88);
  ops_.writes_until_failure = -1;
  MetricsStore reopened(dir_.path(), {});
  auto r = reopened.Read("1", "a", SeriesQuery{.max_points = 64});
  ASSERT_TRUE(r.ok());
  ExpectSameBits(r->points, DownsampleMinMax(Points(0, 4500), 64));
  EXPECT_EQ(FileSize(dir_.path() / "1" / "a.index"), 16u + 4 * 88);
}

}  // namespace
}  // namespace lattice::metrics
