// ExtractSnapshot and InspectSnapshot.
//
// Chunks are fetched, verified and decompressed one at a time (ChunkReader)
// and fed to libarchive's tar reader through a read callback, so memory
// stays at one chunk whatever the snapshot's size. Tar parsing is
// libarchive's; writing to disk is ours, with
// *at() calls relative to one descriptor for dest and O_NOFOLLOW on every
// path component. libarchive's archive_write_disk was the obvious choice but
// resolves entry names against the process working directory, and in 3.6
// its ARCHIVE_EXTRACT_SECURE_SYMLINKS check chdir()s into each parent
// directory: neither is safe in the multi-threaded agent. Writing ourselves
// gives the same guarantees as SECURE_SYMLINKS | SECURE_NODOTDOT |
// SECURE_NOABSOLUTEPATHS (names are checked, nothing is written through a
// symlink) without touching process-wide state.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <map>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "snapshot/chunk_codec.h"
#include "snapshot/snapshot.h"

namespace lattice::snapshot {
namespace {

class Fd final {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

// libarchive's read callback: hands out the manifest's chunks in order,
// each checked and decompressed. A failure is kept in `error`, since
// libarchive only learns that the read failed; Corrupt() prefers it.
class ChunkReader final {
 public:
  ChunkReader(const Manifest& manifest, const ChunkSource& source)
      : manifest_(manifest), source_(source) {}

  static la_ssize_t Read(archive*, void* self, const void** buffer) {
    return static_cast<ChunkReader*>(self)->Next(buffer);
  }

  // Reads (and checks) the chunks libarchive did not need: every chunk of
  // an accepted snapshot is verified, trailing ones included.
  Status Drain() {
    const void* unused = nullptr;
    while (Next(&unused) > 0) {
    }
    if (error_) return *error_;
    return OkStatus();
  }

  const std::optional<Error>& error() const { return error_; }

 private:
  la_ssize_t Next(const void** buffer) {
    if (error_ || next_ >= manifest_.chunks.size()) return error_ ? -1 : 0;
    const ManifestChunk& chunk = manifest_.chunks[next_++];
    Result<std::string> stored = source_(chunk);
    if (!stored.ok()) {
      error_ = std::move(stored).error().Wrap("reading snapshot chunk " + chunk.sha256);
      return -1;
    }
    Result<std::string_view> raw = decoder_.Decode(*stored, chunk);
    if (!raw.ok()) {
      error_ = std::move(raw).error();
      return -1;
    }
    *buffer = raw->data();
    return static_cast<la_ssize_t>(raw->size());
  }

  const Manifest& manifest_;
  const ChunkSource& source_;
  ChunkDecoder decoder_;
  size_t next_ = 0;
  std::optional<Error> error_;
};

Error Corrupt(archive* a, const ChunkReader& reader, const std::string& context) {
  if (reader.error()) return *reader.error();
  const char* msg = archive_error_string(a);
  return Error(ErrorCode::kInvalidArgument, "corrupt snapshot archive: " + context +
                                                (msg ? std::string(": ") + msg : ""));
}

Error Refused(const std::string& name, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "snapshot entry '" + name + "' refused: " + why);
}

// Splits an entry name into components, refusing names that could resolve
// outside the destination. "." and empty components are dropped.
Result<std::vector<std::string>> SplitEntryPath(const std::string& name) {
  if (name.empty()) return Refused(name, "empty path");
  if (name.front() == '/') return Refused(name, "absolute path");
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (part == "..") return Refused(name, "path contains '..'");
    // Checked here rather than left to openat's ENAMETOOLONG so that
    // InspectSnapshot refuses it too.
    if (part.size() > NAME_MAX) return Refused(name, "a path component is too long");
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

// Creates entries under one directory descriptor without ever following a
// symlink. Caches the parent directory of the previous entry: archives are
// sorted, so siblings arrive together.
class DiskWriter final {
 public:
  explicit DiskWriter(Fd root) : root_(std::move(root)) {}

  Status Write(archive* a, const ChunkReader& reader, archive_entry* e, const std::string& name,
               const std::vector<std::string>& parts);

 private:
  Result<int> OpenParent(const std::string& name, const std::vector<std::string>& parts);
  Status WriteFile(archive* a, const ChunkReader& reader, int parent, const std::string& leaf,
                   const std::string& name, mode_t perm);

  Fd root_;
  std::string cached_key_;
  Fd cached_;
  std::vector<char> buf_ = std::vector<char>(1 << 16);
};

Result<int> DiskWriter::OpenParent(const std::string& name,
                                   const std::vector<std::string>& parts) {
  if (parts.size() == 1) return root_.get();
  std::string key;
  for (size_t i = 0; i + 1 < parts.size(); ++i) key += parts[i] + "/";
  if (cached_.get() >= 0 && key == cached_key_) return cached_.get();
  cached_ = Fd();
  Fd dir;
  int at = root_.get();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const char* c = parts[i].c_str();
    int fd = ::openat(at, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(at, c, 0755) != 0 && errno != EEXIST) {
        return ErrnoError("cannot create directory for " + name, errno);
      }
      fd = ::openat(at, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return Refused(name, "'" + parts[i] + "' is a symlink or not a directory");
      }
      return ErrnoError("cannot open directory for " + name, errno);
    }
    dir = Fd(fd);
    at = fd;
  }
  cached_ = std::move(dir);
  cached_key_ = std::move(key);
  return cached_.get();
}

Status DiskWriter::WriteFile(archive* a, const ChunkReader& reader, int parent,
                             const std::string& leaf, const std::string& name, mode_t perm) {
  Fd fd(::openat(parent, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600));
  if (fd.get() < 0) {
    if (errno == EEXIST) return Refused(name, "already exists (duplicate entry)");
    return ErrnoError("cannot create " + name, errno);
  }
  while (true) {
    const la_ssize_t n = archive_read_data(a, buf_.data(), buf_.size());
    if (n < 0) return Corrupt(a, reader, "reading " + name);
    if (n == 0) break;
    for (la_ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(fd.get(), buf_.data() + done, static_cast<size_t>(n - done));
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write " + name, errno);
      }
      done += w;
    }
  }
  // fchmod, not the open() mode, so the result does not depend on the umask.
  if (::fchmod(fd.get(), perm) != 0) return ErrnoError("cannot chmod " + name, errno);
  return OkStatus();
}

