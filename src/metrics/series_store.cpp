#include "metrics/series_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <span>
#include <system_error>
#include <thread>

#include "common/fs.h"
#include "common/json.h"
#include "metrics/points_codec.h"

namespace lattice::metrics {

namespace fsys = std::filesystem;

namespace {

constexpr char kStateFile[] = "ingest.state";
constexpr char kStateTemp[] = "ingest.state.tmp";
constexpr char kIndexMagic[4] = {'L', 'T', 'I', 'X'};
constexpr uint32_t kIndexVersion = 1;
constexpr size_t kIndexHeaderBytes = 16;
constexpr uint64_t kNone = Extremes::kNone;

Error IoError(const std::string& context, int err) {
  if (err == ENOSPC || err == EDQUOT)
    return Error(ErrorCode::kResourceExhausted, context + ": " + std::strerror(err) + " (the disk is full)");
  return Error(ErrorCode::kIo, context + ": " + std::strerror(err));
}

uint64_t Fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// One entry of a .index file: a whole block of kIndexBlock records. Indices
// are absolute record indices; kNone where the block has no such record.
struct IndexEntry {
  int64_t first_step = 0, last_step = 0, min_step = 0, max_step = 0;
  double min_value = 0, max_value = 0;  // over non-NaN values
  uint64_t min_index = kNone, max_index = kNone;
  uint64_t nan_count = 0, first_nan = kNone;
  uint64_t check = 0;  // Fnv1a of the fields above, seeded with the block number

  uint64_t Check(uint64_t block) const { return Fnv1a(this, offsetof(IndexEntry, check), 0xcbf29ce484222325ull ^ (block * 0x9e3779b97f4a7c15ull)); }
  bool operator==(const IndexEntry&) const = default;
};
static_assert(sizeof(IndexEntry) == 88);

// Running statistics of one block while it fills.
struct BlockStats {
  uint64_t count = 0;
  int64_t first_step = 0, last_step = 0, min_step = 0, max_step = 0;
  Extremes ext;
  uint64_t nan_count = 0;

