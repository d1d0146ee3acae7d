#include "metrics/series_store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <random>

#include "common/fs.h"
#include "common/json.h"
#include "common/test_util.h"
#include "metrics/downsample.h"

#if defined(__SANITIZE_ADDRESS__)
#define LATTICE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LATTICE_SANITIZED 1
#endif
#endif

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

// ---------------------------------------------------------------- resumed attempts

// A point as an attempt logged it; time carries the attempt, so reads show
// which attempt a point came from.
struct Logged {
  int64_t attempt;
  Point p;
};

std::vector<Point> AttemptPoints(int64_t attempt, int64_t first_step, size_t n) {
  std::vector<Point> v;
  for (size_t i = 0; i < n; ++i) {
    const int64_t step = first_step + static_cast<int64_t>(i);
    const double value = std::sin(static_cast<double>(step)) + static_cast<double>(attempt) * 10;
    v.push_back({step, static_cast<double>(attempt), value});
  }
  return v;
}

// Appends `pts` as attempt `attempt` (one stream byte per point) and records
// them in `log` in stored order.
// `generation` as Append takes it (0: the attempt itself).
void AppendAs(MetricsStore& store, std::vector<Logged>& log, const std::string& exp, int64_t attempt,
              const std::vector<Point>& pts, const std::string& key = "loss", int64_t generation = 0) {
  const uint64_t from = store.AcceptedLength(exp, attempt);
  auto r = store.Append(exp, attempt, from, from + pts.size(), {{key, pts}}, generation);
  ASSERT_TRUE(r.ok()) << r.error().message;
  for (const Point& p : pts) log.push_back({generation ? generation : attempt, p});
}

// The rule by brute force: a point stays unless a later attempt logged a
// step <= its step anywhere in the series.
std::vector<Point> LiveView(const std::vector<Logged>& log) {
  std::map<int64_t, int64_t> min_of;
  for (const Logged& l : log) {
    auto [it, fresh] = min_of.emplace(l.attempt, l.p.step);
    if (!fresh) it->second = std::min(it->second, l.p.step);
  }
  std::vector<Point> out;
  for (const Logged& l : log) {
    bool live = true;
    for (auto it = min_of.upper_bound(l.attempt); it != min_of.end(); ++it) live = live && l.p.step < it->second;
    if (live) out.push_back(l.p);
  }
  return out;
}

// Every read path of the store agrees with `want` (the live points in
// stored order): raw, step ranges, min/max and LTTB downsampling at several
// sizes, and the summary's count, last, extremes and NaN count.
void ExpectReadsShow(MetricsStore& store, const std::string& exp, const std::string& key,
                     const std::vector<Point>& want) {
  ExpectSameBits(ReadAll(store, exp, key), want);
  int64_t lo_step = 0, hi_step = 0;
  for (const Point& p : want) lo_step = std::min(lo_step, p.step), hi_step = std::max(hi_step, p.step);
  const int64_t mid = (lo_step + hi_step) / 2;
  const std::vector<std::pair<std::optional<int64_t>, std::optional<int64_t>>> ranges = {
      {std::nullopt, std::nullopt}, {mid, std::nullopt}, {std::nullopt, mid}, {lo_step + 1, mid + 7}, {mid, mid}};
  for (const auto& [lo, hi] : ranges) {
    std::vector<Point> sel;
    for (const Point& p : want)
      if ((!lo || p.step >= *lo) && (!hi || p.step <= *hi)) sel.push_back(p);
    for (size_t max : {1u, 2u, 5u, 64u, 1000u, 1000000u}) {
      SCOPED_TRACE("max " + std::to_string(max) + " lo " + std::to_string(lo.value_or(-1)) + " hi " +
                   std::to_string(hi.value_or(-1)));
      SeriesQuery q{.max_points = max, .method = DownsampleMethod::kMinMax, .min_step = lo, .max_step = hi};
      auto r = store.Read(exp, key, q);
      ASSERT_TRUE(r.ok()) << r.error().message;
      EXPECT_EQ(r->total, sel.size());
      ExpectSameBits(r->points, DownsampleMinMax(sel, max));
      q.method = DownsampleMethod::kLttb;
      auto l = store.Read(exp, key, q);
      ASSERT_TRUE(l.ok()) << l.error().message;
      EXPECT_EQ(l->total, sel.size());
      ExpectSameBits(l->points, DownsampleLttb(sel, max));
    }
  }
  SeriesSummary sum;
  for (const SeriesSummary& s : store.Summaries(exp))
    if (s.key == key) sum = s;
  ASSERT_EQ(sum.key, key);
  EXPECT_EQ(sum.count, want.size());
  if (!want.empty()) {
    EXPECT_TRUE(SameBits(sum.last, want.back()));
  }
  double mn = kNaN, mx = kNaN;
  uint64_t nans = 0;
  for (const Point& p : want) {
    if (std::isnan(p.value)) {
      ++nans;
    } else {
      mn = std::isnan(mn) ? p.value : std::min(mn, p.value);
      mx = std::isnan(mx) ? p.value : std::max(mx, p.value);
    }
  }
  EXPECT_EQ(sum.nan_count, nans);
  if (std::isnan(mn)) {
    EXPECT_TRUE(std::isnan(sum.min) && std::isnan(sum.max));
  } else {
    EXPECT_EQ(sum.min, mn);
    EXPECT_EQ(sum.max, mx);
  }
}

