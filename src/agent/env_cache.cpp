#include "agent/env_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <sstream>

#include "common/fs.h"
#include "common/text.h"
#include "snapshot/sha256.h"

namespace lattice::agent {
namespace {

constexpr const char* kReady = ".lattice-ready";
constexpr const char* kUsed = ".lattice-used";

bool ValidKey(const std::string& key) {
  return key.size() == 64 && key.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A flock on <root>/<key>.lock, released when destroyed (and by the kernel
// when the process dies, so a killed builder never blocks anyone).
class KeyLock final {
 public:
  static Result<KeyLock> Take(const std::filesystem::path& path, int mode, bool wait) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoError("opening lock " + path.string(), errno);
    KeyLock lock(fd);
    LATTICE_RETURN_IF_ERROR(lock.Change(mode, wait, path));
    return lock;
  }
  // Converts the lock (shared <-> exclusive) on the same open file.
  Status Change(int mode, bool wait, const std::filesystem::path& path) {
    int rc;
    while ((rc = ::flock(fd_, mode | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
    }
    if (rc == 0) return OkStatus();
    if (errno == EWOULDBLOCK) return Error(ErrorCode::kFailedPrecondition, path.string() + " is held");
    return ErrnoError("locking " + path.string(), errno);
  }
  KeyLock(KeyLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  KeyLock(const KeyLock&) = delete;
  ~KeyLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  explicit KeyLock(int fd) : fd_(fd) {}
  int fd_;
};

void Touch(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ::futimens(fd, nullptr);
  ::close(fd);
}

uint64_t TreeSize(const std::filesystem::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && S_ISREG(st.st_mode)) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

int64_t MtimeMs(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

}  // namespace

std::string CanonicalRequirements(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line, pending;
  while (std::getline(in, line)) {
    if (size_t hash = line.find('#'); hash != std::string::npos && (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t'))
      line.erase(hash);
    line = TrimBlanks(line);
    if (!line.empty() && line.back() == '\\') {  // a continuation
      pending += TrimBlanks(line.substr(0, line.size() - 1)) + " ";
      continue;
    }
    line = TrimBlanks(pending + line);
    pending.clear();
    if (!line.empty()) lines.push_back(line);
  }
  if (!TrimBlanks(pending).empty()) lines.push_back(TrimBlanks(pending));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string EnvKey(const EnvSpec& spec) {
  // Field names and lengths in the hashed text keep one field's content from
  // passing for another's.
  std::string text;
  auto field = [&](const char* name, const std::string& value) {
    text += std::string(name) + " " + std::to_string(value.size()) + "\n" + value + "\n";
  };
  field("python", spec.python_version);
  field("platform", spec.platform);
  field("requirements", CanonicalRequirements(spec.requirements));
  field("system-site-packages", spec.system_site_packages ? "yes" : "no");
  field("setup", spec.setup);
  return snapshot::Sha256Hex(text);
}

Status EnvCache::Init() { return fs::MakeDirs(root_, 0700); }

bool EnvCache::IsReady(const std::string& key) const {
  struct stat st {};
  return ValidKey(key) && ::stat((root_ / key / kReady).c_str(), &st) == 0;
}

EnvLease::~EnvLease() {
  if (fd_ >= 0) ::close(fd_);
}

Result<EnvLease> EnvCache::Acquire(const std::string& key, const EnvBuilder& build) {
  if (!ValidKey(key)) return Error(ErrorCode::kInvalidArgument, "environment key must be a lowercase hex SHA-256");
  const std::filesystem::path dir = root_ / key;
  const std::filesystem::path lock_path = root_ / (key + ".lock");
  // The common case: ready, and held shared so no prune removes it.
  {
    LATTICE_ASSIGN_OR_RETURN(KeyLock shared, KeyLock::Take(lock_path, LOCK_SH, /*wait=*/true));
    if (IsReady(key)) {
      Touch(dir / kUsed);
      return EnvLease(dir, false, shared.Release());
    }
  }
  LATTICE_ASSIGN_OR_RETURN(KeyLock lock, KeyLock::Take(lock_path, LOCK_EX, /*wait=*/true));
  bool built = false;
  if (!IsReady(key)) {
    // Whatever is there is a build that failed or died: start over.
    LATTICE_RETURN_IF_ERROR(fs::RemoveAll(dir));
    LATTICE_RETURN_IF_ERROR(fs::MakeDirs(dir));
    Status st = build(dir);
    if (!st.ok()) {
      (void)fs::RemoveAll(dir);
      return st.error();
    }
    LATTICE_RETURN_IF_ERROR(fs::WriteFileAtomic(dir / kReady, key + "\n", 0600));
    built = true;
  }
  Touch(dir / kUsed);
  // Others waiting for the build may now share it.
  LATTICE_RETURN_IF_ERROR(lock.Change(LOCK_SH, /*wait=*/true, lock_path));
  return EnvLease(dir, built, lock.Release());
}

std::vector<EnvEntry> EnvCache::List() const {
  std::vector<EnvEntry> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root_, ec)) {
    const std::string key = e.path().filename().string();
    if (!IsReady(key)) continue;
    EnvEntry entry;
    entry.key = key;
    entry.path = e.path();
    entry.size_bytes = TreeSize(e.path());
    entry.last_used_ms = MtimeMs(e.path() / kUsed);
    out.push_back(std::move(entry));
  }
  std::sort(out.begin(), out.end(), [](const EnvEntry& a, const EnvEntry& b) { return a.key < b.key; });
  return out;
}

Result<std::vector<EnvEntry>> EnvCache::Prune(int64_t unused_since_ms) {
  std::vector<EnvEntry> removed;
  std::error_code ec;
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(root_, ec))
    if (e.is_directory() && ValidKey(e.path().filename().string())) dirs.push_back(e.path());
  if (ec) return Error(ErrorCode::kIo, "listing " + root_.string() + ": " + ec.message());
  for (const auto& dir : dirs) {
    const std::string key = dir.filename().string();
    auto lock = KeyLock::Take(root_ / (key + ".lock"), LOCK_EX, /*wait=*/false);
    if (!lock.ok()) continue;  // being built or used right now
    EnvEntry entry{key, dir, TreeSize(dir), MtimeMs(dir / kUsed)};
    if (IsReady(key) && entry.last_used_ms >= unused_since_ms) continue;
    // The lock file stays: unlinking it would let a waiter on the old file
    // and a newcomer on a new one both hold "the" lock.
    LATTICE_RETURN_IF_ERROR(fs::RemoveAll(dir));
    removed.push_back(std::move(entry));
  }
  return removed;
}

}  // namespace lattice::agent