  void Add(uint64_t index, const Point& p) {
    if (count == 0) first_step = min_step = max_step = p.step;
    last_step = p.step;
    min_step = std::min(min_step, p.step);
    max_step = std::max(max_step, p.step);
    ext.Add(index, p.value);
    if (std::isnan(p.value)) ++nan_count;
    ++count;
  }
  IndexEntry ToEntry(uint64_t block) const {
    IndexEntry e;
    e.first_step = first_step, e.last_step = last_step, e.min_step = min_step, e.max_step = max_step;
    e.min_value = ext.min_index == kNone ? 0 : ext.min_value;
    e.max_value = ext.max_index == kNone ? 0 : ext.max_value;
    e.min_index = ext.min_index, e.max_index = ext.max_index;
    e.nan_count = nan_count, e.first_nan = ext.first_nan;
    e.check = e.Check(block);
    return e;
  }
};

Extremes EntryExtremes(const IndexEntry& e) {
  Extremes x;
  x.min_value = e.min_value, x.max_value = e.max_value;
  x.min_index = e.min_index, x.max_index = e.max_index, x.first_nan = e.first_nan;
  return x;
}

BlockStats StatsOf(const Point* data, uint64_t from, uint64_t to) {
  BlockStats b;
  for (uint64_t i = from; i < to; ++i) b.Add(i, data[i]);
  return b;
}

// A read-only mapping of the first `count` records of a series file.
class Mapping {
 public:
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr_ != nullptr) ::munmap(addr_, len_);
  }
  // populate: fault every page in up front (for reads that touch them all).
  Status Map(const fsys::path& path, uint64_t count, bool populate = false) {
    if (count == 0) return OkStatus();
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IoError("cannot open " + path.string(), errno);
    len_ = count * kPointRecordBytes;
    void* a = ::mmap(nullptr, len_, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
    const int err = errno;
    ::close(fd);
    if (a == MAP_FAILED) return IoError("cannot map " + path.string(), err);
    addr_ = a;
    return OkStatus();
  }
  const Point* data() const { return static_cast<const Point*>(addr_); }

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

std::string Hex64(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = digits[v & 15];
  return s;
}

}  // namespace

// ---------------------------------------------------------------- FileOps

Result<int> FileOps::Open(const fsys::path& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return IoError("cannot open " + path.string(), errno);
  return fd;
}

Status FileOps::PWrite(int fd, std::string_view data, uint64_t offset, const fsys::path& path) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot write " + path.string(), errno);
    }
    if (n == 0) return IoError("cannot write " + path.string(), ENOSPC);
    data.remove_prefix(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status FileOps::DataSync(int fd, const fsys::path& path) {
  if (::fdatasync(fd) != 0) return IoError("cannot sync " + path.string(), errno);
  return OkStatus();
}

Status FileOps::Sync(int fd, const fsys::path& path) {
  if (::fsync(fd) != 0) return IoError("cannot sync " + path.string(), errno);
  return OkStatus();
}

Status FileOps::Truncate(int fd, uint64_t size, const fsys::path& path) {
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return IoError("cannot truncate " + path.string(), errno);
  return OkStatus();
}

Status FileOps::Rename(const fsys::path& from, const fsys::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return IoError("cannot rename " + from.string() + " to " + to.string(), errno);
  return OkStatus();
}

void FileOps::StartWriteback(int fd) { (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }

void FileOps::Close(int fd) { ::close(fd); }

FileOps* PosixFileOps() {
  static FileOps ops;
  return &ops;
}

// ---------------------------------------------------------------- state

namespace {

// Records [start, the next run's start or the series' count) came from one
// attempt, in one or more consecutive appends. A series gets a new run when
// an append's attempt differs from the last run's: normally once per restart,
// more often only when an earlier attempt's points arrive after a later
// one's (an agent shipping a lost attempt's spool late).
struct Run {
  uint64_t start = 0;
  int64_t attempt = 0;  // Append's generation
  int64_t min_step = 0;  // over the run's records
};

// Per run, the smallest step the later attempts (larger ids) have written to
// the series: the run's records from that step on are superseded. nullopt
// where no later attempt has written to the series.
using Cutoff = std::optional<int64_t>;

bool IsLive(int64_t step, const Cutoff& cut) { return !cut || step < *cut; }

std::vector<Cutoff> CutoffsOf(const std::vector<Run>& runs) {
  std::map<int64_t, int64_t> min_of;  // attempt -> its smallest step
  for (const Run& r : runs) {
    auto [it, fresh] = min_of.emplace(r.attempt, r.min_step);
    if (!fresh) it->second = std::min(it->second, r.min_step);
  }
  std::map<int64_t, Cutoff> later;  // attempt -> min over the later attempts
  Cutoff acc;
  for (auto it = min_of.rbegin(); it != min_of.rend(); ++it) {
    later[it->first] = acc;
    acc = acc ? std::min(*acc, it->second) : it->second;
  }
  std::vector<Cutoff> out;
  out.reserve(runs.size());
  for (const Run& r : runs) out.push_back(later[r.attempt]);
  return out;
}

// Statistics of the records that are not superseded.
struct LiveStats {
  uint64_t count = 0;
  Extremes ext;
  uint64_t nan_count = 0;
  Point last;  // the last one in stored order

  void Add(uint64_t index, const Point& p) {
    ++count;
    ext.Add(index, p.value);
    if (std::isnan(p.value)) ++nan_count;
    last = p;
  }
};

struct Series {
  std::string key;
  fsys::path data_path, index_path;
  uint64_t count = 0;               // committed records
  std::vector<IndexEntry> blocks;   // whole blocks
  uint64_t index_on_disk = 0;       // entries known good in the .index file
  BlockStats tail;                  // records [blocks.size() * kIndexBlock, count)
  std::vector<Run> runs;            // cover [0, count); empty when count == 0
  std::vector<Cutoff> cutoffs;      // one per run
  LiveStats live;                   // valid only if live_valid (else recomputed on demand)
  bool live_valid = true;

  // Appends a record of the last run to the block statistics (and to the
  // live ones while they are valid).
  void Add(const Point& p) {
    const uint64_t i = count++;
    tail.Add(i, p);
    if (live_valid && IsLive(p.step, cutoffs.back())) live.Add(i, p);
    if (tail.count == kIndexBlock) {
      blocks.push_back(tail.ToEntry(blocks.size()));
      tail = BlockStats();
    }
  }
  uint64_t RunEnd(size_t r) const { return r + 1 < runs.size() ? runs[r + 1].start : count; }
};

// A selection of records in stored order, as segments numbered by ordinal
// (the position among selected records): whole blocks, or explicit records.
struct Segment {
  uint64_t ord = 0, count = 0;
  uint64_t block = kNone;  // a whole block, or kNone: records picked[first, first + count)
  uint64_t first = 0;
};

struct Selection {
  std::vector<Segment> segs;
  std::vector<uint64_t> picked;
  uint64_t total = 0;

  uint64_t RecordOf(const Segment& seg, uint64_t ord) const {
    return seg.block != kNone ? seg.block * kIndexBlock + (ord - seg.ord) : picked[seg.first + (ord - seg.ord)];
  }
  const Segment& SegmentOf(uint64_t ord) const {
    auto at = std::upper_bound(segs.begin(), segs.end(), ord, [](uint64_t o, const Segment& g) { return o < g.ord; });
    return *(at - 1);
  }
};

// The records with lo <= step <= hi that no later attempt superseded. Per
// run the cutoff only lowers hi, so a whole block inside one run is taken or
// skipped by its index entry's step range; only blocks that straddle a bound
// (a run boundary, the step range, or the cutoff) are scanned.
Selection Select(const Series& s, const Point* data, int64_t lo, int64_t hi) {
  Selection sel;
  sel.segs.reserve(s.blocks.size() + 2 * s.runs.size() + 1);
  auto pick_range = [&](uint64_t from, uint64_t to, int64_t top) {
    Segment seg{sel.total, 0, kNone, sel.picked.size()};
    for (uint64_t i = from; i < to; ++i)
      if (data[i].step >= lo && data[i].step <= top) sel.picked.push_back(i);
    seg.count = sel.picked.size() - seg.first;
    if (seg.count) sel.segs.push_back(seg), sel.total += seg.count;
  };
  for (size_t r = 0; r < s.runs.size(); ++r) {
    const Cutoff& cut = s.cutoffs[r];
    if (cut && *cut == INT64_MIN) continue;  // every record superseded
    const int64_t top = cut ? std::min(hi, *cut - 1) : hi;
    if (lo > top) continue;
    const uint64_t end = s.RunEnd(r);
    for (uint64_t i = s.runs[r].start; i < end;) {
      const uint64_t b = i / kIndexBlock, block_end = (b + 1) * kIndexBlock, stop = std::min(end, block_end);
      if (b < s.blocks.size() && i == b * kIndexBlock && stop == block_end) {
        const IndexEntry& en = s.blocks[b];
        if (en.min_step >= lo && en.max_step <= top) {
          sel.segs.push_back(Segment{sel.total, kIndexBlock, b, 0});
          sel.total += kIndexBlock;
        } else if (en.max_step >= lo && en.min_step <= top) {
          pick_range(i, stop, top);
        }
      } else {
        pick_range(i, stop, top);
      }
      i = stop;
    }
  }
  return sel;
}

// The smallest step of records [from, to), from the index where it can.
int64_t MinStep(const Series& s, const Point* data, uint64_t from, uint64_t to) {
  int64_t m = INT64_MAX;
  for (uint64_t i = from; i < to;) {
    const uint64_t b = i / kIndexBlock, block_end = (b + 1) * kIndexBlock, stop = std::min(to, block_end);
    if (b < s.blocks.size() && i == b * kIndexBlock && stop == block_end) {
      m = std::min(m, s.blocks[b].min_step);
    } else {
      for (uint64_t j = i; j < stop; ++j) m = std::min(m, data[j].step);
    }
    i = stop;
  }
  return m;
}

// Recomputes s.live from the index and the data (blocks must be complete).
void RefreshLive(Series& s, const Point* data) {
  const Selection sel = Select(s, data, INT64_MIN, INT64_MAX);
  s.live = LiveStats();
  s.live.count = sel.total;
  for (const Segment& seg : sel.segs) {
    if (seg.block != kNone) {
      s.live.ext.Merge(EntryExtremes(s.blocks[seg.block]));
      s.live.nan_count += s.blocks[seg.block].nan_count;
    } else {
      for (uint64_t k = seg.first; k < seg.first + seg.count; ++k) {
        const double v = data[sel.picked[k]].value;
        s.live.ext.Add(sel.picked[k], v);
        if (std::isnan(v)) ++s.live.nan_count;
      }
    }
  }
  if (sel.total) {
    const Segment& seg = sel.segs.back();
    s.live.last = data[sel.RecordOf(seg, seg.ord + seg.count - 1)];
  }
  s.live_valid = true;
}

}  // namespace

struct MetricsStore::Experiment {
  std::string id;
  fsys::path dir;
  std::map<std::string, std::unique_ptr<Series>, std::less<>> series;
  std::map<int64_t, uint64_t> attempts;
};

namespace {

// Writes the entries of s.blocks the .index file lacks. Best effort: the
// index is derived data, so a failure only leaves it short (the next call or
// the next open extends it).
void PersistIndex(FileOps* ops, Series& s) {
  if (s.index_on_disk >= s.blocks.size()) return;
  Result<int> fd = ops->Open(s.index_path, O_RDWR | O_CREAT, 0644);
  if (!fd.ok()) return;
  bool ok = true;
  if (s.index_on_disk == 0) {
    char header[kIndexHeaderBytes];
    const uint32_t fields[3] = {kIndexVersion, static_cast<uint32_t>(kIndexBlock), sizeof(IndexEntry)};
    std::memcpy(header, kIndexMagic, 4);
    std::memcpy(header + 4, fields, sizeof fields);
    ok = ops->Truncate(*fd, 0, s.index_path).ok() &&
         ops->PWrite(*fd, std::string_view(header, sizeof header), 0, s.index_path).ok();
  }
  if (ok) {
    const uint64_t n = s.blocks.size() - s.index_on_disk;
    ok = ops->PWrite(*fd,
                     std::string_view(reinterpret_cast<const char*>(&s.blocks[s.index_on_disk]),
                                      n * sizeof(IndexEntry)),
                     kIndexHeaderBytes + s.index_on_disk * sizeof(IndexEntry), s.index_path)
             .ok();
    if (ok) s.index_on_disk = s.blocks.size();
  }
  ops->Close(*fd);
}

// Loads the index entries that agree with the data, computes the rest.
void LoadIndex(FileOps* ops, Series& s, const Point* data) {
  const uint64_t whole = s.count / kIndexBlock;
  s.blocks.clear();
  s.blocks.reserve(whole);
  s.index_on_disk = 0;
  Result<std::string> file = fs::ReadFile(s.index_path);
  if (file.ok() && file->size() >= kIndexHeaderBytes && std::memcmp(file->data(), kIndexMagic, 4) == 0) {
    uint32_t fields[3];
    std::memcpy(fields, file->data() + 4, sizeof fields);
    if (fields[0] == kIndexVersion && fields[1] == kIndexBlock && fields[2] == sizeof(IndexEntry)) {
      const uint64_t stored = std::min<uint64_t>((file->size() - kIndexHeaderBytes) / sizeof(IndexEntry), whole);
      for (uint64_t b = 0; b < stored; ++b) {
        IndexEntry e;
        std::memcpy(&e, file->data() + kIndexHeaderBytes + b * sizeof(IndexEntry), sizeof e);
        const uint64_t lo = b * kIndexBlock, hi = lo + kIndexBlock;
        auto in_block = [&](uint64_t i) { return i == kNone || (i >= lo && i < hi); };
        const bool sane = e.check == e.Check(b) && in_block(e.min_index) && in_block(e.max_index) &&
                          in_block(e.first_nan) && e.nan_count <= kIndexBlock &&
                          (e.nan_count == 0) == (e.first_nan == kNone) &&
                          e.first_step == data[lo].step && e.last_step == data[hi - 1].step;
        if (!sane) break;
        s.blocks.push_back(e);
      }
      // The first and the last entry are checked against a full recomputation.
      for (uint64_t b : {uint64_t{0}, static_cast<uint64_t>(s.blocks.size()) - 1}) {
        if (b >= s.blocks.size()) continue;
        if (!(StatsOf(data, b * kIndexBlock, (b + 1) * kIndexBlock).ToEntry(b) == s.blocks[b])) {
          s.blocks.resize(b);
          break;
        }
      }
      s.index_on_disk = s.blocks.size();
      if (file->size() != kIndexHeaderBytes + s.blocks.size() * sizeof(IndexEntry) && s.index_on_disk > 0) {
        Result<int> fd = ops->Open(s.index_path, O_RDWR, 0644);
        if (fd.ok()) {
          if (!ops->Truncate(*fd, kIndexHeaderBytes + s.blocks.size() * sizeof(IndexEntry), s.index_path).ok())
            s.index_on_disk = 0;
          ops->Close(*fd);
        }
      }
    }
  }
  for (uint64_t b = s.blocks.size(); b < whole; ++b)
    s.blocks.push_back(StatsOf(data, b * kIndexBlock, (b + 1) * kIndexBlock).ToEntry(b));
  s.tail = StatsOf(data, whole * kIndexBlock, s.count);
  PersistIndex(ops, s);
}

Status SyncDir(FileOps* ops, const fsys::path& dir) {
  LATTICE_ASSIGN_OR_RETURN(int fd, ops->Open(dir, O_RDONLY | O_DIRECTORY, 0));
  Status st = ops->Sync(fd, dir);
  ops->Close(fd);
  return st;
}

bool IsInt64(const Json& j) {
  return j.is_number_integer() && (!j.is_number_unsigned() || j.get<uint64_t>() <= uint64_t{INT64_MAX});
}

Error CorruptState(const fsys::path& path, const std::string& what) {
  return Error(ErrorCode::kIo, path.string() + " is corrupt: " + what);
}

}  // namespace

// ---------------------------------------------------------------- store

MetricsStore::MetricsStore(fsys::path root, MetricsStoreOptions options)
    : root_(std::move(root)), options_(options), ops_(options.file_ops ? options.file_ops : PosixFileOps()) {
  if (options_.max_open_experiments == 0) options_.max_open_experiments = 1;
}

MetricsStore::~MetricsStore() = default;

Status MetricsStore::Init() { return fs::MakeDirs(root_); }

std::string MetricsStore::FileStem(std::string_view key) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(key.size());
  for (char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
        c == '-') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  if (out.size() > 200) out = out.substr(0, 180) + "~" + Hex64(Fnv1a(key.data(), key.size()));
  return out;
}

Result<MetricsStore::Experiment*> MetricsStore::Load(const std::string& experiment, bool create) {
  if (auto it = open_.find(experiment); it != open_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.second);
    return it->second.first.get();
  }
  auto e = std::make_unique<Experiment>();
  e->id = experiment;
  e->dir = root_ / experiment;
  std::error_code ec;
  if (!fsys::is_directory(e->dir, ec)) {
    if (!create) return Error(ErrorCode::kNotFound, "experiment " + experiment + " has no metrics");
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(e->dir));
    if (options_.fsync) LATTICE_RETURN_IF_ERROR(SyncDir(ops_, root_));
  }

  // The commit record.
  std::map<std::string, uint64_t> counts;
  std::map<std::string, std::vector<Run>> runs_of;
  const fsys::path state_path = e->dir / kStateFile;
  if (fsys::exists(state_path, ec)) {
    LATTICE_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(state_path));
    Result<Json> parsed = ParseJson(text, state_path.string());
    if (!parsed.ok()) return CorruptState(state_path, parsed.error().message);
    const Json& j = *parsed;
    if (!j.is_object() || !j.contains("attempts") || !j["attempts"].is_object() || !j.contains("series") ||
        !j["series"].is_object())
      return CorruptState(state_path, "want an object with \"attempts\" and \"series\" objects");
    for (const auto& [name, len] : j["attempts"].items()) {
      int64_t id = 0;
      auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), id);
      if (err != std::errc() || p != name.data() + name.size() || !len.is_number_unsigned())
        return CorruptState(state_path, "bad attempt entry \"" + name + "\"");
      e->attempts[id] = len.get<uint64_t>();
    }
    for (const auto& [key, count] : j["series"].items()) {
      if (!count.is_number_unsigned() || !ValidateKey(key).ok())
        return CorruptState(state_path, "bad series entry \"" + key + "\"");
      counts[key] = count.get<uint64_t>();
    }
    // Which attempt wrote which records (absent in files of older versions).
    if (j.contains("runs")) {
      if (!j["runs"].is_object()) return CorruptState(state_path, "\"runs\" is not an object");
      for (const auto& [key, list] : j["runs"].items()) {
        std::vector<Run>& runs = runs_of[key];
        bool ok = counts.contains(key) && list.is_array();
        for (size_t i = 0; ok && i < list.size(); ++i) {
          const Json& r = list[i];
          ok = r.is_array() && r.size() == 3 && r[0].is_number_unsigned() && IsInt64(r[1]) && IsInt64(r[2]);
          if (!ok) break;
          runs.push_back(Run{r[0].get<uint64_t>(), r[1].get<int64_t>(), r[2].get<int64_t>()});
          ok = i == 0 ? runs[i].start == 0 : runs[i].start > runs[i - 1].start;
        }
        if (!ok) return CorruptState(state_path, "bad runs entry \"" + key + "\"");
      }
    }
  }
  // Records of a series the state gives no runs for (it was written by an
  // older version) count as the newest attempt's: exact when the experiment
  // had one attempt; with several, they keep showing as before (none of them
  // supersedes another), and later attempts supersede them by the rule.
  const int64_t legacy_attempt = e->attempts.empty() ? INT64_MIN : e->attempts.rbegin()->first;

  // Series files: cut to the committed counts, index loaded or rebuilt.
  for (const auto& [key, committed] : counts) {
    auto s = std::make_unique<Series>();
    s->key = key;
    const std::string stem = FileStem(key);
    s->data_path = e->dir / (stem + ".series");
    s->index_path = e->dir / (stem + ".index");
    LATTICE_ASSIGN_OR_RETURN(int fd, ops_->Open(s->data_path, O_RDWR | O_CREAT, 0644));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ops_->Close(fd);
      return IoError("cannot stat " + s->data_path.string(), err);
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    s->count = committed;
    // A shorter file lost committed records outside our control (no commit
    // names records it has not synced); keep what is there.
    if (size < committed * kPointRecordBytes) s->count = size / kPointRecordBytes;
    if (size > s->count * kPointRecordBytes) {
      Status cut = ops_->Truncate(fd, s->count * kPointRecordBytes, s->data_path);
      if (!cut.ok()) {
        ops_->Close(fd);
        return cut.error().Wrap("dropping unacknowledged points");
      }
    }
    ops_->Close(fd);
    Mapping map;
    LATTICE_RETURN_IF_ERROR(map.Map(s->data_path, s->count));
    LoadIndex(ops_, *s, map.data());
    // Runs: those that start within the records kept, each one's minimum
    // step taken from the data (the truth, should the file have been cut).
    s->runs = std::move(runs_of[key]);
    while (!s->runs.empty() && s->runs.back().start >= s->count) s->runs.pop_back();
    if (s->runs.empty() && s->count > 0) s->runs.push_back(Run{0, legacy_attempt, 0});
    for (size_t r = 0; r < s->runs.size(); ++r)
      s->runs[r].min_step = MinStep(*s, map.data(), s->runs[r].start, s->RunEnd(r));
    s->cutoffs = CutoffsOf(s->runs);
    RefreshLive(*s, map.data());
    e->series.emplace(key, std::move(s));
  }

  // Files no commit names: series created by an append that never committed.
  std::set<std::string> known = {kStateFile};
  for (const auto& [key, s] : e->series) {
    known.insert(s->data_path.filename().string());
    known.insert(s->index_path.filename().string());
  }
  for (auto it = fsys::directory_iterator(e->dir, ec); !ec && it != fsys::directory_iterator(); it.increment(ec))
    if (!known.contains(it->path().filename().string())) ::unlink(it->path().c_str());

  Experiment* raw = e.get();
  lru_.push_front(experiment);
  open_.emplace(experiment, std::make_pair(std::move(e), lru_.begin()));
  while (open_.size() > options_.max_open_experiments) {
    open_.erase(lru_.back());
    lru_.pop_back();
  }
  return raw;
}