std::vector<Point> Concat(std::initializer_list<std::vector<Point>> parts) {
  std::vector<Point> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(MetricsStoreResume, AResumedAttemptsStepsReplaceTheEarlierAttemptsFromTheResumeStepOn) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::vector<Logged> log;
  // Attempt 7 logs steps 0..2999 and dies; its points from 2000 on carry the
  // extremes, so a summary that still saw them would show it.
  auto first = AttemptPoints(7, 0, 3000);
  for (size_t i = 2000; i < 3000; ++i) first[i].value = i % 2 ? 1e6 : -1e6;
  first[2500].value = kNaN;
  AppendAs(store, log, "1", 7, first);
  ExpectReadsShow(store, "1", "loss", first);
  // Attempt 9 resumes from the checkpoint at step 1999.
  const auto second = AttemptPoints(9, 2000, 3000);
  AppendAs(store, log, "1", 9, second);
  const auto want = Concat({{first.begin(), first.begin() + 2000}, second});
  ASSERT_EQ(LiveView(log).size(), want.size());
  ExpectReadsShow(store, "1", "loss", want);
  // Step by step: 2000..4999 once each, all from attempt 9.
  auto r = store.Read("1", "loss", SeriesQuery{.max_points = 100000, .min_step = 1990, .max_step = 2010});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->points.size(), 21u);
  for (size_t i = 0; i < 21; ++i) {
    EXPECT_EQ(r->points[i].step, 1990 + static_cast<int64_t>(i));
    EXPECT_EQ(r->points[i].time, i < 10 ? 7 : 9);
  }
  const auto sum = store.Summaries("1")[0];
  EXPECT_EQ(sum.count, 5000u);
  EXPECT_EQ(sum.last.step, 4999);
  EXPECT_EQ(sum.nan_count, 0u);
  EXPECT_LT(sum.max, 1e6);
}

TEST(MetricsStoreResume, PointsOfTheEarlierAttemptBeforeTheResumeStepStay) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::vector<Logged> log;
  const auto first = AttemptPoints(1, 0, 1000);
  AppendAs(store, log, "1", 1, first);
  AppendAs(store, log, "1", 2, AttemptPoints(2, 500, 10));
  auto r = store.Read("1", "loss", SeriesQuery{.max_points = 100000, .max_step = 499});
  ASSERT_TRUE(r.ok());
  ExpectSameBits(r->points, {first.begin(), first.begin() + 500});
  EXPECT_EQ(r->total, 500u);
  ExpectReadsShow(store, "1", "loss", LiveView(log));
  EXPECT_EQ(store.Summaries("1")[0].count, 510u);
  // Other keys of the experiment are judged by their own points: attempt 2
  // has logged nothing there yet.
  AppendAs(store, log, "1", 1, AttemptPoints(1, 0, 1000), "acc");
  EXPECT_EQ(ReadAll(store, "1", "acc").size(), 1000u);
}

