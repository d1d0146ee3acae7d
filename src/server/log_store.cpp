#include "server/log_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace lattice {

// Keeps at most this many descriptors open; appends to others reopen.
constexpr size_t kMaxOpen = 256;

LogStore::~LogStore() {
  for (auto& [id, log] : open_) ::close(log.fd);
}

Status LogStore::Init() { return fs::MakeDirs(dir_); }

std::filesystem::path LogStore::PathOf(int64_t attempt) const {
  return dir_ / (std::to_string(attempt) + ".log");
}

Result<int> LogStore::Fd(int64_t attempt) {
  auto it = open_.find(attempt);
  if (it != open_.end()) return it->second.fd;
  if (open_.size() >= kMaxOpen) {
    ::close(open_.begin()->second.fd);
    open_.erase(open_.begin());
  }
  auto path = PathOf(attempt);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot open log " + path.string(), errno);
  struct stat st {};
  ::fstat(fd, &st);
  open_[attempt] = OpenLog{fd, static_cast<uint64_t>(st.st_size)};
  return fd;
}

Result<uint64_t> LogStore::Append(int64_t attempt, uint64_t offset, std::string_view data) {
  LATTICE_ASSIGN_OR_RETURN(int fd, Fd(attempt));
  OpenLog& log = open_[attempt];
  if (offset > log.length) {
    return Error(ErrorCode::kFailedPrecondition,
                 "log offset " + std::to_string(offset) + " is past the end; the server has " +
                     std::to_string(log.length) + " bytes");
  }
  uint64_t overlap = log.length - offset;
  if (overlap >= data.size()) return log.length;  // a replay of bytes already stored
  data.remove_prefix(overlap);
  Status st = fs::WriteAll(fd, data);
  if (!st.ok()) {
    // A partial write leaves the file longer than we think: re-read its size.
    struct stat s {};
    if (::fstat(fd, &s) == 0) log.length = static_cast<uint64_t>(s.st_size);
    return st.error().Wrap("appending to log of attempt " + std::to_string(attempt));
  }
  log.length += data.size();
  return log.length;
}

uint64_t LogStore::Length(int64_t attempt) {
  auto it = open_.find(attempt);
  if (it != open_.end()) return it->second.length;
  struct stat st {};
  if (::stat(PathOf(attempt).c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_size);
}

Result<std::string> LogStore::Read(int64_t attempt, uint64_t offset, size_t max_bytes) {
  uint64_t length = Length(attempt);
  if (offset >= length) return std::string();
  size_t n = static_cast<size_t>(std::min<uint64_t>(length - offset, max_bytes));
  return fs::ReadRange(PathOf(attempt), offset, n);
}

void LogStore::Close(int64_t attempt) {
  auto it = open_.find(attempt);
  if (it == open_.end()) return;
  ::close(it->second.fd);
  open_.erase(it);
}

}  // namespace lattice
