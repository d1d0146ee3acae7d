#include "server/blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <random>
#include <set>
#include <thread>

#include "common/fs.h"

namespace lattice {
namespace {

Error NameError() { return Error(ErrorCode::kInvalidArgument, "blob name must be a lowercase hex SHA-256", "sha256"); }

Error WriteError(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT)
    return Error(ErrorCode::kResourceExhausted, what + ": the server's disk is full; nothing acknowledged was lost, retry later");
  return ErrnoError(what, err);
}

}  // namespace

BlobStore::BlobStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
BlobStore::~BlobStore() = default;

Status BlobStore::Init() {
  LATTICE_RETURN_IF_ERROR(fs::MakeDirs(dir_ / "sha256"));
  return fs::MakeDirs(dir_ / "partial");
}

bool BlobStore::ValidName(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::filesystem::path BlobStore::PathOf(const std::string& sha256) const { return dir_ / "sha256" / sha256; }
std::filesystem::path BlobStore::PartialOf(const std::string& sha256) const { return dir_ / "partial" / sha256; }

bool BlobStore::Has(const std::string& sha256) const {
  std::error_code ec;
  return ValidName(sha256) && std::filesystem::exists(PathOf(sha256), ec);
}

Status BlobStore::Put(const std::string& sha256, std::string_view data) {
  if (!ValidName(sha256)) return NameError();
  std::string actual = snapshot::Sha256Hex(data);
  if (actual != sha256)
    return Error(ErrorCode::kInvalidArgument,
                 "blob content hashes to " + actual + ", not to its name " + sha256, "body");
  if (Has(sha256)) return OkStatus();
  Status st = fs::WriteFileAtomic(PathOf(sha256), data, 0600);
  if (!st.ok() && st.error().message.find("No space left") != std::string::npos)
    return WriteError("storing blob " + sha256, ENOSPC);
  return st;
}

Result<size_t> BlobStore::PutMany(const std::vector<std::pair<std::string, std::string_view>>& blobs) {
  for (const auto& [sha, data] : blobs) {
    if (!ValidName(sha)) return NameError();
    if (std::string actual = snapshot::Sha256Hex(data); actual != sha)
      return Error(ErrorCode::kInvalidArgument, "blob content hashes to " + actual + ", not to its name " + sha,
                   "body");
  }
  struct Pending {
    const std::string* sha;
    std::string tmp;
    int fd = -1;
  };
  std::vector<Pending> pending;
  std::set<std::string_view> seen;
  std::random_device rd;
  const uint64_t tag = (uint64_t{rd()} << 32) | rd();
  auto cleanup = [&](size_t from) {
    for (size_t i = from; i < pending.size(); ++i) {
      if (pending[i].fd >= 0) ::close(pending[i].fd);
      ::unlink(pending[i].tmp.c_str());
    }
  };
  for (const auto& [sha, data] : blobs) {
    if (!seen.insert(sha).second || Has(sha)) continue;
    Pending p{&sha, PathOf(sha).string() + ".tmp" + std::to_string(tag)};
    p.fd = ::open(p.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (p.fd < 0) {
      const int err = errno;
      cleanup(0);
      return WriteError("storing blob " + sha, err);
    }
    pending.push_back(std::move(p));
    Status st = fs::WriteAll(pending.back().fd, data);
    if (!st.ok()) {
      cleanup(0);
      if (st.error().message.find("No space left") != std::string::npos) return WriteError("storing blob " + sha, ENOSPC);
      return st.error();
    }
  }
  // Concurrent fsyncs share journal commits; one by one each waits for its own.
  std::atomic<size_t> next{0};
  std::atomic<int> failed{0};
  auto sync = [&] {
    for (size_t i = next++; i < pending.size(); i = next++) {
      if (::fsync(pending[i].fd) != 0) failed = errno;
    }
  };
  std::vector<std::thread> helpers;
  for (size_t i = 1; i < std::min<size_t>(8, pending.size()); ++i) helpers.emplace_back(sync);
  sync();
  for (auto& t : helpers) t.join();
  if (failed != 0) {
    cleanup(0);
    return WriteError("syncing blobs", failed);
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    ::close(pending[i].fd);
    pending[i].fd = -1;
    if (::rename(pending[i].tmp.c_str(), PathOf(*pending[i].sha).c_str()) != 0) {
      const int err = errno;
      cleanup(i);
      return ErrnoError("publishing blob " + *pending[i].sha, err);
    }
  }
  return pending.size();
}

Result<std::string> BlobStore::Get(const std::string& sha256) const {
  if (!ValidName(sha256)) return NameError();
  if (!Has(sha256)) return Error(ErrorCode::kNotFound, "no blob " + sha256);
  return fs::ReadFile(PathOf(sha256));
}

Result<uint64_t> BlobStore::Size(const std::string& sha256) const {
  if (!ValidName(sha256)) return NameError();
  struct stat st {};
  if (::stat(PathOf(sha256).c_str(), &st) != 0) return Error(ErrorCode::kNotFound, "no blob " + sha256);
  return static_cast<uint64_t>(st.st_size);
}

uint64_t BlobStore::Received(const std::string& sha256) const {
  if (!ValidName(sha256)) return 0;
  struct stat st {};
  if (::stat(PathOf(sha256).c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  if (::stat(PartialOf(sha256).c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
  return 0;
}

Result<snapshot::Sha256Stream*> BlobStore::HashOf(const std::string& sha256, uint64_t size) {
  auto& h = hashing_[sha256];
  if (h && h->bytes() == size) return h.get();
  // A restart (or a rolled-back chunk): hash what is on disk once.
  h = std::make_unique<snapshot::Sha256Stream>();
  int fd = ::open(PartialOf(sha256).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT && size == 0) return h.get();
    return ErrnoError("reading partial upload " + sha256, errno);
  }
  Status st = h->UpdateFromFile(fd, size, "partial upload " + sha256);
  ::close(fd);
  if (!st.ok()) return Error(ErrorCode::kIo, st.error().message);
  return h.get();
}

Result<UploadProgress> BlobStore::AppendChunk(const std::string& sha256, uint64_t offset, uint64_t total,
                                              std::string_view data) {
  if (!ValidName(sha256)) return NameError();
  if (Has(sha256)) return UploadProgress{total, true};  // someone uploaded it already: deduplicated
  const uint64_t have = Received(sha256);
  if (offset != have)
    return Error(ErrorCode::kFailedPrecondition, "upload of " + sha256 + " has " + std::to_string(have) +
                                                     " bytes; send the chunk at offset " + std::to_string(have),
                 "offset");
  if (offset + data.size() > total)
    return Error(ErrorCode::kInvalidArgument, "chunk ends at byte " + std::to_string(offset + data.size()) +
                                                  ", past the declared total of " + std::to_string(total),
                 "total");
  LATTICE_ASSIGN_OR_RETURN(snapshot::Sha256Stream * hash, HashOf(sha256, have));
  const std::string partial = PartialOf(sha256).string();
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return WriteError("opening partial upload " + sha256, errno);
  size_t done = 0;
  int err = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fdatasync(fd) != 0) err = errno;
  if (err != 0) {
    // Back to what was acknowledged, so the retry starts clean.
    (void)!::ftruncate(fd, static_cast<off_t>(offset));
    ::close(fd);
    return WriteError("storing a chunk of " + sha256, err);
  }
  ::close(fd);
  hash->Update(data);
  UploadProgress progress{offset + data.size(), false};
  if (progress.received < total) return progress;
  std::string actual = hash->FinishHex();
  hashing_.erase(sha256);
  if (actual != sha256) {
    ::unlink(partial.c_str());
    return Error(ErrorCode::kInvalidArgument,
                 "uploaded content hashes to " + actual + ", not to its name " + sha256 + "; upload discarded", "body");
  }
  if (::rename(partial.c_str(), PathOf(sha256).c_str()) != 0) return ErrnoError("publishing blob " + sha256, errno);
  progress.complete = true;
  return progress;
}

}  // namespace lattice