TEST(MetricsStoreResume, ThreeAttemptsEachReplaceTheirPredecessorsFromTheirResumeStep) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  {  // Resuming later each time: 0..599 from 1, 600..1199 from 2, 1200..2199 from 3.
    std::vector<Logged> log;
    const auto a = AttemptPoints(1, 0, 1000), b = AttemptPoints(2, 600, 900), c = AttemptPoints(3, 1200, 1000);
    AppendAs(store, log, "1", 1, a);
    AppendAs(store, log, "1", 2, b);
    AppendAs(store, log, "1", 3, c);
    const auto want = Concat({{a.begin(), a.begin() + 600}, {b.begin(), b.begin() + 600}, c});
    ExpectSameBits(LiveView(log), want);
    ExpectReadsShow(store, "1", "loss", want);
  }
  {  // The third resumes from an older checkpoint than the second: 2 is gone.
    std::vector<Logged> log;
    const auto a = AttemptPoints(1, 0, 1000), b = AttemptPoints(2, 600, 900), c = AttemptPoints(3, 300, 1700);
    AppendAs(store, log, "2", 1, a);
    AppendAs(store, log, "2", 2, b);
    AppendAs(store, log, "2", 3, c);
    const auto want = Concat({{a.begin(), a.begin() + 300}, c});
    ExpectSameBits(LiveView(log), want);
    ExpectReadsShow(store, "2", "loss", want);
  }
}

TEST(MetricsStoreResume, ALaterAttemptsLowerStepArrivingInASecondAppendStillSupersedes) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::vector<Logged> log;
  const auto a = AttemptPoints(1, 0, 3000);
  AppendAs(store, log, "1", 1, a);
  const auto b1 = AttemptPoints(2, 2500, 100);
  AppendAs(store, log, "1", 2, b1);
  ExpectReadsShow(store, "1", "loss", Concat({{a.begin(), a.begin() + 2500}, b1}));
  // The same attempt then logs lower steps (e.g. a re-evaluation): attempt
  // 1's points from 1200 on go too; attempt 2's own points all stay.
  const auto b2 = AttemptPoints(2, 1200, 50);
  AppendAs(store, log, "1", 2, b2);
  const auto want = Concat({{a.begin(), a.begin() + 1200}, b1, b2});
  ExpectSameBits(LiveView(log), want);
  ExpectReadsShow(store, "1", "loss", want);
  MetricsStore reopened(dir.path(), NoSync());
  ExpectReadsShow(reopened, "1", "loss", want);
}

TEST(MetricsStoreResume, OutOfOrderStepsWithinOneAttemptAreAllKept) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::vector<Logged> log;
  const auto a = AttemptPoints(4, 0, 2000), b = AttemptPoints(4, 100, 1500), c = AttemptPoints(4, 5, 1);
  AppendAs(store, log, "1", 4, a);
  AppendAs(store, log, "1", 4, b);
  AppendAs(store, log, "1", 4, {c[0], a[7], c[0]});
  const auto want = Concat({a, b, c, {a[7]}, c});
  ExpectSameBits(LiveView(log), want);
  ExpectReadsShow(store, "1", "loss", want);
  MetricsStore reopened(dir.path(), NoSync());
  ExpectReadsShow(reopened, "1", "loss", want);
  // A later attempt that resumes at 1000 supersedes attempt 4's steps >= 1000
  // wherever they lie, and keeps its repeated low steps.
  AppendAs(store, log, "1", 5, AttemptPoints(5, 1000, 10));
  EXPECT_EQ(LiveView(log).size(), 1000u + 900 + 3 + 10);
  ExpectReadsShow(store, "1", "loss", LiveView(log));
}

TEST(MetricsStoreResume, ReopenAfterTheCommitKeepsTheSupersede) {
  testing::TempDir dir;
  std::vector<Logged> log;
  {
    MetricsStore store(dir.path(), {});
    AppendAs(store, log, "1", 1, AttemptPoints(1, 0, 5000));
    AppendAs(store, log, "1", 2, AttemptPoints(2, 3000, 3000));
    AppendAs(store, log, "1", 3, AttemptPoints(3, 4000, 100));
  }
  const auto want = LiveView(log);
  ASSERT_EQ(want.size(), 4100u);
  MetricsStore reopened(dir.path(), {});
  ExpectReadsShow(reopened, "1", "loss", want);
  // The runs are in the commit record.
  const Json state = Json::parse(*fs::ReadFile(dir.path() / "1" / "ingest.state"));
  EXPECT_EQ(state["runs"]["loss"], Json::parse("[[0,1,0],[5000,2,3000],[8000,3,4000]]"));
  // And a further append after the reopen goes on from there.
  AppendAs(reopened, log, "1", 3, AttemptPoints(3, 3500, 1));
  ExpectReadsShow(reopened, "1", "loss", LiveView(log));
}