namespace {

// One series in the commit record: its committed count and its runs.
struct SeriesState {
  uint64_t count = 0;
  const std::vector<Run>* runs = nullptr;
};

std::string StateText(const std::map<std::string_view, SeriesState>& series,
                      const std::map<int64_t, uint64_t>& attempts) {
  Json j = Json::object();
  j["format"] = 2;
  Json& a = j["attempts"] = Json::object();
  for (const auto& [id, len] : attempts) a[std::to_string(id)] = len;
  Json& s = j["series"] = Json::object();
  Json& r = j["runs"] = Json::object();
  for (const auto& [key, state] : series) {
    s[std::string(key)] = state.count;
    Json& list = r[std::string(key)] = Json::array();
    for (const Run& run : *state.runs) list.push_back(Json::array({run.start, run.attempt, run.min_step}));
  }
  return j.dump() + "\n";
}

// Runs the syncs concurrently: each blocks in the kernel, and syncs issued
// together share the filesystem's journal commits and device flushes
// (serially, each would pay for its own). Returns the first error in order.
Status SyncAll(FileOps* ops, const std::vector<std::pair<int, const fsys::path*>>& files, bool data_only) {
  auto one = [&](size_t i) {
    return data_only ? ops->DataSync(files[i].first, *files[i].second) : ops->Sync(files[i].first, *files[i].second);
  };
  if (files.size() == 1) return one(0);
  for (const auto& [fd, path] : files) ops->StartWriteback(fd);
  std::vector<std::optional<Status>> results(files.size());
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < files.size();) results[i] = one(i);
  };
  std::vector<std::thread> threads;
  const size_t n = std::min<size_t>(files.size(), 16) - 1;
  for (size_t t = 0; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();
  for (auto& r : results)
    if (!r->ok()) return std::move(*r);
  return OkStatus();
}

}  // namespace

