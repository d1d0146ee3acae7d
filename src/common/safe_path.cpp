#include "common/safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <string>

namespace lattice {
namespace {

Error Invalid(std::string_view path, const std::string& what) {
  // Quoted with control bytes, quotes and backslashes as \xNN, and any byte
  // over 0x7f too when the path is not valid UTF-8 (the message must be).
  const bool utf8 = IsValidUtf8(path);
  std::string_view head = path.substr(0, 200);
  // Cut at a character boundary, never inside a multi-byte character.
  while (utf8 && !head.empty() && head.size() < path.size() &&
         (static_cast<unsigned char>(path[head.size()]) & 0xc0) == 0x80) {
    head.remove_suffix(1);
  }
  std::string shown;
  for (unsigned char c : head) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\' || (c >= 0x80 && !utf8)) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      shown += buf;
    } else {
      shown += static_cast<char>(c);
    }
  }
  if (path.size() > 200) shown += "...";
  return Error(ErrorCode::kInvalidArgument, "path \"" + shown + "\": " + what, "path");
}

// Closes a descriptor on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Error OpenError(std::string_view path, std::string_view component, int err) {
  std::string context = "opening \"" + std::string(path) + "\"";
  if (component.size() != path.size()) context += " (at \"" + std::string(component) + "\")";
  if (err == ELOOP) {
    return Error(ErrorCode::kFailedPrecondition,
                 context + ": is a symbolic link, which is never followed");
  }
  return ErrnoError(context, err);
}

// openat2 confined to dirfd; -1 with errno set, ENOSYS where unavailable.
int OpenAt2Beneath(int dirfd, const std::string& path, int flags, mode_t mode) {
#ifdef SYS_openat2
  struct open_how how {};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
#else
  (void)dirfd;
  (void)path;
  (void)flags;
  (void)mode;
  errno = ENOSYS;
  return -1;
#endif
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xd800 && cp <= 0xdfff) return false;                           // surrogate
    if (cp > 0x10ffff) return false;
    i += len;
  }
  return true;
}

Status ValidateRelativePath(std::string_view path) {
  if (path.empty()) return Invalid(path, "is empty");
  if (path.size() > kMaxRelativePathBytes) {
    return Invalid(path, "is " + std::to_string(path.size()) + " bytes long, over the limit of " +
                             std::to_string(kMaxRelativePathBytes));
  }
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == 0) return Invalid(path, "contains a NUL byte at offset " + std::to_string(i));
    if (c < 0x20 || c == 0x7f) {
      return Invalid(path, "contains a control character at offset " + std::to_string(i));
    }
    if (c == '\\') return Invalid(path, "contains a backslash at offset " + std::to_string(i));
  }
  if (!IsValidUtf8(path)) return Invalid(path, "is not valid UTF-8");
  if (path.front() == '/') return Invalid(path, "is absolute (starts with '/')");
  if (path.back() == '/') return Invalid(path, "ends with '/'");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view component = path.substr(start, end - start);
    if (component.empty()) return Invalid(path, "has an empty component ('//')");
    if (component == "..") return Invalid(path, "has a '..' component");
    if (component == ".") return Invalid(path, "has a '.' component");
    if (component.size() > kMaxPathComponentBytes) {
      return Invalid(path, "has a component of " + std::to_string(component.size()) +
                               " bytes, over the limit of " +
                               std::to_string(kMaxPathComponentBytes));
    }
    start = end + 1;
  }
  return OkStatus();
}

Result<int> OpenBeneath(int dirfd, std::string_view relative_path, int flags, mode_t mode,
                        bool create_parents) {
  LATTICE_RETURN_IF_ERROR(ValidateRelativePath(relative_path));
  flags |= O_NOFOLLOW | O_CLOEXEC;
  const std::string path(relative_path);

  // Fast path: one call with the kernel enforcing confinement.
  if (!create_parents) {
    const int fd = OpenAt2Beneath(dirfd, path, flags, mode);
    if (fd >= 0) return fd;
    // ENOSYS: an older kernel; EPERM: a seccomp filter that refuses it.
    // E2BIG/EINVAL: a struct or flag it does not know. Fall back to the walk.
    if (errno != ENOSYS && errno != EPERM && errno != E2BIG && errno != EINVAL) {
      const int err = errno;
      if (err == EXDEV || err == ELOOP) {
        return OpenError(relative_path, relative_path, ELOOP);
      }
      return OpenError(relative_path, relative_path, err);
    }
  }

  // The walk: each directory opened with O_NOFOLLOW | O_DIRECTORY relative to
  // the previous one; components are plain names (validated), so the walk
  // never climbs above dirfd.
  FdGuard current(-1);
  int at = dirfd;
  size_t start = 0;
  for (;;) {
    const size_t slash = path.find('/', start);
    if (slash == std::string::npos) break;
    const std::string name = path.substr(start, slash - start);
    const std::string_view so_far(path.data(), slash);
    int next = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create_parents) {
      if (::mkdirat(at, name.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError("creating directory \"" + std::string(so_far) + "\"", errno);
      }
      next = ::openat(at, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      int err = errno;
      if (err == ENOTDIR) {
        // O_NOFOLLOW|O_DIRECTORY on a symlink can give ENOTDIR; say which.
        struct stat st {};
        if (::fstatat(at, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
          err = ELOOP;
        }
      }
      return OpenError(relative_path, so_far, err);
    }
    current.reset(next);
    at = next;
    start = slash + 1;
  }
  const std::string last = path.substr(start);
  const int fd = ::openat(at, last.c_str(), flags, mode);
  if (fd < 0) return OpenError(relative_path, relative_path, errno);
  return fd;
}

}  // namespace lattice