TEST(MetricsStoreResume, AnEarlierAttemptsSpoolArrivingLateIsJudgedByTheSameRule) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::vector<Logged> log;
  AppendAs(store, log, "1", 1, AttemptPoints(1, 0, 400));
  AppendAs(store, log, "1", 2, AttemptPoints(2, 500, 1500));
  // Attempt 1's agent ships the rest of its spool only now: steps 400..499
  // stay (attempt 2 resumed at 500), 500..1199 are superseded on arrival.
  const auto late = AttemptPoints(1, 400, 800);
  AppendAs(store, log, "1", 1, late);
  auto want = LiveView(log);
  ASSERT_EQ(want.size(), 400u + 1500 + 100);
  ExpectReadsShow(store, "1", "loss", want);
  EXPECT_TRUE(SameBits(store.Summaries("1")[0].last, late[99]));  // the last live point in stored order
  AppendAs(store, log, "1", 2, AttemptPoints(2, 2000, 5));
  AppendAs(store, log, "1", 1, AttemptPoints(1, 1200, 5));
  ExpectReadsShow(store, "1", "loss", LiveView(log));
  MetricsStore reopened(dir.path(), NoSync());
  ExpectReadsShow(reopened, "1", "loss", LiveView(log));
}

// A multi-node gang's parts (ids 11 and 12 of gang 10) send their points
// on streams of their own, as one generation: the same keys and steps from
// both nodes all stay. The gang that runs next (20: parts 21, 22) supersedes
// both parts' points from its resume step on.
TEST(MetricsStoreResume, PartsOfOneGangNeverSupersedeEachOtherButTheNextGangSupersedesThemAll) {
  testing::TempDir dir;
  MetricsStore store(dir.path(), NoSync());
  std::vector<Logged> log;
  const auto n0 = AttemptPoints(11, 0, 1500), n1 = AttemptPoints(12, 0, 1500);
  AppendAs(store, log, "1", 11, {n0.begin(), n0.begin() + 700}, "system/cpu_percent", 10);
  AppendAs(store, log, "1", 12, n1, "system/cpu_percent", 10);
  AppendAs(store, log, "1", 11, {n0.begin() + 700, n0.end()}, "system/cpu_percent", 10);
  const auto both = Concat({{n0.begin(), n0.begin() + 700}, n1, {n0.begin() + 700, n0.end()}});
  ExpectSameBits(LiveView(log), both);
  ExpectReadsShow(store, "1", "system/cpu_percent", both);
  EXPECT_EQ(store.AcceptedLength("1", 11), 1500u);  // the streams stay the parts'
  EXPECT_EQ(store.AcceptedLength("1", 12), 1500u);
  EXPECT_EQ(store.AcceptedLength("1", 10), 0u);

  const auto m0 = AttemptPoints(21, 1000, 100), m1 = AttemptPoints(22, 1000, 100);
  AppendAs(store, log, "1", 22, m1, "system/cpu_percent", 20);
  AppendAs(store, log, "1", 21, m0, "system/cpu_percent", 20);
  const auto want = Concat({{n0.begin(), n0.begin() + 700}, {n1.begin(), n1.begin() + 1000},
                            {n0.begin() + 700, n0.begin() + 1000}, m1, m0});
  ExpectSameBits(LiveView(log), want);
  ExpectReadsShow(store, "1", "system/cpu_percent", want);
  MetricsStore reopened(dir.path(), NoSync());
  ExpectReadsShow(reopened, "1", "system/cpu_percent", want);
}