Result<uint64_t> MetricsStore::Append(const std::string& experiment, int64_t attempt, uint64_t from, uint64_t to,
                                      const std::vector<SeriesBatch>& batch, int64_t generation) {
  if (to < from)
    return Error(ErrorCode::kInvalidArgument,
                 "append range [" + std::to_string(from) + ", " + std::to_string(to) + ") ends before it starts");
  for (size_t i = 0; i < batch.size(); ++i) {
    Status valid = ValidateKey(batch[i].key);
    if (!valid.ok()) return valid.error().Wrap("series " + std::to_string(i));
  }
  LATTICE_ASSIGN_OR_RETURN(Experiment * e, Load(experiment, /*create=*/true));
  const auto found = e->attempts.find(attempt);
  const uint64_t accepted = found == e->attempts.end() ? 0 : found->second;
  if (from != accepted)
    return Error(ErrorCode::kFailedPrecondition,
                 "the point stream of experiment " + experiment + " attempt " +
                     std::to_string(attempt) + " is accepted up to byte " + std::to_string(accepted) +
                     "; this append starts at byte " + std::to_string(from));
  if (from == to) return to;

  // Group the batch by key (stored order is batch order within a key).
  struct Pending {
    Series* series = nullptr;
    std::unique_ptr<Series> fresh;  // a key this experiment did not have
    std::vector<const SeriesBatch*> parts;
    uint64_t added = 0;
    int64_t min_step = INT64_MAX;  // over the added points
    std::vector<Run> runs;         // the series' runs once committed
    int fd = -1;
  };
  std::map<std::string_view, Pending> pending;
  for (const SeriesBatch& b : batch) {
    if (b.points.empty()) continue;
    Pending& p = pending[b.key];
    if (p.parts.empty()) {
      if (auto it = e->series.find(b.key); it != e->series.end()) {
        p.series = it->second.get();
      } else {
        p.fresh = std::make_unique<Series>();
        p.fresh->key = b.key;
        const std::string stem = FileStem(b.key);
        p.fresh->data_path = e->dir / (stem + ".series");
        p.fresh->index_path = e->dir / (stem + ".index");
        p.series = p.fresh.get();
      }
    }
    p.parts.push_back(&b);
    p.added += b.points.size();
    for (const Point& pt : b.points) p.min_step = std::min(p.min_step, pt.step);
  }
  // The points extend the last run if it is this generation's, else start one.
  if (generation == 0) generation = attempt;
  for (auto& [key, p] : pending) {
    p.runs = p.series->runs;
    if (p.runs.empty() || p.runs.back().attempt != generation)
      p.runs.push_back(Run{p.series->count, generation, p.min_step});
    else
      p.runs.back().min_step = std::min(p.runs.back().min_step, p.min_step);
  }

  auto close_all = [&] {
    for (auto& [key, p] : pending)
      if (p.fd >= 0) ops_->Close(p.fd), p.fd = -1;
  };
  auto roll_back = [&] {
    for (auto& [key, p] : pending)
      if (p.fd >= 0) (void)ops_->Truncate(p.fd, p.series->count * kPointRecordBytes, p.series->data_path);
    close_all();
  };

  Status st = OkStatus();
  for (auto& [key, p] : pending) {
    Result<int> fd = ops_->Open(p.series->data_path, O_RDWR | O_CREAT, 0644);
    if (!fd.ok()) {
      st = std::move(fd).error();
      break;
    }
    p.fd = *fd;
    uint64_t offset = p.series->count * kPointRecordBytes;
    for (const SeriesBatch* b : p.parts) {
      const std::string_view bytes(reinterpret_cast<const char*>(b->points.data()),
                                   b->points.size() * kPointRecordBytes);
      st = ops_->PWrite(p.fd, bytes, offset, p.series->data_path);
      if (!st.ok()) break;
      offset += bytes.size();
    }
    if (!st.ok()) break;
  }
  // The commit record goes to a temporary file, synced together with the
  // points; only the rename makes it the commit.
  std::map<std::string_view, SeriesState> states;
  if (st.ok()) {
    for (const auto& [key, s] : e->series) states[key] = SeriesState{s->count, &s->runs};
    for (const auto& [key, p] : pending) states[key] = SeriesState{p.series->count + p.added, &p.runs};
  }
  std::map<int64_t, uint64_t> attempts = e->attempts;
  attempts[attempt] = to;
  const fsys::path tmp = e->dir / kStateTemp;
  int tmp_fd = -1;
  if (st.ok()) {
    Result<int> fd = ops_->Open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd.ok()) {
      tmp_fd = *fd;
      st = ops_->PWrite(tmp_fd, StateText(states, attempts), 0, tmp);
    } else {
      st = std::move(fd).error();
    }
  }
  if (st.ok() && options_.fsync) {
    std::vector<std::pair<int, const fsys::path*>> files;
    for (auto& [key, p] : pending) files.emplace_back(p.fd, &p.series->data_path);
    files.emplace_back(tmp_fd, &tmp);
    st = SyncAll(ops_, files, /*data_only=*/true);
  }
  if (tmp_fd >= 0) ops_->Close(tmp_fd);
  if (st.ok()) st = ops_->Rename(tmp, e->dir / kStateFile);
  if (!st.ok()) {
    if (tmp_fd >= 0) ::unlink(tmp.c_str());
    roll_back();
    return st.error().Wrap("appending points to experiment " + experiment);
  }
  close_all();

  // Committed: the in-memory state follows.
  e->attempts[attempt] = to;
  for (auto& [key, p] : pending) {
    Series& s = *p.series;
    // A new attempt, or a lower step of one, moves cutoffs of the runs
    // already there: their live statistics are recomputed when next asked
    // for. Otherwise the new points simply add to them.
    s.runs = std::move(p.runs);
    std::vector<Cutoff> cutoffs = CutoffsOf(s.runs);
    if (!std::equal(s.cutoffs.begin(), s.cutoffs.end(), cutoffs.begin())) s.live_valid = false;
    s.cutoffs = std::move(cutoffs);
    for (const SeriesBatch* b : p.parts)
      for (const Point& pt : b->points) s.Add(pt);
    if (p.fresh) e->series.emplace(std::string(key), std::move(p.fresh));
    PersistIndex(ops_, *p.series);
  }
  if (options_.fsync) {
    Status synced = SyncDir(ops_, e->dir);
    if (!synced.ok())
      return synced.error().Wrap("points of experiment " + experiment +
                                 " are committed but may not be durable");
  }
  return to;
}

