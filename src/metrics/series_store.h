// Crash-safe storage of metric series on the server.
//
// Layout under the root, one directory per experiment (its key, e.g.
// "<run>/<index>": the caller makes it a safe relative path):
//   <root>/<experiment>/<escaped key>.series  fixed 24-byte records
//                                                (int64 step, float64 time, float64 value, LE)
//   <root>/<experiment>/<escaped key>.index   one 88-byte entry per whole block of
//                                                kIndexBlock records (derived data)
//   <root>/<experiment>/ingest.state          the commit record (JSON)
// The escaped key percent-encodes every byte outside [A-Za-z0-9._-]; a name
// that would be over 200 bytes is cut and suffixed with "~" and a hash of the
// key (ingest.state keeps the real key).
//
// Commit protocol of Append (the ack point is its return):
//   1. write the points after each series' committed records (pwrite at the
//      committed offset) and the new ingest.state (attempt -> accepted stream
//      length, key -> committed record count, key -> runs, see below) to
//      ingest.state.tmp;
//   2. fdatasync the series files and the temporary file concurrently (up to
//      16 helper threads that only wait in the kernel: syncs issued together
//      share the filesystem's journal commits and device flushes);
//   3. rename the temporary file over ingest.state, fsync the directory.
// The rename is the commit; it happens only after every point is durable. A
// failure before the rename rolls the series files back (ftruncate to the
// committed counts) and leaves the committed state as it was, so a retry is
// clean.
//
// Opening an experiment truncates every series file to its committed count
// (records after it were never acknowledged: the sender resends them),
// removes every file of the directory that no commit names, and loads each
// index. Index entries carry a checksum; an entry is used only if its
// checksum holds and its first and last step match the series file, and the
// first and the last entry are recomputed from the data and compared; the
// index is cut at the first entry that fails and extended from the series
// file. So after a kill at any moment nothing acknowledged is lost and
// nothing is duplicated, and a missing, short or stale index is rebuilt.
//
// Resumed attempts. A lost attempt's successor resumes from the newest
// checkpoint, at step S, and logs S+1, S+2, ... again, which the lost attempt
// may have logged already. The rule (TensorBoard's purge of orphaned data on
// restart, but keyed by attempt instead of by any backward step): a point
// from attempt a at step t is superseded when a later attempt (a larger id;
// ids only grow) has written a point of the same series at a step <= t.
// "Attempt" here is Append's generation: the parts of a multi-node gang
// append under their own ids (one stream each) but as one generation. A
// superseded point is never read again (Read, Summaries: counts, extremes,
// last); its record stays in the file. Points of one attempt never supersede
// each other, in whatever order their steps come. The rule does not depend on
// arrival order: a lost attempt's spool shipped late is judged the same way.
// To apply it, ingest.state keeps per series its runs: [start record, attempt,
// smallest step of the run's records], one per stretch of records one attempt
// appended in a row (one run per attempt unless attempts' appends interleave).
// They commit with the counts; on open, runs past the kept records are dropped
// and each run's smallest step is recomputed from the index and the data. A
// state without runs (from an older version) gives each series one run of its
// newest attempt. From the runs follows per run a cutoff, the smallest step
// of the later attempts: a read takes a whole block of one run, or skips it,
// by its index entry's step range against the query's range and the cutoff,
// and scans only the blocks that straddle a bound, so a series with a few
// restarts reads as fast as one without. Summaries keep the statistics of the
// live points; an append that moves a cutoff has them recomputed (from the
// index) at the next Summaries.
//
// Threading: a MetricsStore is used from one thread (the server's loop
// thread); it has no locks. Only Append's syncs run on helper threads, joined
// before it returns. Descriptors: none are held between calls; a call opens
// the files of the series it touches and closes them before returning.
// Memory: the state of at most max_open_experiments experiments (per series
// its block index, 88 bytes per 1024 points, and its runs) is cached, least
// recently used first out.
#pragma once

#include <sys/types.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "metrics/downsample.h"
#include "metrics/point.h"