// Random attempts, resume steps, batch sizes, step orders and values (NaN,
// infinities) across several keys: every read path equals the brute-force
// rule, before and after a reopen.
TEST(MetricsStoreResume, RandomAttemptsAndAppendsReadLikeTheRuleByBruteForce) {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 12; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    testing::TempDir dir;
    MetricsStore store(dir.path(), NoSync());
    std::map<std::string, std::vector<Logged>> logs;
    int64_t attempt = 1;
    std::vector<int64_t> attempts = {1};
    int64_t step = 0;
    const int appends = 5 + static_cast<int>(rng() % 25);
    for (int i = 0; i < appends; ++i) {
      const int what = static_cast<int>(rng() % 10);
      int64_t as = attempt;
      if (what < 2) {  // a restart from some earlier step
        attempt += 1 + static_cast<int64_t>(rng() % 3);
        attempts.push_back(attempt);
        as = attempt;
        step = std::max<int64_t>(0, step - static_cast<int64_t>(rng() % 3000));
      } else if (what == 2 && attempts.size() > 1) {  // an earlier attempt's late points
        as = attempts[rng() % (attempts.size() - 1)];
      }
      const std::string key = rng() % 4 == 0 ? "b" : "a";
      std::vector<Point> pts;
      const size_t n = 1 + rng() % (rng() % 3 == 0 ? 2500 : 200);
      int64_t s = as == attempt ? step : static_cast<int64_t>(rng() % 4000);
      for (size_t k = 0; k < n; ++k) {
        const int r = static_cast<int>(rng() % 200);
        s = r == 0 ? s - static_cast<int64_t>(rng() % 50) : s + 1;
        double v = std::uniform_real_distribution<double>(-5, 5)(rng);
        if (r == 1) v = kNaN;
        if (r == 2) v = kInf;
        if (r == 3) v = -kInf;
        pts.push_back({s, static_cast<double>(as), v});
      }
      if (as == attempt) step = s + 1;
      AppendAs(store, logs[key], "x", as, pts, key);
      if (HasFatalFailure()) return;
    }
    for (int pass = 0; pass < 2; ++pass) {
      MetricsStore reopened(dir.path(), NoSync());
      MetricsStore& s = pass == 0 ? store : reopened;
      for (const auto& [key, log] : logs) {
        SCOPED_TRACE("key " + key + " pass " + std::to_string(pass));
        ExpectReadsShow(s, "x", key, LiveView(log));
      }
    }
  }
}

TEST(MetricsStoreResume, ACrashBeforeTheCommitLeavesTheOldView) {
  testing::TempDir dir;
  const auto a = AttemptPoints(1, 0, 3000);
  {
    MetricsStore store(dir.path(), {});
    ASSERT_TRUE(store.Append("1", 1, 0, 3000, {{"loss", a}}).ok());
  }
  const std::string state = *fs::ReadFile(dir.path() / "1" / "ingest.state");
  // The process dies between syncing the points and the commit record and
  // renaming it: the resumed attempt's points are on disk, uncommitted.
  class DieBeforeCommit final : public FileOps {
   public:
    Status Rename(const fsys::path& from, const fsys::path& to) override {
      if (to.filename() == "ingest.state") ::_exit(0);
      return FileOps::Rename(from, to);
    }
  };
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    DieBeforeCommit ops;
    MetricsStore store(dir.path(), MetricsStoreOptions{.file_ops = &ops});
    (void)store.Append("1", 2, 0, 1000, {{"loss", AttemptPoints(2, 1000, 1000)}, {"lr", AttemptPoints(2, 1000, 3)}});
    ::_exit(5);
  }
  int status;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the append did not reach the commit: " << status;
  EXPECT_EQ(FileSize(dir.path() / "1" / "loss.series"), 4000u * 24);  // written, not committed
  EXPECT_TRUE(fsys::exists(dir.path() / "1" / "ingest.state.tmp"));

  MetricsStore store(dir.path(), {});
  EXPECT_EQ(store.AcceptedLength("1", 2), 0u);
  ExpectReadsShow(store, "1", "loss", a);
  EXPECT_EQ(store.Summaries("1").size(), 1u);
  EXPECT_EQ(FileSize(dir.path() / "1" / "loss.series"), 3000u * 24);
  EXPECT_EQ(*fs::ReadFile(dir.path() / "1" / "ingest.state"), state);
  // The agent resends; now it supersedes.
  const auto b = AttemptPoints(2, 1000, 1000);
  ASSERT_TRUE(store.Append("1", 2, 0, 1000, {{"loss", b}}).ok());
  ExpectReadsShow(store, "1", "loss", Concat({{a.begin(), a.begin() + 1000}, b}));
}

