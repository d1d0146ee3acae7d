#include "agent/snapshot_fetch.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "common/fs.h"
#include "common/log.h"
#include "snapshot/sha256.h"

namespace lattice::agent {
namespace {

constexpr const char* kLog = "agent";
// A manifest of the most chunks a manifest may list is about 8 MB.
constexpr uint64_t kMaxManifestBytes = 16 << 20;

bool IsBlobName(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Fetches and caches content-addressed blobs.
class BlobCache final {
 public:
  BlobCache(net::HttpClient& client, std::string api_prefix, std::filesystem::path dir)
      : client_(client), api_prefix_(std::move(api_prefix)), dir_(std::move(dir)) {}

  // The blob from the cache if it is there and whole, else from the server
  // (then cached). `fetched` says which.
  Result<std::string> Get(const std::string& sha, uint64_t max_bytes, bool* fetched) {
    *fetched = false;
    if (auto cached = fs::ReadFile(dir_ / sha); cached.ok() && cached->size() <= max_bytes) {
      if (snapshot::Sha256Hex(*cached) == sha) return std::move(cached).value();
      LOG_WARN(kLog, "cached blob " << sha << " is corrupt; fetching it again");
    }
    LATTICE_ASSIGN_OR_RETURN(std::string data, Download(sha, max_bytes));
    *fetched = true;
    LATTICE_RETURN_IF_ERROR(Store(sha, data));
    return data;
  }

  // Whether a file of this size is cached under the name (not checked).
  bool Cached(const std::string& sha, uint64_t size) const {
    std::error_code ec;
    return std::filesystem::file_size(dir_ / sha, ec) == size && !ec;
  }

 private:
  Result<std::string> Download(const std::string& sha, uint64_t max_bytes) {
    std::string data;
    snapshot::Sha256Stream hash;
    auto result = client_.Download(
        api_prefix_ + "/blobs/" + sha, 0,
        [&](std::string_view piece) -> Status {
          if (data.size() + piece.size() > max_bytes)
            return Error(ErrorCode::kUnavailable, "the server sent more than the " + std::to_string(max_bytes) +
                                                      " bytes expected of blob " + sha);
          data.append(piece);
          hash.Update(piece);
          return OkStatus();
        },
        std::chrono::milliseconds(60000));
    if (!result.ok()) return result.error().Wrap("downloading blob " + sha);
    if (result->status != 200)
      return Error(ErrorCode::kUnavailable, "cannot download blob " + sha + ": HTTP " +
                                                std::to_string(result->status) + " " + result->error_body);
    if (std::string got = hash.FinishHex(); got != sha)
      return Error(ErrorCode::kUnavailable, "downloaded blob " + sha + " hashes to " + got);
    return data;
  }

  // Atomic (temporary file, then rename) but not synced: see the header.
  Status Store(const std::string& sha, std::string_view data) {
    std::random_device rd;
    const std::filesystem::path tmp = dir_ / (sha + ".tmp" + std::to_string(rd()));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoError("cannot create " + tmp.string(), errno);
    Status st = fs::WriteAll(fd, data);
    ::close(fd);
    if (st.ok() && ::rename(tmp.c_str(), (dir_ / sha).c_str()) != 0)
      st = ErrnoError("cannot rename " + tmp.string(), errno);
    if (!st.ok()) ::unlink(tmp.c_str());
    return st;
  }

  net::HttpClient& client_;
  const std::string api_prefix_;
  const std::filesystem::path dir_;
};

}  // namespace

Result<FetchStats> FetchSnapshot(net::HttpClient& client, const std::string& api_prefix,
                                 const std::filesystem::path& cache_dir, const std::string& snapshot_sha,
                                 const std::filesystem::path& dest, const snapshot::ExtractOptions& options) {
  if (!IsBlobName(snapshot_sha))
    return Error(ErrorCode::kInvalidArgument, "snapshot id '" + snapshot_sha + "' is not a lowercase hex SHA-256");
  LATTICE_RETURN_IF_ERROR(fs::MakeDirs(cache_dir));
  BlobCache cache(client, api_prefix, cache_dir);
  FetchStats stats;
  bool fetched = false;
  LATTICE_ASSIGN_OR_RETURN(std::string text, cache.Get(snapshot_sha, kMaxManifestBytes, &fetched));
  if (fetched) stats.fetched_bytes += text.size();
  auto manifest = snapshot::ParseManifest(text);
  if (!manifest.ok()) return manifest.error().Wrap("code snapshot " + snapshot_sha);

  // Everything missing first, then extraction: a server that goes away
  // mid-way fails the fetch before anything is written to dest.
  stats.chunks = manifest->DistinctChunks().size();
  for (const snapshot::ManifestChunk& c : manifest->chunks) {
    if (cache.Cached(c.sha256, c.compressed_size)) continue;
    LATTICE_ASSIGN_OR_RETURN(std::string data, cache.Get(c.sha256, c.compressed_size, &fetched));
    ++stats.fetched_chunks;
    stats.fetched_bytes += data.size();
  }
  // Cached chunks are checked as they are read, and fetched again if bad.
  LATTICE_RETURN_IF_ERROR(snapshot::ExtractSnapshot(
      *manifest,
      [&](const snapshot::ManifestChunk& c) -> Result<std::string> {
        LATTICE_ASSIGN_OR_RETURN(std::string data, cache.Get(c.sha256, c.compressed_size, &fetched));
        if (fetched) {
          ++stats.fetched_chunks;
          stats.fetched_bytes += data.size();
        }
        return data;
      },
      dest, options));
  LOG_INFO(kLog, "code snapshot " << snapshot_sha.substr(0, 12) << ": " << stats.chunks << " chunks, fetched "
                                  << stats.fetched_chunks << " (" << stats.fetched_bytes << " bytes)");
  return stats;
}

}  // namespace lattice::agent