uint64_t MetricsStore::AcceptedLength(const std::string& experiment, int64_t attempt) {
  Result<Experiment*> e = Load(experiment, /*create=*/false);
  if (!e.ok()) return 0;
  auto it = (*e)->attempts.find(attempt);
  return it == (*e)->attempts.end() ? 0 : it->second;
}

std::vector<SeriesSummary> MetricsStore::Summaries(const std::string& experiment) {
  std::vector<SeriesSummary> out;
  Result<Experiment*> e = Load(experiment, /*create=*/false);
  if (!e.ok()) return out;
  out.reserve((*e)->series.size());
  for (const auto& [key, s] : (*e)->series) {
    if (!s->live_valid) {
      Mapping map;
      if (!map.Map(s->data_path, s->count).ok()) continue;  // unreadable now: left out, like an unreadable experiment
      RefreshLive(*s, map.data());
    }
    SeriesSummary& sum = out.emplace_back();
    sum.key = key;
    sum.count = s->live.count;
    sum.last = s->live.last;
    if (s->live.ext.min_index != kNone) {
      sum.min = s->live.ext.min_value;
      sum.max = s->live.ext.max_value;
    }
    sum.nan_count = s->live.nan_count;
  }
  return out;
}

Result<SeriesRead> MetricsStore::Read(const std::string& experiment, const std::string& key, const SeriesQuery& query) {
  LATTICE_ASSIGN_OR_RETURN(Experiment * e, Load(experiment, /*create=*/false));
  auto it = e->series.find(key);
  if (it == e->series.end())
    return Error(ErrorCode::kNotFound, "experiment " + experiment + " has no series '" + key + "'");
  const Series& s = *it->second;
  SeriesRead out;
  if (s.count == 0) return out;
  Mapping map;
  LATTICE_RETURN_IF_ERROR(map.Map(s.data_path, s.count, query.method == DownsampleMethod::kLttb));
  const Point* data = map.data();
  // The selection: the records in the step range that no later attempt
  // superseded, in stored order.
  const Selection sel = Select(s, data, query.min_step.value_or(INT64_MIN), query.max_step.value_or(INT64_MAX));
  const std::vector<Segment>& segs = sel.segs;
  const uint64_t total = sel.total;
  out.total = total;
  if (total == 0) return out;
  auto record_of = [&](const Segment& seg, uint64_t ord) { return sel.RecordOf(seg, ord); };

  const bool contiguous = total == s.count;  // every record: ordinal == record index
  if (query.method == DownsampleMethod::kLttb || total <= query.max_points) {
    if (contiguous) {
      std::span<const Point> all(data, s.count);
      out.points = query.method == DownsampleMethod::kLttb ? DownsampleLttb(all, query.max_points)
                                                            : std::vector<Point>(all.begin(), all.end());
      return out;
    }
    std::vector<Point> sel_points;
    sel_points.reserve(total);
    for (const Segment& seg : segs) {
      if (seg.block != kNone) {
        const Point* first = data + seg.block * kIndexBlock;
        sel_points.insert(sel_points.end(), first, first + seg.count);
      } else {
        for (uint64_t k = seg.first; k < seg.first + seg.count; ++k) sel_points.push_back(data[sel.picked[k]]);
      }
    }
    out.points = query.method == DownsampleMethod::kLttb ? DownsampleLttb(sel_points, query.max_points)
                                                          : std::move(sel_points);
    return out;
  }

  // Min/max by bucket of ordinals: whole blocks inside a bucket come from the
  // index, the rest is scanned. Same buckets and tie rules as DownsampleMinMax.
  if (query.max_points == 0) return out;
  if (query.max_points < 4) {  // the last point, or the first and the last
    if (query.max_points > 1) out.points.push_back(data[record_of(segs.front(), 0)]);
    const Segment& seg = segs.back();
    out.points.push_back(data[record_of(seg, seg.ord + seg.count - 1)]);
    return out;
  }
  const std::vector<uint64_t> starts = MinMaxBucketStarts(total, query.max_points);
  out.points.reserve(query.max_points);
  size_t cursor = 0;
  for (size_t bk = 0; bk + 1 < starts.size(); ++bk) {
    const uint64_t lo = starts[bk], hi = starts[bk + 1];
    while (segs[cursor].ord + segs[cursor].count <= lo) ++cursor;
    Extremes ext;
    for (size_t g = cursor; g < segs.size() && segs[g].ord < hi; ++g) {
      const Segment& seg = segs[g];
      const uint64_t a = std::max(lo, seg.ord), z = std::min(hi, seg.ord + seg.count);
      if (seg.block != kNone && a == seg.ord && z == seg.ord + seg.count) {
        Extremes x = EntryExtremes(s.blocks[seg.block]);
        const uint64_t base = seg.block * kIndexBlock;
        for (uint64_t* i : {&x.min_index, &x.max_index, &x.first_nan})
          if (*i != kNone) *i = seg.ord + (*i - base);
        ext.Merge(x);
      } else if (seg.block != kNone) {
        const uint64_t base = seg.block * kIndexBlock - seg.ord;  // record = ord + base
        for (uint64_t o = a; o < z; ++o) ext.Add(o, data[o + base].value);
      } else {
        for (uint64_t o = a; o < z; ++o) ext.Add(o, data[sel.picked[seg.first + (o - seg.ord)]].value);
      }
    }
    uint64_t kept[2];
    const int k = ext.Kept(kept);
    for (int i = 0; i < k; ++i) out.points.push_back(data[record_of(sel.SegmentOf(kept[i]), kept[i])]);
  }
  return out;
}

}  // namespace lattice::metrics