// Kills a writer process at random moments while it runs attempt after
// attempt, each resuming 500 steps before the previous one's end; after each
// kill the reopened store shows exactly the live view of what was accepted.
TEST(MetricsStoreResume, AWriterKilledAtRandomMomentsWhileAttemptsResumeLeavesAConsistentView) {
  testing::TempDir dir;
  constexpr uint64_t kPerAttempt = 1500;
  auto start_of = [](int64_t attempt) { return (attempt - 1) * 1000; };
  // The attempt to write next and how far it is (one stream byte per point).
  auto position = [&](MetricsStore& store) {
    int64_t a = 1;
    while (store.AcceptedLength("1", a + 1) > 0) ++a;
    const uint64_t off = store.AcceptedLength("1", a);
    return off < kPerAttempt ? std::pair{a, off} : std::pair{a + 1, uint64_t{0}};
  };
  std::mt19937_64 rng(23);
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      MetricsStore store(dir.path(), NoSync());
      auto [attempt, off] = position(store);
      for (;;) {
        const size_t n = std::min<uint64_t>(1 + (off * 7 + static_cast<uint64_t>(attempt)) % 211, kPerAttempt - off);
        const auto pts = AttemptPoints(attempt, start_of(attempt) + static_cast<int64_t>(off), n);
        auto r = store.Append("1", attempt, off, off + n, {{"k", pts}, {"j", {pts[0]}}});
        if (!r.ok()) ::_exit(3);
        off = *r;
        const uint64_t ack[2] = {static_cast<uint64_t>(attempt), off};
        if (::write(fds[1], ack, sizeof ack) != sizeof ack) ::_exit(4);
        if (off == kPerAttempt) ++attempt, off = 0;
      }
    }
    ::close(fds[1]);
    uint64_t acked[2] = {0, 0}, v[2];
    const int acks = 10 + static_cast<int>(rng() % 60);
    for (int i = 0; i < acks && ::read(fds[0], v, sizeof v) == sizeof v; ++i) std::memcpy(acked, v, sizeof v);
    ::usleep(static_cast<useconds_t>(rng() % 3000));
    ::kill(pid, SIGKILL);
    while (::read(fds[0], v, sizeof v) == sizeof v) std::memcpy(acked, v, sizeof v);
    ::close(fds[0]);
    int status;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << status;

    MetricsStore store(dir.path(), NoSync());
    if (acked[0] > 0) {
      EXPECT_GE(store.AcceptedLength("1", static_cast<int64_t>(acked[0])), acked[1]);
    }
    std::vector<Logged> log, jlog;
    for (int64_t a = 1; store.AcceptedLength("1", a) > 0; ++a) {
      const uint64_t len = store.AcceptedLength("1", a);
      for (const Point& p : AttemptPoints(a, start_of(a), len)) log.push_back({a, p});
    }
    const auto want = LiveView(log);
    const auto got = ReadAll(store, "1", "k");
    ASSERT_EQ(got.size(), want.size());
    ExpectSameBits(got, want);
    auto sums = store.Summaries("1");
    ASSERT_EQ(sums.size(), got.empty() ? 0u : 2u);
    if (!got.empty()) {
      EXPECT_EQ(sums[1].key, "k");
      EXPECT_EQ(sums[1].count, want.size());
      EXPECT_TRUE(SameBits(sums[1].last, want.back()));
    }
  }
}