Status DiskWriter::Write(archive* a, const ChunkReader& reader, archive_entry* e,
                         const std::string& name, const std::vector<std::string>& parts) {
  LATTICE_ASSIGN_OR_RETURN(int parent, OpenParent(name, parts));
  const std::string& leaf = parts.back();
  // Set-id and sticky bits are dropped: nothing in a code tree needs them.
  const mode_t perm = archive_entry_perm(e) & 0777;
  switch (archive_entry_filetype(e)) {
    case AE_IFDIR: {
      if (::mkdirat(parent, leaf.c_str(), 0700) != 0 && errno != EEXIST) {
        return ErrnoError("cannot create directory " + name, errno);
      }
      Fd dir(::openat(parent, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (dir.get() < 0) return Refused(name, "exists and is not a directory");
      // The owner keeps rwx so that the directory's entries can be created.
      if (::fchmod(dir.get(), perm | 0700) != 0) return ErrnoError("cannot chmod " + name, errno);
      return OkStatus();
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr || *target == '\0') return Refused(name, "symlink without target");
      if (::symlinkat(target, parent, leaf.c_str()) != 0) {
        if (errno == EEXIST) return Refused(name, "already exists (duplicate entry)");
        return ErrnoError("cannot create symlink " + name, errno);
      }
      return OkStatus();
    }
    default:
      return WriteFile(a, reader, parent, leaf, name, perm);
  }
}

// Reads every entry, checks names, types and limits, and hands each entry to
// `writer` when there is one.
Result<SnapshotInfo> ReadEntries(const Manifest& manifest, const ChunkSource& source,
                                 const ExtractOptions& options, DiskWriter* writer) {
  // What the manifest declares is checked before anything is read; what the
  // stream holds is checked against it at the end.
  if (manifest.total_bytes > options.max_total_bytes) {
    return Error(ErrorCode::kResourceExhausted,
                 "snapshot expands to more than " + HumanBytes(options.max_total_bytes));
  }
  if (manifest.file_count > options.max_files) {
    return Error(ErrorCode::kResourceExhausted,
                 "snapshot has more than " + std::to_string(options.max_files) + " files");
  }
  // The stream is the files plus, per entry (files and as many directories),
  // a header, padding and at most a few KiB of pax records for long names.
  // A longer stream (padding, trailing chunks) would only cost decompression.
  const uint64_t max_stream =
      options.max_total_bytes + 2 * static_cast<uint64_t>(options.max_files) * (8 << 10) + (1 << 20);
  if (manifest.StreamBytes() > max_stream) {
    return Error(ErrorCode::kResourceExhausted,
                 "snapshot stream of " + HumanBytes(manifest.StreamBytes()) + " is longer than " +
                     HumanBytes(max_stream) + ", the most its limits allow");
  }
  ChunkReader reader(manifest, source);
  std::unique_ptr<archive, ArchiveReadFree> a(archive_read_new());
  if (!a) return Error(ErrorCode::kInternal, "archive_read_new failed");
  // Plain tar only: no decompression filter is enabled, so nothing but the
  // tar reader ever sees a hostile stream.
  archive_read_support_format_tar(a.get());
  if (archive_read_open(a.get(), &reader, nullptr, &ChunkReader::Read, nullptr) != ARCHIVE_OK) {
    return Corrupt(a.get(), reader, "cannot open");
  }
  SnapshotInfo info;
  // Every path the archive creates, explicitly or as a parent, and whether
  // it is a directory. Checked here as well as by the writer's
  // O_NOFOLLOW/O_EXCL, so that InspectSnapshot refuses exactly what
  // ExtractSnapshot would.
  std::map<std::string, bool> is_dir;
  size_t dir_count = 0;
  archive_entry* e = nullptr;
  while (true) {
    const int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return Corrupt(a.get(), reader, "reading entry header");
    const char* raw = archive_entry_pathname(e);
    const std::string name = raw ? raw : "";
    LATTICE_ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitEntryPath(name));
    if (parts.empty()) continue;  // "./": the destination itself
    if (archive_entry_hardlink(e) != nullptr) return Refused(name, "hard links are not supported");
    const mode_t type = archive_entry_filetype(e);
    if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      return Refused(name, "not a file, directory or symlink");
    }
    if (type == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr || *target == '\0') return Refused(name, "symlink without target");
    }
    std::string key;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      key += (i > 0 ? "/" : "") + parts[i];
      if (!is_dir.emplace(key, true).first->second) {
        return Refused(name, "'" + key + "' is a symlink or not a directory");
      }
    }
    key += (parts.size() > 1 ? "/" : "") + parts.back();
    const auto [it, inserted] = is_dir.emplace(key, type == AE_IFDIR);
    // A directory may be named twice (or after its children); anything
    // else would replace or write through an existing entry.
    if (!inserted && !(it->second && type == AE_IFDIR)) {
      return Refused(name, "duplicate entry");
    }
    // Directories get the same cap as files: they cost memory here (seen)
    // and compress to almost nothing, so they are a cheap way to blow up.
    size_t& count = type == AE_IFDIR ? dir_count : info.file_count;
    if (++count > options.max_files) {
      return Error(ErrorCode::kResourceExhausted,
                   "snapshot has more than " + std::to_string(options.max_files) +
                       (type == AE_IFDIR ? " directories" : " files"));
    }
    if (type == AE_IFREG) {
      const la_int64_t size = archive_entry_size(e);
      if (size < 0) return Corrupt(a.get(), reader, "negative size for " + name);
      info.total_bytes += static_cast<uint64_t>(size);
      if (info.total_bytes > options.max_total_bytes) {
        return Error(ErrorCode::kResourceExhausted,
                     "snapshot expands to more than " + HumanBytes(options.max_total_bytes));
      }
    }
    if (writer != nullptr) LATTICE_RETURN_IF_ERROR(writer->Write(a.get(), reader, e, name, parts));
  }
  LATTICE_RETURN_IF_ERROR(reader.Drain());
  if (info.file_count != manifest.file_count || info.total_bytes != manifest.total_bytes) {
    return Error(ErrorCode::kInvalidArgument,
                 "corrupt snapshot: the manifest says " + std::to_string(manifest.file_count) +
                     " files of " + std::to_string(manifest.total_bytes) + " bytes, the archive holds " +
                     std::to_string(info.file_count) + " files of " + std::to_string(info.total_bytes) +
                     " bytes");
  }
  return info;
}

}  // namespace

Status ExtractSnapshot(const Manifest& manifest, const ChunkSource& source,
                       const std::filesystem::path& dest, const ExtractOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dest, ec);
  if (ec) {
    return Error(ErrorCode::kIo, "cannot create " + dest.string() + ": " + ec.message());
  }
  Fd root(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return ErrnoError("cannot open " + dest.string(), errno);
  DiskWriter writer(std::move(root));
  LATTICE_ASSIGN_OR_RETURN(SnapshotInfo info, ReadEntries(manifest, source, options, &writer));
  (void)info;
  return OkStatus();
}

Result<SnapshotInfo> InspectSnapshot(const Manifest& manifest, const ChunkSource& source,
                                     const ExtractOptions& options) {
  return ReadEntries(manifest, source, options, nullptr);
}

}  // namespace lattice::snapshot
