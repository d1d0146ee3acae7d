#include "common/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

namespace lattice::fs {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open " + path.string(), errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoError("cannot read " + path.string(), err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> ReadRange(const std::filesystem::path& path, uint64_t offset, size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open " + path.string(), errno);
  // Sized by what the file holds now, not by max_bytes: followers call this
  // often for a few new bytes of a file that may grow later.
  struct stat st {};
  const uint64_t size = ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : offset + max_bytes;
  const size_t want = size > offset ? static_cast<size_t>(std::min<uint64_t>(size - offset, max_bytes)) : 0;
  std::string out(want, '\0');
  size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd, out.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write failed", errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, int mode) {
  std::random_device rd;
  auto tmp = path;
  tmp += ".tmp" + std::to_string(rd());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoError("cannot create " + tmp.string(), errno);
  ::fchmod(fd, static_cast<mode_t>(mode));  // umask must not widen or narrow it
  Status st = WriteAll(fd, data);
  if (st.ok() && ::fsync(fd) != 0) st = ErrnoError("cannot sync " + tmp.string(), errno);
  ::close(fd);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0)
    st = ErrnoError("cannot rename " + tmp.string() + " to " + path.string(), errno);
  if (!st.ok()) ::unlink(tmp.c_str());
  return st;
}

Status MakeDirs(const std::filesystem::path& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create directory " + path.string() + ": " + ec.message());
  if (mode != 0755) ::chmod(path.c_str(), static_cast<mode_t>(mode));
  return OkStatus();
}

Status RemoveAll(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return Error(ErrorCode::kIo, "cannot remove " + path.string() + ": " + ec.message());
  return OkStatus();
}

Result<uint64_t> AppendToFd(int fd, std::string_view data) {
  LATTICE_RETURN_IF_ERROR(WriteAll(fd, data));
  off_t end = ::lseek(fd, 0, SEEK_CUR);
  if (end < 0) return ErrnoError("lseek failed", errno);
  return static_cast<uint64_t>(end);
}

std::string SelfExe() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("lattice") : p.string();
}

}  // namespace lattice::fs
