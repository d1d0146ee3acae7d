// Append-only log files, one per attempt, under <dir>/<attempt id>.log.
// Offsets are byte offsets into the attempt's combined stdout+stderr. An
// append at an offset the file already covers is idempotent (agents replay
// their spool after reconnecting), and a gap is refused, so a log is never
// duplicated or holed. Loop thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "common/result.h"

namespace lattice {

class LogStore final {
 public:
  explicit LogStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  ~LogStore();
  LogStore(const LogStore&) = delete;
  LogStore& operator=(const LogStore&) = delete;

  Status Init();
  // Returns the length after the append. Error kFailedPrecondition when
  // offset is past the end (a gap); the message carries the current length.
  Result<uint64_t> Append(int64_t attempt, uint64_t offset, std::string_view data);
  uint64_t Length(int64_t attempt);
  Result<std::string> Read(int64_t attempt, uint64_t offset, size_t max_bytes);
  // Closes the cached descriptor once an attempt is complete.
  void Close(int64_t attempt);

 private:
  Result<int> Fd(int64_t attempt);
  std::filesystem::path PathOf(int64_t attempt) const;

  const std::filesystem::path dir_;
  struct OpenLog {
    int fd;
    uint64_t length;
  };
  std::map<int64_t, OpenLog> open_;
};

}  // namespace lattice