TEST(MetricsStoreResume, AStateFileWithoutRunsFromAnOlderVersionStillLoads) {
  testing::TempDir dir;
  const auto a = AttemptPoints(3, 0, 2500);
  {
    MetricsStore store(dir.path(), NoSync());
    ASSERT_TRUE(store.Append("1", 3, 0, 10, {{"loss", a}, {"lr", Points(0, 5)}}).ok());
  }
  // What the previous version wrote: format 1, no "runs".
  const fsys::path state = dir.path() / "1" / "ingest.state";
  Json j = Json::parse(*fs::ReadFile(state));
  j.erase("runs");
  j["format"] = 1;
  ASSERT_TRUE(fs::WriteFileAtomic(state, j.dump() + "\n").ok());

  MetricsStore store(dir.path(), NoSync());
  EXPECT_EQ(store.AcceptedLength("1", 3), 10u);
  ExpectReadsShow(store, "1", "loss", a);
  EXPECT_EQ(ReadAll(store, "1", "lr").size(), 5u);
  // Its points count as attempt 3's (the only attempt): attempt 3 goes on
  // without losing any, and a resumed attempt 4 supersedes from its step on.
  ASSERT_TRUE(store.Append("1", 3, 10, 11, {{"loss", AttemptPoints(3, 100, 1)}}).ok());
  EXPECT_EQ(store.Summaries("1")[0].count, 2501u);
  const auto b = AttemptPoints(4, 2000, 10);
  ASSERT_TRUE(store.Append("1", 4, 0, 1, {{"loss", b}}).ok());
  const auto want = Concat({{a.begin(), a.begin() + 2000}, AttemptPoints(3, 100, 1), b});
  ExpectReadsShow(store, "1", "loss", want);
  MetricsStore reopened(dir.path(), NoSync());
  ExpectReadsShow(reopened, "1", "loss", want);
  EXPECT_EQ(Json::parse(*fs::ReadFile(state))["runs"]["loss"], Json::parse("[[0,3,0],[2501,4,2000]]"));
}

TEST(MetricsStoreResume, AMalformedRunsEntryIsACorruptStateNotAGuess) {
  testing::TempDir dir;
  {
    MetricsStore store(dir.path(), NoSync());
    ASSERT_TRUE(store.Append("1", 1, 0, 10, {{"loss", Points(0, 10)}}).ok());
    ASSERT_TRUE(store.Append("1", 2, 0, 10, {{"loss", Points(5, 10)}}).ok());
  }
  const fsys::path state = dir.path() / "1" / "ingest.state";
  const Json good = Json::parse(*fs::ReadFile(state));
  for (const char* bad : {"[[0,1,0],[0,2,5]]", "[[3,1,0]]", "[[0,1]]", "{\"0\":1}", "[[0,\"1\",0]]", "[[-1,1,0]]"}) {
    Json j = good;
    j["runs"]["loss"] = Json::parse(bad);
    ASSERT_TRUE(fs::WriteFileAtomic(state, j.dump()).ok());
    MetricsStore store(dir.path(), NoSync());
    auto r = store.Read("1", "loss", All());
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kIo);
    EXPECT_NE(r.error().message.find("bad runs entry \"loss\""), std::string::npos) << r.error().message;
  }
  Json j = good;
  j["runs"]["nope"] = Json::parse("[[0,1,0]]");
  ASSERT_TRUE(fs::WriteFileAtomic(state, j.dump()).ok());
  EXPECT_FALSE(MetricsStore(dir.path(), NoSync()).Read("1", "loss", All()).ok());
  // A minimum step that disagrees with the data is recomputed from it.
  j = good;
  j["runs"]["loss"][1][2] = -100;
  ASSERT_TRUE(fs::WriteFileAtomic(state, j.dump()).ok());
  MetricsStore store(dir.path(), NoSync());
  ExpectReadsShow(store, "1", "loss", Concat({Points(0, 5), Points(5, 10)}));
}

