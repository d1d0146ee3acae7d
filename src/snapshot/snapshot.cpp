// CreateSnapshot: walk (metadata only), check limits, then read, tar and
// hand the stream to a SnapshotBuilder.
#include "snapshot/snapshot.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "snapshot/gitignore.h"

namespace lattice::snapshot {
namespace {

constexpr const char* kIgnoreFiles[] = {".gitignore", ".latticeignore"};
constexpr const char* kAdvice =
    "add them to .latticeignore (same syntax as .gitignore) or use a datastore";

enum class EntryType { kFile, kDir, kSymlink };

struct Entry {
  std::string path;  // relative to the snapshot root
  EntryType type;
  uint64_t size = 0;  // regular files only
};

class Fd final {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

// Reads a regular file without following a final symlink and without
// blocking if it was swapped for a FIFO since the walk. Reads at most
// `limit` bytes plus one, so a file that grew past the budget is caught.
Result<std::string> ReadRegularFile(const std::string& path, uint64_t limit, mode_t* mode) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return ErrnoError("cannot read " + path, errno);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kFailedPrecondition,
                 path + " stopped being a regular file while snapshotting");
  }
  *mode = st.st_mode;
  std::string out;
  out.resize(static_cast<size_t>(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), limit)));
  size_t used = 0;
  while (true) {
    if (used == out.size()) {
      if (used > limit) break;
      const uint64_t grown = std::max<uint64_t>(out.size() * 2, 4096);
      const uint64_t cap = limit == UINT64_MAX ? limit : limit + 1;
      out.resize(static_cast<size_t>(std::min(grown, cap)));
    }
    const ssize_t n = ::read(fd.get(), out.data() + used, out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read " + path, errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  out.resize(used);
  return out;
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// Collects what the snapshot will hold, from metadata alone.
class Walker final {
 public:
  Walker(std::string root, const SnapshotOptions& options)
      : root_(std::move(root)), options_(options) {}

  Status Walk(const std::string& rel);

  std::vector<Entry>& entries() { return entries_; }
  uint64_t total_bytes() const { return total_bytes_; }
  size_t file_count() const { return file_count_; }

 private:
  std::string Full(const std::string& rel) const { return rel.empty() ? root_ : root_ + "/" + rel; }
  Status LoadIgnoreFile(const std::string& rel_dir, const std::string& name);
  Error TooManyFiles(bool directories) const;

  const std::string root_;
  const SnapshotOptions options_;
  IgnoreRules rules_;
  std::vector<Entry> entries_;
  uint64_t total_bytes_ = 0;
  size_t file_count_ = 0;
  size_t dir_count_ = 0;  // capped like files, as ExtractSnapshot does
};

Status Walker::LoadIgnoreFile(const std::string& rel_dir, const std::string& name) {
  const std::string rel = Join(rel_dir, name);
  struct stat st;
  // Like git (since 2.32), a symlinked ignore file is not read.
  if (::lstat(Full(rel).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return OkStatus();
  mode_t mode = 0;
  LATTICE_ASSIGN_OR_RETURN(std::string contents,
                           ReadRegularFile(Full(rel), options_.max_total_bytes, &mode));
  return rules_.AddFile(rel_dir, contents, rel);
}

Status Walker::Walk(const std::string& rel) {
  const std::string full = Full(rel);
  std::vector<std::string> names;
  {
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(full.c_str()), &::closedir);
    if (!dir) return ErrnoError("cannot read directory " + full, errno);
    errno = 0;
    while (const dirent* de = ::readdir(dir.get())) {
      const std::string name = de->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    if (errno != 0) return ErrnoError("cannot read directory " + full, errno);
  }
  // Byte order, not locale order, so every machine emits the same archive.
  std::sort(names.begin(), names.end());

  for (const char* ignore_file : kIgnoreFiles) {
    if (std::binary_search(names.begin(), names.end(), ignore_file)) {
      LATTICE_RETURN_IF_ERROR(LoadIgnoreFile(rel, ignore_file));
    }
  }
  for (const std::string& name : names) {
    if (name == ".git") continue;
    const std::string child = Join(rel, name);
    struct stat st;
    if (::lstat(Full(child).c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // deleted during the walk
      return ErrnoError("cannot stat " + Full(child), errno);
    }
    EntryType type;
    if (S_ISDIR(st.st_mode)) {
      type = EntryType::kDir;
    } else if (S_ISREG(st.st_mode)) {
      type = EntryType::kFile;
    } else if (S_ISLNK(st.st_mode)) {
      type = EntryType::kSymlink;
    } else {
      continue;  // sockets, FIFOs, devices have no place in a code snapshot
    }
    if (rules_.IsIgnoredInIncludedDir(child, type == EntryType::kDir)) continue;
    size_t& count = type == EntryType::kDir ? dir_count_ : file_count_;
    if (++count > options_.max_files) return TooManyFiles(type == EntryType::kDir);
    const uint64_t size = type == EntryType::kFile ? static_cast<uint64_t>(st.st_size) : 0;
    total_bytes_ += size;
    entries_.push_back({child, type, size});
    if (type == EntryType::kDir) LATTICE_RETURN_IF_ERROR(Walk(child));
  }
  return OkStatus();
}

// Top-level directories ranked by total size or entry count, for messages
// that tell the user what to exclude.
enum class Weight { kBytes, kEntries };

std::vector<std::pair<std::string, uint64_t>> TopDirs(const std::vector<Entry>& entries,
                                                      Weight weight, size_t n) {
  std::map<std::string, uint64_t> sums;
  for (const Entry& e : entries) {
    const size_t slash = e.path.find('/');
    if (slash == std::string::npos) continue;
    sums[e.path.substr(0, slash)] += weight == Weight::kBytes ? e.size : 1;
  }
  std::vector<std::pair<std::string, uint64_t>> out(sums.begin(), sums.end());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  while (!out.empty() && out.back().second == 0) out.pop_back();
  if (out.size() > n) out.resize(n);
  return out;
}

Error Walker::TooManyFiles(bool directories) const {
  std::string msg = "code directory " + root_ + " has more than " +
                    std::to_string(options_.max_files) +
                    (directories ? " directories" : " files") + ", the snapshot limit";
  const auto dirs = TopDirs(entries_, Weight::kEntries, 3);
  for (size_t i = 0; i < dirs.size(); ++i) {
    msg += (i == 0 ? "; most are under: " : ", ") + dirs[i].first + "/ (" +
           std::to_string(dirs[i].second) + "+ entries)";
  }
  return Error(ErrorCode::kResourceExhausted, msg + "; " + kAdvice);
}

Error TooLarge(const std::string& root, uint64_t total, uint64_t limit,
               std::vector<Entry>& entries) {
  std::string total_text = HumanBytes(total);
  if (total_text == HumanBytes(limit)) total_text += " (" + std::to_string(total) + " bytes)";
  std::string msg = "code directory " + root + " is " + total_text + ", over the " +
                    HumanBytes(limit) + " snapshot limit";
  const auto dirs = TopDirs(entries, Weight::kBytes, 3);
  std::vector<const Entry*> files;
  for (const Entry& e : entries) {
    if (e.type == EntryType::kFile && e.size > 0) files.push_back(&e);
  }
  const size_t n = std::min<size_t>(files.size(), 5);
  std::partial_sort(files.begin(), files.begin() + n, files.end(),
                    [](const Entry* a, const Entry* b) {
                      return a->size != b->size ? a->size > b->size : a->path < b->path;
                    });
  for (size_t i = 0; i < n; ++i) {
    // Files under 1% of the total are noise: excluding them would not help.
    if (i > 0 && files[i]->size < total / 100) break;
    msg += (i == 0 ? "; largest files: " : ", ") + files[i]->path + " (" +
           HumanBytes(files[i]->size) + ")";
  }
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (i > 0 && dirs[i].second < total / 100) break;
    msg += (i == 0 ? "; largest directories: " : ", ") + dirs[i].first + "/ (" +
           HumanBytes(dirs[i].second) + ")";
  }
  return Error(ErrorCode::kResourceExhausted, msg + "; " + kAdvice);
}

// libarchive's output goes straight to the builder; a builder error is kept
// here, since libarchive only learns that the write failed.
struct Sink {
  SnapshotBuilder* builder;
  std::optional<Error> error;
};

la_ssize_t AppendToBuilder(archive*, void* sink_ptr, const void* buf, size_t n) {
  auto* sink = static_cast<Sink*>(sink_ptr);
  Status st = sink->builder->Append(std::string_view(static_cast<const char*>(buf), n));
  if (!st.ok()) {
    sink->error = std::move(st).error();
    return -1;
  }
  return static_cast<la_ssize_t>(n);
}

Error ArchiveError(archive* a, const std::string& context, const Sink* sink = nullptr) {
  if (sink != nullptr && sink->error) return sink->error->Wrap(context);
  const char* msg = archive_error_string(a);
  return Error(ErrorCode::kInternal, context + ": " + (msg ? msg : "unknown libarchive error"));
}

// Writes the tar stream (uncompressed: chunks are compressed one by one).
Status WriteArchive(const std::string& root, const std::vector<Entry>& entries,
                    uint64_t byte_limit, Sink* out, uint64_t* total_read) {
  std::unique_ptr<archive, ArchiveWriteFree> a(archive_write_new());
  if (!a) return Error(ErrorCode::kInternal, "archive_write_new failed");
  // hdrcharset=BINARY stores names as raw bytes: without it libarchive
  // converts names through the current locale, so the same tree would give
  // different bytes (and a different sha256) under LANG=C and a UTF-8 locale.
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_set_format_option(a.get(), "pax", "hdrcharset", "BINARY") != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open2(a.get(), out, nullptr, &AppendToBuilder, nullptr, nullptr) !=
          ARCHIVE_OK) {
    return ArchiveError(a.get(), "cannot start snapshot archive");
  }
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  std::string data;
  for (const Entry& entry : entries) {
    const std::string full = root + "/" + entry.path;
    archive_entry_clear(e.get());
    archive_entry_copy_pathname(e.get(), entry.path.c_str());
    archive_entry_set_mtime(e.get(), 0, 0);
    data.clear();
    switch (entry.type) {
      case EntryType::kDir:
        archive_entry_set_filetype(e.get(), AE_IFDIR);
        archive_entry_set_perm(e.get(), 0755);
        break;
      case EntryType::kSymlink: {
        std::string target(256, '\0');
        while (true) {
          const ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
          if (n < 0) return ErrnoError("cannot read symlink " + full, errno);
          if (static_cast<size_t>(n) < target.size()) {
            target.resize(static_cast<size_t>(n));
            break;
          }
          target.resize(target.size() * 2);  // possibly truncated: retry larger
        }
        archive_entry_set_filetype(e.get(), AE_IFLNK);
        archive_entry_set_perm(e.get(), 0777);
        archive_entry_copy_symlink(e.get(), target.c_str());
        break;
      }
      case EntryType::kFile: {
        mode_t mode = 0;
        const uint64_t left = byte_limit - std::min(byte_limit, *total_read);
        LATTICE_ASSIGN_OR_RETURN(data, ReadRegularFile(full, left, &mode));
        *total_read += data.size();
        if (*total_read > byte_limit) {
          return Error(ErrorCode::kResourceExhausted,
                       "code directory " + root + " grew past the " + HumanBytes(byte_limit) +
                           " snapshot limit while it was being read (" + entry.path + ")");
        }
        archive_entry_set_filetype(e.get(), AE_IFREG);
        // Git's model: only the owner's execute bit is content.
        archive_entry_set_perm(e.get(), (mode & S_IXUSR) ? 0755 : 0644);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
        break;
      }
    }
    if (archive_write_header(a.get(), e.get()) < ARCHIVE_WARN) {
      return ArchiveError(a.get(), "cannot add " + entry.path + " to snapshot", out);
    }
    size_t done = 0;
    while (done < data.size()) {
      const la_ssize_t n = archive_write_data(a.get(), data.data() + done, data.size() - done);
      if (n <= 0) return ArchiveError(a.get(), "cannot add " + entry.path + " to snapshot", out);
      done += static_cast<size_t>(n);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) {
    return ArchiveError(a.get(), "cannot finish snapshot archive", out);
  }
  return OkStatus();
}

}  // namespace

Result<Snapshot> CreateSnapshot(const std::filesystem::path& dir,
                                const SnapshotOptions& options) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  const std::string root = (ec ? dir : abs.lexically_normal()).string();
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return ErrnoError("code directory " + root, errno);
  if (!S_ISDIR(st.st_mode)) {
    return Error(ErrorCode::kInvalidArgument, "code directory " + root + " is not a directory");
  }
  // lexically_normal keeps a trailing '/' ("/a/b/"); drop it for clean joins.
  std::string trimmed = root;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();

  Walker walker(trimmed, options);
  LATTICE_RETURN_IF_ERROR(walker.Walk(""));
  if (walker.total_bytes() > options.max_total_bytes) {
    return TooLarge(trimmed, walker.total_bytes(), options.max_total_bytes, walker.entries());
  }

  SnapshotBuilder builder;
  Sink sink{&builder, std::nullopt};
  uint64_t total_read = 0;
  LATTICE_RETURN_IF_ERROR(
      WriteArchive(trimmed, walker.entries(), options.max_total_bytes, &sink, &total_read));
  return builder.Finish(total_read, walker.file_count());
}

}  // namespace lattice::snapshot