namespace lattice::metrics {

inline constexpr uint64_t kIndexBlock = 1024;  // records per index entry

// The seam for every file mutation the store makes (after LevelDB's Env), so
// tests can inject a full disk or a failing sync. Errors carry the path.
// DataSync, Sync and StartWriteback may be called from several threads at
// once (Append syncs its files concurrently); the rest from the caller's.
// ENOSPC is reported as kResourceExhausted, other failures as kIo.
class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual Result<int> Open(const std::filesystem::path& path, int flags, int mode);
  virtual Status PWrite(int fd, std::string_view data, uint64_t offset, const std::filesystem::path& path);
  virtual Status DataSync(int fd, const std::filesystem::path& path);  // fdatasync
  virtual Status Sync(int fd, const std::filesystem::path& path);      // fsync
  virtual Status Truncate(int fd, uint64_t size, const std::filesystem::path& path);
  virtual Status Rename(const std::filesystem::path& from, const std::filesystem::path& to);
  virtual void Close(int fd);
  // A hint to start writing a file's dirty pages back (sync_file_range); no error.
  virtual void StartWriteback(int fd);
};
// The POSIX implementation (a process-wide instance).
FileOps* PosixFileOps();

struct MetricsStoreOptions {
  bool fsync = true;  // off: no fdatasync/fsync at all (tests, benchmarks; not crash-safe)
  size_t max_open_experiments = 256;
  FileOps* file_ops = nullptr;  // null: PosixFileOps(); not owned
};

// Over the points that are not superseded (see "Resumed attempts").
struct SeriesSummary {
  std::string key;
  uint64_t count = 0;
  Point last;
  double min = std::nan("");  // over non-NaN values; NaN when there are none
  double max = std::nan("");
  uint64_t nan_count = 0;
};

enum class DownsampleMethod { kMinMax, kLttb };

struct SeriesQuery {
  size_t max_points = 1000;
  DownsampleMethod method = DownsampleMethod::kMinMax;
  // Keep points with min_step <= step <= max_step (inclusive; either may be
  // absent) that are not superseded. Points are selected by step wherever
  // they lie in the series, so steps need not be sorted; downsampling then
  // runs over the selection in stored order.
  std::optional<int64_t> min_step = std::nullopt;
  std::optional<int64_t> max_step = std::nullopt;
};

struct SeriesRead {
  uint64_t total = 0;  // points in range (not superseded) before downsampling
  std::vector<Point> points;
};

class MetricsStore final {
 public:
  explicit MetricsStore(std::filesystem::path root, MetricsStoreOptions options = {});
  ~MetricsStore();
  MetricsStore(const MetricsStore&) = delete;
  MetricsStore& operator=(const MetricsStore&) = delete;

  // Creates the root directory.
  Status Init();

  // The attempt's point stream is accepted up to AcceptedLength(experiment,
  // attempt) bytes. `generation` orders the points for "Resumed attempts":
  // the id of the experiment's attempt they belong to, which for a part of a
  // multi-node gang is the gang's id (its parts run together and never
  // supersede each other); 0: `attempt` itself. Ids only grow. Append
  // applies `batch`, the decoded frames of stream bytes [from, to):
  //   from == accepted: validates every key, applies, commits, returns `to`;
  //   from != accepted: applies nothing, kFailedPrecondition (answer 409 with
  //   AcceptedLength so the sender resumes there).
  // to < from is kInvalidArgument. On a write error (kResourceExhausted for a
  // full disk, kIo otherwise) nothing is committed and the series files are
  // rolled back, except when only the final directory fsync failed: the
  // commit is then in place (AcceptedLength says `to`) but may not be durable.
  Result<uint64_t> Append(const std::string& experiment, int64_t attempt, uint64_t from, uint64_t to,
                          const std::vector<SeriesBatch>& batch, int64_t generation = 0);
  // 0 for an unknown experiment or attempt (and when the experiment's state
  // cannot be read; Append then reports that error).
  uint64_t AcceptedLength(const std::string& experiment, int64_t attempt);
  // Sorted by key; empty for an unknown or unreadable experiment. A series
  // whose statistics must be recomputed (after a restart) and whose file
  // cannot be read then is left out.
  std::vector<SeriesSummary> Summaries(const std::string& experiment);
  // kNotFound for an unknown experiment or key.
  Result<SeriesRead> Read(const std::string& experiment, const std::string& key, const SeriesQuery& query);

  // The file name (without extension) a key's files get.
  static std::string FileStem(std::string_view key);

 private:
  struct Experiment;
  Result<Experiment*> Load(const std::string& experiment, bool create);

  std::filesystem::path root_;
  MetricsStoreOptions options_;
  FileOps* ops_;
  std::list<std::string> lru_;  // most recently used first
  std::unordered_map<std::string, std::pair<std::unique_ptr<Experiment>, std::list<std::string>::iterator>> open_;
};

}  // namespace lattice::metrics
