#include "agent/file_watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/safe_path.h"

namespace lattice::agent {
namespace {

bool AllDigits(const char* name) {
  if (!*name) return false;
  for (const char* p = name; *p; ++p) {
    if (*p < '0' || *p > '9') return false;
  }
  return true;
}

bool ReadSmall(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  out->assign(buf, static_cast<size_t>(n));
  return true;
}

// Reads the "flags:" line of an fdinfo file (octal); false if absent.
bool FdinfoFlags(const std::string& text, unsigned long* flags) {
  const size_t at = text.find("flags:");
  if (at == std::string::npos) return false;
  size_t i = at + 6;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
  unsigned long value = 0;
  bool any = false;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '7'; ++i) {
    value = value * 8 + static_cast<unsigned long>(text[i] - '0');
    any = true;
  }
  *flags = value;
  return any;
}

// Printable form of a name for a warning: control bytes and backslashes as \xNN.
// Non-ASCII bytes are kept when the text is valid UTF-8, else escaped too.
std::string Escape(std::string_view text) {
  const bool utf8 = IsValidUtf8(text);
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f || c == '\\' || (c >= 0x80 && !utf8)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Whether a link at relative path `link` whose text is `target` points
// inside the root, judged on the text alone (it is never followed).
bool LeadsInside(const std::string& link, const std::string& target, const std::string& root) {
  std::vector<std::string> parts;
  std::string joined;
  if (!target.empty() && target[0] == '/') {
    const std::string prefix = root + "/";
    if (target.compare(0, prefix.size(), prefix) != 0) return false;
    joined = target.substr(prefix.size());
  } else {
    const size_t slash = link.rfind('/');
    joined = (slash == std::string::npos ? std::string() : link.substr(0, slash + 1)) + target;
  }
  size_t start = 0;
  while (start <= joined.size()) {
    size_t end = joined.find('/', start);
    if (end == std::string::npos) end = joined.size();
    const std::string part = joined.substr(start, end - start);
    if (part == "..") {
      if (parts.empty()) return false;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  return true;
}

// The reason in a ValidateRelativePath message: 'path "<quoted>": <reason>'
// (the quoted part has its quotes escaped).
std::string Reason(const std::string& message) {
  const size_t at = message.find("\": ");
  return at == std::string::npos ? message : message.substr(at + 3);
}

const char* KindOf(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "not a regular file";
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

std::set<std::pair<dev_t, ino_t>> FilesOpenForWriting(const std::vector<pid_t>& pids,
                                                      const std::filesystem::path& proc_root) {
  std::set<std::pair<dev_t, ino_t>> files;
  std::string text;
  for (pid_t pid : pids) {
    const std::string base = proc_root.string() + "/" + std::to_string(pid);
    DIR* dir = ::opendir((base + "/fd").c_str());
    if (!dir) continue;  // gone, or not ours to look at
    while (const dirent* entry = ::readdir(dir)) {
      if (!AllDigits(entry->d_name)) continue;
      unsigned long flags = 0;
      if (!ReadSmall(base + "/fdinfo/" + entry->d_name, &text) || !FdinfoFlags(text, &flags)) continue;
      const unsigned long access = flags & O_ACCMODE;
      if (access != O_WRONLY && access != O_RDWR) continue;
      struct stat st {};
      if (::stat((base + "/fd/" + entry->d_name).c_str(), &st) != 0) continue;
      files.emplace(st.st_dev, st.st_ino);
    }
    ::closedir(dir);
  }
  return files;
}

OpenForWrite OpenForWriteIn(std::set<std::pair<dev_t, ino_t>> files) {
  return [files = std::move(files)](dev_t dev, ino_t ino) { return files.count({dev, ino}) > 0; };
}

OpenForWrite NothingOpenForWrite() {
  return [](dev_t, ino_t) { return false; };
}

std::string TopLevelEntry(const std::string& relative_path) {
  return relative_path.substr(0, relative_path.find('/'));
}

struct DirectoryWatch::Walk {
  const OpenForWrite& busy;
  int64_t mono_ms;
  int64_t settle_ms;
  size_t files = 0;
  bool complete = true;  // false when a limit cut the walk short
  std::set<std::string> present;
  ScanResult result;
};

DirectoryWatch::DirectoryWatch(std::filesystem::path root, WatchOptions options)
    : root_(std::move(root)), options_(std::move(options)) {}

ScanResult DirectoryWatch::Scan(const OpenForWrite& busy, int64_t mono_ms) {
  return DoScan(busy, mono_ms, options_.settle_ms);
}

ScanResult DirectoryWatch::ScanFinal(const OpenForWrite& busy, int64_t mono_ms) {
  return DoScan(busy, mono_ms, 0);
}

std::string DirectoryWatch::Shown(const std::string& relative_path) const {
  const std::string escaped = Escape(relative_path);
  if (options_.label.empty()) return escaped;
  return relative_path.empty() ? options_.label : options_.label + "/" + escaped;
}

std::string DirectoryWatch::RootText() const {
  std::error_code ec;
  std::string text = std::filesystem::absolute(root_, ec).lexically_normal().string();
  if (ec) text = root_.lexically_normal().string();
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

void DirectoryWatch::Warn(Walk& walk, const std::string& message) {
  if (warned_.insert(message).second) walk.result.warnings.push_back(message);
}

ScanResult DirectoryWatch::DoScan(const OpenForWrite& busy, int64_t mono_ms, int64_t settle_ms) {
  Walk walk{busy, mono_ms, settle_ms, 0, true, {}, {}};
  const int rootfd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) {
    const int err = errno;
    if (err != ENOENT) {
      Warn(walk, (options_.label.empty() ? root_.string() : options_.label) +
                     ": cannot open the directory (" + std::string(std::strerror(err)) +
                     (err == ELOOP || err == ENOTDIR ? "; symbolic links are not followed" : "") + ")");
    }
    return std::move(walk.result);
  }
  WalkDirectory(walk, rootfd, "", 0);
  ::close(rootfd);
  if (walk.complete) {
    // Forget what is gone, so a path that comes back is new.
    std::erase_if(seen_, [&](const auto& kv) { return !walk.present.count(kv.first); });
    std::erase_if(returned_, [&](const auto& kv) { return !walk.present.count(kv.first); });
  }
  std::sort(walk.result.ready.begin(), walk.result.ready.end(),
            [](const ReadyFile& a, const ReadyFile& b) { return a.relative_path < b.relative_path; });
  return std::move(walk.result);
}

void DirectoryWatch::WalkDirectory(Walk& walk, int dirfd, const std::string& prefix, int depth) {
  const int listfd = ::dup(dirfd);
  if (listfd < 0) return;
  DIR* dir = ::fdopendir(listfd);
  if (!dir) {
    ::close(listfd);
    return;
  }
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());

  for (const std::string& name : names) {
    if (!walk.complete) return;
    const std::string rel = prefix + name;
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      const ssize_t n = ::readlinkat(dirfd, name.c_str(), target, sizeof target - 1);
      const std::string text = n >= 0 ? std::string(target, static_cast<size_t>(n)) : "?";
      Warn(walk, Shown(rel) + " -> " + Escape(text) + ": symbolic links are not uploaded (" +
                     (LeadsInside(rel, text, RootText())
                          ? "only regular files are uploaded"
                          : "it leads outside the directory") +
                     ")");
      continue;
    }
    const Status valid = ValidateRelativePath(rel);
    if (!valid.ok()) {
      Warn(walk, Shown(rel) + ": not uploaded, the name cannot be stored (" +
                     Reason(valid.error().message) + ")");
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (depth + 1 > options_.max_depth) {
        Warn(walk, Shown(rel) + ": not uploaded, deeper than " + std::to_string(options_.max_depth) +
                       " directories");
        continue;
      }
      const int sub = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        // ELOOP/ENOTDIR: replaced by a link or a file since fstatat; the
        // next scan reports what it is now. Others (EACCES): say so.
        if (errno != ELOOP && errno != ENOTDIR && errno != ENOENT) {
          Warn(walk, Shown(rel) + ": cannot open the directory (" + std::strerror(errno) + ")");
        }
        continue;
      }
      struct stat now {};
      if (::fstat(sub, &now) == 0 && now.st_dev == st.st_dev && now.st_ino == st.st_ino) {
        WalkDirectory(walk, sub, rel + "/", depth + 1);
      }
      ::close(sub);
      continue;
    }
    if (!S_ISREG(st.st_mode)) {
      Warn(walk, Shown(rel) + ": " + KindOf(st.st_mode) + " is not uploaded (only regular files are uploaded)");
      continue;
    }
    if (++walk.files > options_.max_files) {
      Warn(walk, Shown("") + ": more than " + std::to_string(options_.max_files) +
                     " files; the rest are not uploaded");
      walk.complete = false;
      return;
    }
    walk.present.insert(rel);
    const Version version{static_cast<uint64_t>(st.st_size), MtimeNs(st), st.st_dev, st.st_ino};
    auto [it, inserted] = seen_.try_emplace(rel, Seen{version, walk.mono_ms});
    bool stable = walk.settle_ms <= 0;
    if (!inserted) {
      if (it->second.version == version) {
        stable = stable || walk.mono_ms - it->second.first_seen_ms >= walk.settle_ms;
      } else {
        it->second = Seen{version, walk.mono_ms};
      }
    } else if (!stable) {
      continue;  // first sight: wait for a second scan
    }
    if (!stable) continue;
    auto done = returned_.find(rel);
    if (done != returned_.end() && done->second == version) continue;
    // Last: asking which files are open costs a walk over /proc.
    if (walk.busy && walk.busy(st.st_dev, st.st_ino)) continue;
    returned_[rel] = version;
    walk.result.ready.push_back(ReadyFile{rel, version.size, version.mtime_ns,
                                          static_cast<uint32_t>(st.st_mode & 07777), st.st_dev, st.st_ino});
  }
}

Result<int> DirectoryWatch::Open(const ReadyFile& file) const {
  const int rootfd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) return ErrnoError("opening " + root_.string(), errno);
  Result<int> fd = OpenBeneath(rootfd, file.relative_path, O_RDONLY | O_NONBLOCK, 0, false);
  ::close(rootfd);
  if (!fd.ok()) return fd;
  struct stat st {};
  if (::fstat(*fd, &st) != 0) {
    const int err = errno;
    ::close(*fd);
    return ErrnoError("reading " + Shown(file.relative_path), err);
  }
  if (!S_ISREG(st.st_mode) || st.st_dev != file.device || st.st_ino != file.inode ||
      static_cast<uint64_t>(st.st_size) != file.size || MtimeNs(st) != file.mtime_ns) {
    ::close(*fd);
    return Error(ErrorCode::kFailedPrecondition, Shown(file.relative_path) + ": changed since it was found ready");
  }
  // O_NONBLOCK was only for the open (a FIFO swapped in must not block it).
  ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

void DirectoryWatch::Forget(const std::string& relative_path) { returned_.erase(relative_path); }

}  // namespace lattice::agent
