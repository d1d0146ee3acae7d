// SHA-256 for content addressing: a snapshot is stored and fetched by the
// hex digest of its archive bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace lattice::snapshot {

// Lowercase hex SHA-256 of `data` (64 characters). Thread-safe.
std::string Sha256Hex(std::string_view data);

// SHA-256 over data that arrives in pieces (uploads, downloads, files too
// large to hold). One instance per stream; not thread-safe.
class Sha256Stream final {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  // Feeds the first `length` bytes of the file behind fd (read with pread,
  // so fd's offset stays). A read error is kIo; a file shorter than length
  // is kFailedPrecondition ("<name> shrank while it was read").
  Status UpdateFromFile(int fd, uint64_t length, const std::string& name);
  // Forgets what was fed so far.
  void Reset();
  // Lowercase hex digest; the stream starts over afterwards.
  std::string FinishHex();
  uint64_t bytes() const { return bytes_; }

 private:
  struct Ctx;
  Ctx* ctx_;
  uint64_t bytes_ = 0;
};

}  // namespace lattice::snapshot