// 1,000,000 records, two restarts: reads go by the block index and scan only
// the blocks around the resume points (and the bucket edges, as without
// restarts), so they take about as long as on a series of the same size that
// never restarted; the summary is kept, not recomputed per call.
TEST(MetricsStoreResume, ALargeSeriesWithTwoRestartsReadsAsFastAsOneWithout) {
  testing::TempDir dir;
  std::vector<Logged> log, flat_log;
  {
    MetricsStore store(dir.path(), NoSync());
    auto add = [&](const std::string& exp, std::vector<Logged>& to, int64_t attempt, int64_t first, size_t n) {
      for (size_t done = 0; done < n; done += 100000) {
        const size_t m = std::min<size_t>(100000, n - done);
        AppendAs(store, to, exp, attempt, AttemptPoints(attempt, first + static_cast<int64_t>(done), m));
      }
    };
    add("resumed", log, 1, 0, 400000);       // dies at 399,999
    add("resumed", log, 2, 300000, 400000);  // resumes at 300,000, dies at 699,999
    add("resumed", log, 3, 650000, 200000);  // resumes at 650,000
    add("flat", flat_log, 1, 0, 1000000);
  }
  const auto want = LiveView(log);
  ASSERT_EQ(want.size(), 850000u);
  using Clock = std::chrono::steady_clock;
  auto ms = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
  auto best_of = [&](auto&& f) {
    double best = 1e9;
    for (int i = 0; i < 7; ++i) {
      const auto t0 = Clock::now();
      f();
      best = std::min(best, ms(t0));
    }
    return best;
  };

  MetricsStore store(dir.path(), NoSync());
  const auto t0 = Clock::now();
  auto sums = store.Summaries("resumed");
  const double open_ms = ms(t0);
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0].count, 850000u);
  EXPECT_TRUE(SameBits(sums[0].last, want.back()));

  const std::vector<std::pair<const char*, SeriesQuery>> queries = {
      {"min/max to 1000", SeriesQuery{.max_points = 1000}},
      {"min/max to 100", SeriesQuery{.max_points = 100}},
      {"zoomed min/max to 1000", SeriesQuery{.max_points = 1000, .min_step = 250000, .max_step = 750000}},
      {"lttb to 1000", SeriesQuery{.max_points = 1000, .method = DownsampleMethod::kLttb}},
  };
  for (const auto& [name, query] : queries) {
    SCOPED_TRACE(name);
    const SeriesQuery& q = query;  // a structured binding cannot be captured by the lambdas below in clang 14
    std::vector<Point> sel;
    for (const Point& p : want)
      if (p.step >= q.min_step.value_or(INT64_MIN) && p.step <= q.max_step.value_or(INT64_MAX)) sel.push_back(p);
    auto r = store.Read("resumed", "loss", q);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->total, sel.size());
    ExpectSameBits(r->points, q.method == DownsampleMethod::kLttb ? DownsampleLttb(sel, q.max_points)
                                                                  : DownsampleMinMax(sel, q.max_points));
    const double resumed_ms = best_of([&] { (void)store.Read("resumed", "loss", q); });
    const double flat_ms = best_of([&] { (void)store.Read("flat", "loss", q); });
    std::printf("%s: 1M records with 2 restarts %.3f ms, without restarts %.3f ms\n", name, resumed_ms, flat_ms);
#ifndef LATTICE_SANITIZED  // timings are not meaningful under sanitizers
    EXPECT_LT(resumed_ms, 2 * flat_ms + 1);
#endif
  }
  const double summary_ms = best_of([&] { (void)store.Summaries("resumed"); });
  std::printf("summary: first (open and recompute) %.2f ms, then %.4f ms\n", open_ms, summary_ms);
#ifndef LATTICE_SANITIZED
  EXPECT_LT(summary_ms, 1.0);
#endif
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

TEST_F(MetricsStoreFaults, AFailedAppendOfAResumedAttemptKeepsTheEarlierViewAndRetriesCleanly) {
  const auto resumed = AttemptPoints(2, 1000, 1000);
  for (int mode = 0; mode < 4; ++mode) {
    SCOPED_TRACE("mode " + std::to_string(mode));
    ops_.writes_until_failure = mode == 0 ? 0 : mode == 1 ? 1 : -1;  // the points, the commit record
    ops_.fail_datasync = mode == 2;
    ops_.fail_rename = mode == 3;
    auto r = store_.Append("1", 2, 0, 100, {{"a", resumed}});
    ASSERT_FALSE(r.ok());
    ExpectUntouched(store_);
    EXPECT_EQ(store_.AcceptedLength("1", 2), 0u);
    MetricsStore reopened(dir_.path(), {});
    ExpectUntouched(reopened);
  }
  ops_.writes_until_failure = -1;
  ops_.fail_datasync = ops_.fail_rename = false;
  ASSERT_TRUE(store_.Append("1", 2, 0, 100, {{"a", resumed}}).ok());
  const auto want = Concat({Points(0, 1000), resumed});
  ExpectReadsShow(store_, "1", "a", want);
  MetricsStore reopened(dir_.path(), {});
  ExpectReadsShow(reopened, "1", "a", want);
  EXPECT_EQ(ReadAll(reopened, "1", "b").size(), 10u);
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
