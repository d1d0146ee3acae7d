// Content-addressed blobs (code snapshots now; artifacts later) stored once
// under <dir>/sha256/<hex>. Writes are verified against their name and
// land atomically. Loop thread only.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace lattice {

class BlobStore final {
 public:
  explicit BlobStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Status Init();
  bool Has(const std::string& sha256) const;
  // kInvalidArgument when data does not hash to sha256.
  Status Put(const std::string& sha256, std::string_view data);
  Result<std::string> Get(const std::string& sha256) const;
  static bool ValidName(const std::string& sha256);

 private:
  std::filesystem::path PathOf(const std::string& sha256) const;
  const std::filesystem::path dir_;
};

}  // namespace lattice
