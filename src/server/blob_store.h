// Content-addressed blobs (code snapshots, artifacts, checkpoints) stored
// once under <dir>/sha256/<hex>, whoever uploads them. Small blobs arrive in
// one request (Put); large ones in chunks (AppendChunk) that land in
// <dir>/partial/<hex>, survive a broken connection or a server restart, and
// become the blob only once all bytes are there and hash to the name.
// Every acknowledged chunk is on disk (fdatasync) before the answer.
// Loop thread only.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "snapshot/sha256.h"

namespace lattice {

struct UploadProgress {
  uint64_t received = 0;  // bytes stored so far
  bool complete = false;  // the blob exists now
};

class BlobStore final {
 public:
  explicit BlobStore(std::filesystem::path dir);
  ~BlobStore();
  Status Init();
  bool Has(const std::string& sha256) const;
  // kInvalidArgument when data does not hash to sha256.
  Status Put(const std::string& sha256, std::string_view data);
  // Stores many (small) blobs at once, each durable before the call returns
  // as with Put, but synced together: every blob is checked first (one that
  // does not hash to its name refuses the whole call, nothing written), then
  // written to a temporary file, then all are fsynced from a few helper
  // threads at once (the filesystem commits them as a group, ~8x faster than
  // one by one), then renamed into place. Blobs already stored are skipped.
  // Returns how many were new.
  Result<size_t> PutMany(const std::vector<std::pair<std::string, std::string_view>>& blobs);
  Result<std::string> Get(const std::string& sha256) const;
  // Size of a stored blob (kNotFound when absent) and its file, for
  // responses that stream it.
  Result<uint64_t> Size(const std::string& sha256) const;
  std::filesystem::path PathOf(const std::string& sha256) const;

  // Bytes of an unfinished upload (0 when none; `total` when the blob exists).
  uint64_t Received(const std::string& sha256) const;
  // Stores data at offset of a blob of `total` bytes. offset must equal
  // Received() (kFailedPrecondition otherwise: resume from Received()).
  // The last chunk verifies the hash (kInvalidArgument, upload discarded)
  // and publishes the blob. A full disk is kResourceExhausted and keeps
  // what was acknowledged before.
  Result<UploadProgress> AppendChunk(const std::string& sha256, uint64_t offset, uint64_t total,
                                     std::string_view data);

  static bool ValidName(const std::string& sha256);

 private:
  std::filesystem::path PartialOf(const std::string& sha256) const;
  // The running hash of a partial upload, rebuilt from its file after a restart.
  Result<snapshot::Sha256Stream*> HashOf(const std::string& sha256, uint64_t size);

  const std::filesystem::path dir_;
  std::map<std::string, std::unique_ptr<snapshot::Sha256Stream>> hashing_;
};

}  // namespace lattice
